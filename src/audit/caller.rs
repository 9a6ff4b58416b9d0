//! Who called the runtime: our real uid and the parent process (conmon, podman, crio, a shell).

use serde::Serialize;

/// Longest command line kept, in bytes.
const CMDLINE_MAX: usize = 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Caller {
    pub uid: u32,
    pub pid: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comm: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cmdline: String,
}

impl Caller {
    /// Our parent: who ran the runtime.
    pub fn of_this_process() -> Caller {
        Caller::of(nix::unistd::getppid().as_raw())
    }

    /// Process `pid` (the shim names itself for its own decisions).
    pub fn of(pid: i32) -> Caller {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        Caller {
            uid: nix::unistd::getuid().as_raw(),
            pid,
            comm: comm.trim_end().to_string(),
            cmdline: cmdline(&raw),
        }
    }
}

/// NUL-separated argv as one line, cut at a character boundary.
fn cmdline(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut s = s.trim_end_matches('\0').replace('\0', " ");
    if s.len() > CMDLINE_MAX {
        let mut cut = CMDLINE_MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn argv_becomes_one_line() {
        assert_eq!(super::cmdline(b"conmon\0-c\0abc\0"), "conmon -c abc");
        assert_eq!(super::cmdline(&[b'x'; 5000]).len(), super::CMDLINE_MAX);
    }
}
