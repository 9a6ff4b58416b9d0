//! How a `pct` run ends badly: the text Proxmox prints on stderr and the exit status.

use std::io::Write;

#[derive(Debug)]
pub enum Failure {
    /// A `400` exception without parameter errors (`unable to parse option`, `not enough
    /// arguments`, ...): `400 <msg>` and the command's short usage.
    Usage { msg: String, usage: String },
    /// `raise_param_exc`: `400 Parameter verification failed.`, one `param: message` line each
    /// (in the message's own form, so a trailing newline yields Proxmox's blank line), usage.
    Param {
        errors: Vec<(String, String)>,
        usage: String,
    },
    /// A plain Perl `die` before any task exists. Perl exits with `$!` when it is set, so the
    /// status is not always 255; callers must only rely on it being non-zero.
    Die { msg: String, code: u8 },
    /// A task (`fork_worker`) error: printed on one line (newlines become spaces), exit 255.
    Task(String),
}

pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    pub fn die(msg: impl Into<String>) -> Self {
        Failure::Die {
            msg: msg.into(),
            code: 255,
        }
    }

    pub fn task(msg: impl Into<String>) -> Self {
        Failure::Task(msg.into())
    }

    /// Prints the failure on stderr and returns the exit status.
    pub fn report(&self) -> u8 {
        let text = match self {
            Failure::Usage { msg, usage } => format!("400 {msg}\n{usage}\n"),
            Failure::Param { errors, usage } => {
                let mut s = String::from("400 Parameter verification failed.\n");
                for (k, v) in errors {
                    s.push_str(&format!("{k}: {v}\n"));
                }
                s.push_str(usage);
                s.push('\n');
                s
            }
            Failure::Die { msg, .. } => {
                let mut s = msg.clone();
                if !s.ends_with('\n') {
                    s.push('\n');
                }
                s
            }
            Failure::Task(msg) => format!("{}\n", msg.trim_end_matches('\n').replace('\n', " ")),
        };
        let _ = std::io::stderr().write_all(text.as_bytes());
        match self {
            Failure::Die { code, .. } => *code,
            _ => 255,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::die(e.to_string())
    }
}
