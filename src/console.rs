//! Terminals (`process.terminal`): the pty is allocated *inside* the CT (its devpts), so the
//! workload's `tty` names a device that exists there; the master goes to the caller's
//! `--console-socket` with SCM_RIGHTS, as conmon expects (docs/callers.md), and the
//! slave becomes the workload's controlling terminal and stdio. Without a console socket a
//! foreground `exec` relays the master to its own stdio (`relay`).

pub mod relay;

use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::unistd::ForkResult;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console: {0}")]
    Failed(String),
    #[error("console socket {path}: {source}")]
    Socket {
        path: String,
        source: std::io::Error,
    },
}

fn failed(what: &str, e: impl std::fmt::Display) -> ConsoleError {
    ConsoleError::Failed(format!("{what}: {e}"))
}

/// A pty pair on this host, for a workload on a remote node whose own terminal is made by
/// `pct exec` there: (master, slave).
pub fn open_local_pty() -> Result<(OwnedFd, OwnedFd), ConsoleError> {
    let p = nix::pty::openpty(None, None).map_err(|e| failed("openpty", e))?;
    Ok((p.master, p.slave))
}

/// A pty pair from the devpts of the mount namespace of `pid` (the CT's init): (master, slave).
pub fn open_pty_in(pid: i32) -> Result<(OwnedFd, OwnedFd), ConsoleError> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| failed("socketpair", e))?;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .map_err(|e| failed("open mount namespace", e))?;
    let user = std::fs::File::open(format!("/proc/{pid}/ns/user"))
        .map_err(|e| failed("open user namespace", e))?;
    let same_user = std::fs::metadata("/proc/self/ns/user")
        .and_then(|me| {
            user.metadata()
                .map(|u| (me.ino(), me.dev()) == (u.ino(), u.dev()))
        })
        .unwrap_or(false);
    let user = (!same_user).then_some(user);
    // SAFETY: the runtime is single-threaded here; the child only enters the namespace, opens
    // two files, sends them and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| failed("fork", e))? {
        ForkResult::Child => {
            drop(ours);
            let code = match pty_in_ns(&ns, user.as_ref()) {
                Ok((m, s)) => {
                    let fds = [m.as_raw_fd(), s.as_raw_fd()];
                    let cmsg = [ControlMessage::ScmRights(&fds)];
                    let ok = sendmsg::<()>(
                        theirs.as_raw_fd(),
                        &[IoSlice::new(b"pty")],
                        &cmsg,
                        MsgFlags::empty(),
                        None,
                    );
                    i32::from(ok.is_err())
                }
                Err(e) => {
                    let _ = sendmsg::<()>(
                        theirs.as_raw_fd(),
                        &[IoSlice::new(e.as_bytes())],
                        &[],
                        MsgFlags::empty(),
                        None,
                    );
                    1
                }
            };
            // SAFETY: _exit ends this forked child at once; nothing of the parent runs in it again.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            let mut buf = [0u8; 512];
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 2]);
            let msg = recvmsg::<()>(
                ours.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(|e| failed("receive pty", e));
            let _ = nix::sys::wait::waitpid(child, None);
            let msg = msg?;
            let mut fds = Vec::new();
            for c in msg.cmsgs().map_err(|e| failed("receive pty", e))? {
                if let ControlMessageOwned::ScmRights(r) = c {
                    // SAFETY: descriptors just received are new ones that nothing else owns.
                    fds.extend(r.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
            let text = msg
                .iovs()
                .next()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            match <[OwnedFd; 2]>::try_from(fds) {
                Ok([m, s]) => Ok((m, s)),
                Err(_) => Err(ConsoleError::Failed(text)),
            }
        }
    }
}

/// In the forked child: join the CT's mount namespace and open a pty pair there.
fn pty_in_ns(
    ns: &std::fs::File,
    user: Option<&std::fs::File>,
) -> Result<(OwnedFd, OwnedFd), String> {
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("setns mnt: {e}"))?;
    // As the CT's root, so the pty belongs to a uid the CT knows (an unprivileged CT sees host
    // root as nobody, and programs that reopen their terminal would fail).
    if let Some(user) = user {
        nix::sched::setns(user, nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(|e| format!("setns user: {e}"))?;
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .map_err(|e| format!("setresgid: {e}"))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .map_err(|e| format!("setresuid: {e}"))?;
    }
    let open = |path: &str| {
        let c = CString::new(path).expect("no NUL");
        // SAFETY: open(2) reads the NUL-terminated `c`, alive for the call.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(format!("open {path}: {}", std::io::Error::last_os_error()))
        } else {
            // SAFETY: open returned a new descriptor that nothing else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    };
    let master = open("/dev/ptmx")?;
    let mut unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: ioctls on the fd we just opened, with properly sized arguments.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) != 0
            || libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) != 0
        {
            return Err(format!("/dev/ptmx: {}", std::io::Error::last_os_error()));
        }
    }
    // The peer of this master, not whatever `/dev/pts/<n>` names in the CT's mount namespace.
    // SAFETY: TIOCGPTPEER returns a new fd or -1.
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(format!("/dev/pts/{n}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: TIOCGPTPEER returned a new descriptor that nothing else owns.
    Ok((master, unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Hand `master` to the caller listening on `socket` and wait until it has taken it (it closes
/// the connection), so that `create` returns only once the terminal is set up.
pub fn send_master(socket: &Path, master: &OwnedFd) -> Result<(), ConsoleError> {
    let err = |source| ConsoleError::Socket {
        path: socket.display().to_string(),
        source,
    };
    let conn = UnixStream::connect(socket).map_err(err)?;
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        conn.as_raw_fd(),
        &[IoSlice::new(b"/dev/ptmx")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| err(e.into()))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(err)?;
    let _ = (&conn).read(&mut [0u8; 64]);
    Ok(())
}

/// In the workload: make `fd` the controlling terminal and stdin/stdout/stderr.
pub fn become_ctty(fd: RawFd) -> Result<(), String> {
    // SAFETY: ioctl/dup2 on fds we own; the caller is a session leader without a terminal.
    unsafe {
        if libc::ioctl(fd, libc::TIOCSCTTY, 0) != 0 {
            return Err(format!(
                "process.terminal: TIOCSCTTY: {}",
                std::io::Error::last_os_error()
            ));
        }
        for target in 0..3 {
            if fd != target && libc::dup2(fd, target) < 0 {
                return Err(format!(
                    "process.terminal: dup2: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        if fd > 2 {
            libc::close(fd);
        }
    }
    Ok(())
}
