//! The exit status of a process that is not our child: the CT's pid 1, whose parent is LXC's
//! monitor. Neither LXC 5 nor Proxmox's LXC 6 hands that status on (`lxc-start -F` exits 0
//! whatever its init returned), so we take it from the kernel's process-events connector
//! (`NETLINK_CONNECTOR`, `CN_IDX_PROC`), which reports every exit with its wait status as the
//! task leaves `do_exit`. A classic BPF filter on the socket drops every event but the exit of
//! the one pid, so a busy node costs us nothing. Needs CONFIG_PROC_EVENTS and CAP_NET_ADMIN in
//! the initial user and network namespaces, as root on a Proxmox node has.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// nlmsghdr (16) + cn_msg (20): where `struct proc_event` starts.
const EVENT: u32 = 36;
/// `what`, `cpu`, `timestamp_ns`, then the exit event: pid, tgid, exit_code, exit_signal.
const WHAT: u32 = EVENT;
const PID: u32 = EVENT + 16;
const TGID: u32 = EVENT + 20;
const CODE: u32 = EVENT + 24;

/// A subscription to one process's exit.
pub struct ExitWatch {
    sock: OwnedFd,
    pid: i32,
}

impl AsFd for ExitWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// A 32-bit word of the message as BPF's absolute load sees it (network byte order).
fn as_loaded(v: u32) -> u32 {
    u32::from_be_bytes(v.to_ne_bytes())
}

/// Accept a message whose event is an exit of the thread-group leader `pid`, drop all others.
fn filter(pid: i32) -> [libc::sock_filter; 8] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    [
        op(ld, 0, 0, WHAT),
        op(jeq, 0, 5, as_loaded(PROC_EVENT_EXIT)),
        op(ld, 0, 0, PID),
        op(jeq, 0, 3, as_loaded(pid as u32)),
        op(ld, 0, 0, TGID),
        op(jeq, 0, 1, as_loaded(pid as u32)),
        op(ret, 0, 0, u32::MAX),
        op(ret, 0, 0, 0),
    ]
}

impl ExitWatch {
    /// Subscribe before `pid` can exit (the event is not repeated).
    pub fn new(pid: i32) -> io::Result<ExitWatch> {
        // SAFETY: plain socket(2); the result is checked and owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_CONNECTOR,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let prog = filter(pid);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut _,
        };
        // SAFETY: fprog points at `prog`, alive for the call; the kernel copies it.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &fprog as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::sock_fprog>() as u32,
            )
        })?;
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value to fill in.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: addr is a valid sockaddr_nl of the size given.
        check(unsafe {
            libc::bind(
                fd,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        })?;
        // nlmsghdr, cn_msg {idx, val, seq, ack, len, flags}, then the operation.
        let mut msg = Vec::with_capacity(40);
        msg.extend_from_slice(&40u32.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        for v in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            msg.extend_from_slice(&v.to_ne_bytes());
        }
        msg.extend_from_slice(&4u16.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: msg is a valid buffer of its length; the socket is bound.
        let n = unsafe { libc::send(fd, msg.as_ptr() as *const libc::c_void, msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ExitWatch { sock, pid })
    }

    /// The exit code (128+N for signal N) once the event is in; `None` while there is none.
    /// Call when the socket is readable.
    pub fn read(&self) -> io::Result<Option<i32>> {
        let mut buf = [0u8; 256];
        // SAFETY: buf is a valid writable buffer of its length.
        let n = unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        Ok(parse(&buf[..n as usize], self.pid))
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn word(msg: &[u8], at: u32) -> Option<u32> {
    let b = msg.get(at as usize..at as usize + 4)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The exit code an exit event of `pid` carries (the filter already chose; checked again here).
fn parse(msg: &[u8], pid: i32) -> Option<i32> {
    if word(msg, WHAT)? != PROC_EVENT_EXIT || word(msg, TGID)? != pid as u32 {
        return None;
    }
    Some(code_of(word(msg, CODE)? as i32))
}

/// A wait status as a shell's exit code.
pub fn code_of(status: i32) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_become_exit_codes() {
        assert_eq!(code_of(7 << 8), 7);
        assert_eq!(code_of(0), 0);
        assert_eq!(code_of(9), 137);
        assert_eq!(
            code_of(0x80 | 11),
            139,
            "a core dump flag is not part of it"
        );
    }

    #[test]
    fn the_exit_of_a_child_is_reported_with_its_status() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read x; exit 7"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let watch = ExitWatch::new(child.id() as i32);
        // Another exit first: the filter must not let it through.
        let _ = std::process::Command::new("true").status();
        drop(child.stdin.take());
        let _ = child.wait();
        let watch = match watch {
            Ok(w) => w,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                eprintln!("skipped: the proc connector needs CAP_NET_ADMIN");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let mut fds = [nix::poll::PollFd::new(
            watch.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
        assert_eq!(watch.read().unwrap(), Some(7));
    }
}
