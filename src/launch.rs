//! The container's process as pid 1 of its CT: the shim hands the in-CT init (src/init/serve.rs)
//! the process spec and the container's stdio over the init's socket, which it reaches through
//! `/proc/<init>/root`, and the init becomes the process by exec. See docs/architecture.md.

use std::io::{BufRead, BufReader, IoSlice, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::Process;

use crate::mapping::init_args::{exec_options, Extras, Filter};
use crate::process::Target;

/// The init's socket inside the CT (on LXC's per-CT `/dev` tmpfs).
pub const SOCKET: &str = "/dev/.proxmox-lxcri.sock";

/// Namespaces config.json may name by path that the init joins before it becomes the process.
const JOINED: [&str; 3] = ["ipc", "uts", "net"];

/// Whether the CT's init can become the container's process: it can join a namespace named by
/// path only if its own user namespace (none: a privileged CT) owns that namespace, and a pid
/// namespace named by path can only be joined by a new process.
pub fn can_be_pid1(target: &Target) -> bool {
    if target.ns_paths.contains_key("pid") {
        return false;
    }
    let ct_user = crate::nsenter::ns_path(target.init_pid, "user");
    let own = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let (Some(ct), Some(host)) = (
        own(&ct_user),
        own(std::path::Path::new("/proc/self/ns/user")),
    ) else {
        return false;
    };
    JOINED
        .iter()
        .filter_map(|n| target.ns_paths.get(*n))
        .all(|path| ct == host || crate::nsfile::owner_userns(path).is_some_and(|o| o == ct))
}

/// The message the init reads: a native-endian u32 length, then NUL-terminated strings (the
/// number of descriptors that become 0 .. N-1, the `exec` options, `--`, argv). Pure.
pub fn message(nfds: usize, options: &[String]) -> Vec<u8> {
    let mut body = Vec::new();
    for s in std::iter::once(&nfds.to_string()).chain(options) {
        body.extend(s.bytes().filter(|b| *b != 0));
        body.push(0);
    }
    let mut msg = (body.len() as u32).to_ne_bytes().to_vec();
    msg.extend(body);
    msg
}

fn connect(init_pid: i32) -> Result<UnixStream, String> {
    let path = PathBuf::from(format!("/proc/{init_pid}/root{SOCKET}"));
    // The init binds it as it starts; `start` may come right after `create`.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match UnixStream::connect(&path) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() < deadline && e.raw_os_error() != Some(libc::ESRCH) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                return Err(format!(
                    "connecting to the CT's init at {}: {e}",
                    path.display()
                ))
            }
        }
    }
}

/// Make the CT's init exec `process`. Returns once the exec succeeded; the error is the init's
/// own line (runc's wording for a program that cannot run). Warnings are logged.
pub fn launch(target: &Target, process: &Process) -> Result<(), String> {
    let mut fds: Vec<RawFd> = (0..3 + target.preserve_fds as RawFd).collect();
    let nfds = fds.len();
    let mut x = Extras {
        readonly_root: target.readonly_root,
        ..Default::default()
    };
    if let Some(c) = target.console {
        x.console = Some(fds.len());
        fds.push(c);
    }
    let mut held = Vec::new();
    for name in JOINED {
        if let Some(path) = target.ns_paths.get(name) {
            let f =
                std::fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
            x.joins.push(fds.len());
            fds.push(f.as_raw_fd());
            held.push(f);
        }
    }
    let filter_file;
    if let Some(profile) = &target.seccomp {
        let (prog, flags) = crate::seccomp::compile(profile)?;
        let mut f = tempfile::tempfile().map_err(|e| format!("linux.seccomp: {e}"))?;
        f.write_all(&prog)
            .and_then(|_| std::io::Seek::rewind(&mut f))
            .map_err(|e| format!("linux.seccomp: {e}"))?;
        x.seccomp = Some(Filter::Sent(fds.len()));
        x.seccomp_flags = flags;
        fds.push(f.as_raw_fd());
        filter_file = Some(f);
    } else {
        filter_file = None;
    }
    let msg = message(nfds, &exec_options(process, &x));
    let conn = connect(target.init_pid)?;
    let sent = sendmsg::<()>(
        conn.as_raw_fd(),
        &[IoSlice::new(&msg)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| format!("sending the process to the CT's init: {e}"))?;
    (&conn)
        .write_all(&msg[sent..])
        .map_err(|e| format!("sending the process to the CT's init: {e}"))?;
    drop(filter_file);
    // Warnings, maybe an error, then end-of-file at exec (the connection is close-on-exec).
    let mut error = None;
    for line in BufReader::new(&conn).lines() {
        let Ok(line) = line else { break };
        if let Some(w) = line.strip_prefix("warn ") {
            log::warn!("{w}");
        } else if let Some(e) = line.strip_prefix("error ") {
            error = Some(e.to_string());
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_length_and_nul_terminated_strings() {
        let m = message(3, &["--uid".into(), "7".into(), "--".into(), "a\0b".into()]);
        let body = b"3\0--uid\x007\0--\0ab\0";
        assert_eq!(&m[..4], &(body.len() as u32).to_ne_bytes());
        assert_eq!(&m[4..], body);
    }
}
