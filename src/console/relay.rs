//! A foreground `exec -t` without a console socket (CRI-O's `exec -it`, runc's behaviour): the
//! process runs on a pty of its own and this loop carries the caller's stdin to its master and
//! the master's output to the caller's stdout, copies the caller's window size on SIGWINCH,
//! passes other signals on, and ends with the process's exit status.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// After the process exited: how long the master may stay silent before the rest is taken as
/// said (a background process in the CT may still hold the terminal), and the most we wait.
const DRAIN_IDLE: Duration = Duration::from_millis(500);
const DRAIN_MAX: Duration = Duration::from_secs(10);

/// The caller's terminal: stdin if it is one, else stdout.
pub fn caller_tty() -> Option<RawFd> {
    [0, 1]
        .into_iter()
        .find(|fd| nix::unistd::isatty(*fd) == Ok(true))
}

/// Give terminal `to` the window size of `from`, when `from` has one.
pub fn copy_size(from: RawFd, to: RawFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize we own; TIOCSWINSZ reads it.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The caller's terminal in raw mode (its keys, ^C included, go to the process's terminal,
/// whose own line discipline acts on them); the old mode comes back on drop.
struct RawMode {
    fd: RawFd,
    old: Termios,
}

impl RawMode {
    fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: fd 0 stays open for the life of the runtime.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let old = tcgetattr(b).ok()?;
        let mut raw = old.clone();
        cfmakeraw(&mut raw);
        tcsetattr(b, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, old })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        let b = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(b, SetArg::TCSADRAIN, &self.old);
    }
}

/// Relay between the caller's stdio and `master` until `child` (the process, or the stand-in
/// of a remote one) exits; its exit status, 128+N for signal N. EOF on stdin leaves the
/// process running: the master stays open, as with runc.
pub fn relay(master: OwnedFd, child: Pid, sfd: &mut SignalFd) -> i32 {
    let tty = caller_tty();
    let _raw = (tty == Some(0)).then(|| RawMode::enter(0)).flatten();
    // Non-blocking, so that input the process does not read never stops its output.
    let _ = nix::fcntl::fcntl(
        master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut out = Output { broken: false };
    let mut input: Vec<u8> = Vec::new();
    let (mut stdin_open, mut master_open) = (true, true);
    // SAFETY: fd 0 stays open for the life of the runtime (a closed one only fails the poll).
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let mut buf = [0u8; 16 * 1024];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let mut ev = PollFlags::empty();
        if master_open {
            ev |= PollFlags::POLLIN;
            if !input.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
        }
        fds.push(PollFd::new(master.as_fd(), ev));
        // Left out when not wanted: a hung-up stdin reports POLLHUP whatever we ask for.
        let want_stdin = stdin_open && input.is_empty();
        if want_stdin {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => return exit_of(child),
        }
        let got = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        let (sig, m, i) = (got(0), got(1), got(2));
        if master_open && m.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) => master_open = false,
                Ok(n) => out.write(&buf[..n]),
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                // EIO: every holder of the slave closed it.
                Err(_) => master_open = false,
            }
        }
        if master_open && m.contains(PollFlags::POLLOUT) {
            match nix::unistd::write(&master, &input) {
                Ok(n) => {
                    input.drain(..n);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(_) => input.clear(),
            }
        }
        if !master_open {
            input.clear();
        }
        if want_stdin && !i.is_empty() {
            match nix::unistd::read(0, &mut buf) {
                Ok(n) if n > 0 => input.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                // EOF or a broken stdin: the session goes on without input.
                _ => stdin_open = false,
            }
        }
        if sig.contains(PollFlags::POLLIN) {
            if let Some(code) = on_signal(sfd, child, tty, &master) {
                if master_open {
                    drain(&master, &mut out, &mut buf);
                }
                return code;
            }
        }
    }
}

/// Handle one signal; the exit status once `child` has ended.
fn on_signal(sfd: &mut SignalFd, child: Pid, tty: Option<RawFd>, master: &OwnedFd) -> Option<i32> {
    let info = sfd.read_signal().ok()??;
    match Signal::try_from(info.ssi_signo as i32) {
        Ok(Signal::SIGCHLD) => reaped(child),
        Ok(Signal::SIGWINCH) => {
            if let Some(fd) = tty {
                copy_size(fd, master.as_raw_fd());
            }
            None
        }
        // The process has a terminal of its own, so nothing the kernel sends us reached it.
        Ok(sig) => {
            let _ = kill(child, sig);
            None
        }
        Err(_) => None,
    }
}

fn reaped(child: Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// When polling itself failed: wait for the process and give its status.
fn exit_of(child: Pid) -> i32 {
    match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        _ => 1,
    }
}

/// What the process wrote before it exited and the caller has not seen yet.
fn drain(master: &OwnedFd, out: &mut Output, buf: &mut [u8]) {
    let end = Instant::now() + DRAIN_MAX;
    while Instant::now() < end {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let idle = PollTimeout::try_from(DRAIN_IDLE).unwrap_or(PollTimeout::ZERO);
        match poll(&mut fds, idle) {
            Ok(0) => return,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        match nix::unistd::read(master.as_raw_fd(), buf) {
            Ok(n) if n > 0 => out.write(&buf[..n]),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            _ => return,
        }
    }
}

/// The caller's stdout; once it is gone the process's output is read and dropped, so that the
/// process never blocks on a full terminal.
struct Output {
    broken: bool,
}

impl Output {
    fn write(&mut self, mut data: &[u8]) {
        while !self.broken && !data.is_empty() {
            match nix::unistd::write(std::io::stdout(), data) {
                Ok(n) => data = &data[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => wait_writable(),
                Err(_) => self.broken = true,
            }
        }
    }
}

/// A non-blocking stdout (the caller's choice) that is full.
fn wait_writable() {
    let out = std::io::stdout();
    let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
    let _ = poll(&mut fds, PollTimeout::from(100u8));
}
