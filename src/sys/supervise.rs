//! Running a child with a deadline: feed its stdin, collect stdout and stderr without letting
//! either pipe stall it, and kill its process group when the time is up. Shared by `pct` calls
//! and OCI hooks. Output is read until the child exits, then only what is already in the pipes:
//! a background process it left behind may hold them open forever.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub struct Outcome {
    /// `None`: killed on timeout.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Feed `input` to the child's stdin, collect its output, and wait for it to exit or for the
/// time limit to pass (then its process group is killed). Output is read until the child exits, then only what is
/// already in the pipes: a background process the hook left behind may hold them open forever.
pub fn supervise(
    mut child: Child,
    input: &[u8],
    limit: Option<Duration>,
    cap: usize,
) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let mut stdin: Option<OwnedFd> = child.stdin.take().map(OwnedFd::from);
    let mut pipes: [Option<OwnedFd>; 2] = [
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    ];
    let mut bufs = [Vec::new(), Vec::new()];
    for fd in stdin.iter().chain(pipes.iter().flatten()) {
        set_nonblocking(fd.as_raw_fd())?;
    }
    let mut written = 0;
    if input.is_empty() {
        stdin = None;
    }
    let pidfd = crate::sys::proc::pidfd_open(child.id() as i32);

    loop {
        if let Some(status) = child.try_wait()? {
            for (p, b) in pipes.iter_mut().zip(bufs.iter_mut()) {
                if let Some(fd) = p {
                    drain(fd, b, cap);
                }
            }
            let [stdout, stderr] = bufs;
            return Ok(Outcome {
                status: Some(status),
                stdout,
                stderr,
            });
        }
        let mut wait = Duration::from_millis(if pidfd.is_some() { 1000 } else { 20 });
        if let Some(limit) = limit {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                for (p, b) in pipes.iter_mut().zip(bufs.iter_mut()) {
                    if let Some(fd) = p {
                        drain(fd, b, cap);
                    }
                }
                let [stdout, stderr] = bufs;
                return Ok(Outcome {
                    status: None,
                    stdout,
                    stderr,
                });
            }
            wait = wait.min(left);
        }

        // Which fds to watch: 0 stdin, 1 stdout, 2 stderr, 3 the pidfd.
        let mut which = Vec::with_capacity(4);
        let mut fds = Vec::with_capacity(4);
        if let Some(fd) = &stdin {
            which.push(0);
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        for (i, p) in pipes.iter().enumerate() {
            if let Some(fd) = p {
                which.push(i + 1);
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(fd) = &pidfd {
            which.push(3);
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let ms = wait.as_millis().clamp(1, 1000) as u16;
        match poll(&mut fds, ms) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<usize> = which
            .iter()
            .zip(&fds)
            .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(w, _)| *w)
            .collect();
        drop(fds);
        for w in ready {
            match w {
                0 => {
                    let Some(fd) = &stdin else { continue };
                    match File::from(fd.try_clone()?).write(&input[written..]) {
                        Ok(n) => written += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => written = input.len(), // EPIPE: the hook does not read stdin
                    }
                    if written >= input.len() {
                        stdin = None;
                    }
                }
                1 | 2 => {
                    if let Some(fd) = &pipes[w - 1] {
                        if !drain(fd, &mut bufs[w - 1], cap) {
                            pipes[w - 1] = None;
                        }
                    }
                }
                _ => {} // the pidfd: the child exited, seen by try_wait
            }
        }
    }
}

/// Read what `fd` has now into `buf` (keeping its last `cap` bytes); false at EOF or on
/// an error, i.e. when the fd is of no further use.
fn drain(fd: &OwnedFd, buf: &mut Vec<u8>, cap: usize) -> bool {
    let Ok(dup) = fd.try_clone() else {
        return false;
    };
    let mut f = File::from(dup);
    let mut chunk = [0u8; 8192];
    // Bounded, so a writer that never pauses cannot keep us here.
    for _ in 0..256 {
        match f.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > cap {
                    buf.drain(..buf.len() - cap);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
    true
}

pub fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
