//! Pid 1 of the CT until `start`: reap orphans, end on SIGTERM (runtime stop), SIGPWR (LXC's halt
//! signal), SIGRTMIN+3 (what `pct shutdown` sends it, below) or SIGINT, and wait on a unix
//! socket on LXC's `/dev` for the launch of the container's process, which it then becomes by
//! exec (so the workload is pid 1, as under runc).
//!
//! The launch is one message from the runtime's shim, which reaches the socket through
//! `/proc/<init>/root`: a native-endian u32 length, then NUL-terminated strings — the number of
//! descriptors that become 0 .. N-1, then `exec` mode's options, `--`, argv — with the
//! descriptors attached (SCM_RIGHTS). The init answers on the same connection: `warn <text>`
//! lines, an `error <text>` line if it cannot exec, and end-of-file once the exec succeeded
//! (the connection is close-on-exec). Only a peer outside the CT's pid namespace, where
//! SO_PEERCRED reports pid 0, is served: a process inside the CT cannot launch anything.

use core::ffi::CStr;

use crate::modes;
use crate::sock;
use crate::sys::{self, Arg};
use crate::text::{self, bytes, die, nth, parse_u64};

/// The socket's path inside the CT (on LXC's per-CT `/dev` tmpfs).
pub const SOCKET: &CStr = c"/dev/.proxmox-lxcri.sock";
const SIGINT: u32 = 2;
const SIGTERM: u32 = 15;
const SIGCHLD: u32 = 17;
const SIGPWR: u32 = 30;
/// glibc's SIGRTMIN + 3 (34 + 3): `lxc-stop` (`pct shutdown`, a restart migration) sends this
/// instead of the halt signal to an init that blocks it, taking it for systemd (lxc
/// src/lxc/lxccontainer.c `do_lxcapi_shutdown`); ours blocks every signal.
const SIGRTMIN_3: u32 = 37;
const MAX_MESSAGE: usize = 256 * 1024;
const MAX_ARGS: usize = 8192;
const MAX_FDS: usize = 250;
/// Sent descriptors and the connection move up here, out of the way of 0 .. N-1.
const HIGH_FD: i32 = 1000;

pub fn idle() -> ! {
    // Every signal is taken synchronously; none can interrupt or kill pid 1 unexpectedly.
    let all: u64 = !0;
    sys::block_signals(all);
    let sfd = sys::signalfd(all) as i32;
    sys::unlink(SOCKET);
    let lfd = sock::listen_unix(SOCKET) as i32;
    loop {
        let ready = if sfd >= 0 && lfd >= 0 {
            sys::poll_in(&[sfd, lfd])
        } else {
            1 // no socket: signals only
        };
        if ready & 1 != 0 {
            match next_signal(sfd) {
                SIGCHLD => while sys::reap_one() > 0 {},
                SIGTERM | SIGPWR | SIGINT | SIGRTMIN_3 => sys::exit(0),
                _ => {}
            }
        }
        if ready & 2 != 0 {
            let conn = sock::accept(lfd) as i32;
            if conn < 0 {
                continue;
            }
            if sock::peer_pid(conn) != 0 {
                sys::close(conn);
                continue;
            }
            serve(conn, lfd, sfd);
        }
    }
}

fn next_signal(sfd: i32) -> u32 {
    if sfd < 0 {
        return sys::wait_signal(!0) as u32;
    }
    // struct signalfd_siginfo is 128 bytes; the signal number comes first.
    let mut info = [0u8; 128];
    if sys::read(sfd, &mut info) == 128 {
        u32::from_ne_bytes([info[0], info[1], info[2], info[3]])
    } else {
        0
    }
}

/// Read the launch and become the container's process; returns only for a connection that
/// closed without a message.
fn serve(conn: i32, lfd: i32, sfd: i32) {
    let mut buf = [0u8; MAX_MESSAGE];
    let mut fds = [-1i32; MAX_FDS];
    let (mut got, nsent) = match sock::recv_with_fds(conn, &mut buf, &mut fds) {
        Ok((n, k)) if n > 0 => (n, k),
        Ok((_, k)) => {
            fds[..k].iter().for_each(|f| sys::close(*f));
            sys::close(conn);
            return;
        }
        Err(_) => {
            sys::close(conn);
            return;
        }
    };
    // From here on this launch decides the init's fate: failures go to the runtime.
    let report = sys::dup_above(conn, HIGH_FD - 1) as i32;
    sys::close(conn);
    text::report_to(report);
    while got < 4 {
        let n = sys::read(report, &mut buf[got..4]);
        if n <= 0 {
            die(1, b"launch:", b"message cut short", n);
        }
        got += n as usize;
    }
    let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 || len > MAX_MESSAGE - 4 {
        die(1, b"launch:", b"bad message length", 0);
    }
    while got < 4 + len {
        let n = sys::read(report, &mut buf[got..4 + len]);
        if n == -sys::EINTR {
            continue;
        }
        if n <= 0 {
            die(1, b"launch:", b"message cut short", n);
        }
        got += n as usize;
    }
    if buf[3 + len] != 0 {
        die(1, b"launch:", b"message does not end in NUL", 0);
    }
    // argv for execve ends in a null pointer: one slot more than strings.
    let mut args: [Option<Arg>; MAX_ARGS + 1] = [None; MAX_ARGS + 1];
    let mut nargs = 0;
    let mut at = 4;
    while at < 4 + len {
        if nargs == MAX_ARGS {
            die(1, b"launch:", b"too many strings", 0);
        }
        // Found: the message's last byte is a NUL (checked above).
        let Ok(s) = CStr::from_bytes_until_nul(&buf[at..4 + len]) else {
            die(1, b"launch:", b"message does not end in NUL", 0)
        };
        args[nargs] = Some(Arg::new(s));
        nargs += 1;
        at += s.count_bytes() + 1;
    }
    let mut high = [-1i32; MAX_FDS];
    for i in 0..nsent {
        high[i] = sys::dup_above(fds[i], HIGH_FD) as i32;
        sys::close(fds[i]);
    }
    sys::close(lfd);
    sys::close(sfd);
    sys::unlink(SOCKET);
    let nfds = nth(&args, 0)
        .and_then(|a| parse_u64(bytes(a), 10))
        .unwrap_or(u64::MAX) as usize;
    if nfds > nsent {
        die(1, b"launch:", b"fewer descriptors than announced", 0);
    }
    modes::launch(&args[1..nargs + 1], &high[..nsent], nfds)
}
