//! Running a node command with a deadline: CRI-O puts no timeout on direct runtime calls, so ours
//! must be bounded.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::BackendError;
use crate::opstats::{self, Reason};
use crate::sys::supervise::supervise;

/// More than any `pct` answer (a config with many raw keys is a few KiB); the end is kept.
const OUTPUT_CAP: usize = 1 << 20;

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` with stdin from /dev/null, capture its output, kill it after `timeout`; counted
/// as backend `pct`'s `call` (a verb or a tool's name, never an argument; src/opstats).
pub fn run(cmd: Command, timeout: Duration, call: &str) -> Result<Output, BackendError> {
    let t0 = std::time::Instant::now();
    let out = run_uncounted(cmd, timeout);
    let failure = match &out {
        Ok(o) if o.status == 0 => None,
        Ok(_) => Some(Reason::ProxmoxRefused),
        Err(BackendError::Timeout { .. }) => Some(Reason::Timeout),
        Err(_) => Some(Reason::Other),
    };
    opstats::backend_call("pct", call, t0.elapsed(), failure);
    out
}

fn run_uncounted(mut cmd: Command, timeout: Duration) -> Result<Output, BackendError> {
    let name = describe(&cmd);
    // Its own process group, so that a timeout ends pct's task workers too, not only pct.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // Nothing but stdio reaches pct: the shim holds the container's preserved fds.
    // SAFETY: close_range is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 4u32);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|source| BackendError::Io {
        what: name.clone(),
        source,
    })?;
    // Polled, not read to EOF: a task worker pct leaves behind may hold the pipes.
    let out =
        supervise(child, b"", Some(timeout), OUTPUT_CAP).map_err(|source| BackendError::Io {
            what: name.clone(),
            source,
        })?;
    let Some(status) = out.status else {
        return Err(BackendError::Timeout {
            cmd: name,
            secs: timeout.as_secs(),
        });
    };
    let code = status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    });
    Ok(Output {
        status: code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args().take(2) {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Proxmox errors are Perl `die` lines; keep the meaningful ones on one line.
pub fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "failed without a message".into();
    }
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn captures_both_streams_and_status() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = run(c, Duration::from_secs(10), "sh").unwrap();
        assert_eq!(
            (o.status, o.stdout.as_str(), o.stderr.as_str()),
            (3, "out\n", "err\n")
        );
    }

    #[test]
    fn a_hanging_command_is_killed_at_the_deadline() {
        // A child that keeps the pipes open must die too (pct's task workers do that).
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30 & sleep 30"]);
        let t = Instant::now();
        assert!(matches!(
            run(c, Duration::from_millis(200), "sh"),
            Err(BackendError::Timeout { .. })
        ));
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_background_child_holding_the_pipes_does_not_hold_us() {
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30 & echo $!; echo done"]);
        let o = run(c, Duration::from_secs(20), "sh").expect("answer once sh exits");
        let mut lines = o.stdout.lines();
        let bg: i32 = lines.next().unwrap().parse().unwrap();
        assert_eq!((o.status, lines.next()), (0, Some("done")));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(bg),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    #[test]
    fn one_line_joins_and_trims() {
        assert_eq!(one_line("a\n\n  b \n"), "a; b");
        assert_eq!(one_line(""), "failed without a message");
    }
}
