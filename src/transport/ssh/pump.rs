//! The exchange with one remote command: libssh2 in non-blocking mode and poll(2) on its socket
//! (plus a local stdin fd), so that a full window or pipe on one side never stalls the other.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use log::debug;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use ssh2::{BlockDirections, Channel, ErrorCode, Session};

use super::{RemoteExit, SshError, SshSession};

/// libssh2's LIBSSH2_ERROR_EAGAIN: the call needs the socket to move first.
const EAGAIN: ErrorCode = ErrorCode::Session(-37);
const CHUNK: usize = 32 * 1024;

pub enum Input<'a> {
    Bytes(&'a [u8]),
    Fd(Option<RawFd>),
}

pub enum Sink<'a> {
    Buf(&'a mut Vec<u8>),
    Fd(RawFd),
}

pub struct Pump<'a> {
    pub ssh: &'a SshSession,
    pub line: &'a str,
    /// When to give up, and the limit as given (for the error).
    pub deadline: Option<(Instant, Duration)>,
    /// A terminal of (columns, rows) for the command.
    pub pty: Option<(u32, u32)>,
    /// Keepalives, and how long the node may stay silent before `SshError::Silent` (at least
    /// `MIN_SILENCE`).
    pub silence: Option<Duration>,
    /// When the node was last heard from.
    pub heard: std::cell::Cell<Instant>,
}

/// A pump whose remote terminal follows a local one.
pub struct Resizing<'a> {
    pump: Pump<'a>,
    /// Readable on a resize; drained with a read.
    signal: Option<RawFd>,
    /// The local terminal whose size is sent.
    term: Option<RawFd>,
}

impl<'a> Pump<'a> {
    pub fn with_resize(self, signal: Option<RawFd>, term: Option<RawFd>) -> Resizing<'a> {
        Resizing {
            pump: self,
            signal,
            term,
        }
    }
}

impl Resizing<'_> {
    pub fn exec(&self, input: Input, out: Sink, err: Sink) -> Result<RemoteExit, SshError> {
        self.pump
            .exec_resizing(input, out, err, self.signal.zip(self.term))
    }
}

/// The session is non-blocking while this lives.
struct NonBlocking<'a>(&'a Session);

impl Drop for NonBlocking<'_> {
    fn drop(&mut self) {
        self.0.set_blocking(true);
    }
}

impl Pump<'_> {
    pub fn exec(&self, input: Input, out: Sink, err: Sink) -> Result<RemoteExit, SshError> {
        self.exec_resizing(input, out, err, None)
    }

    fn exec_resizing(
        &self,
        input: Input,
        mut out: Sink,
        mut err: Sink,
        resize: Option<(RawFd, RawFd)>,
    ) -> Result<RemoteExit, SshError> {
        self.ssh.sess.set_blocking(false);
        // before the channel, so it drops after it: a channel abandoned on timeout is then
        // freed without waiting for a close the server sends only once the command ends
        let _nb = NonBlocking(&self.ssh.sess);
        let mut ch = self.retry("opening a channel", || self.ssh.sess.channel_session())?;
        if let Some((cols, rows)) = self.pty {
            // TERM as conmon's containers get it; the workload's env may say otherwise.
            self.retry("requesting a terminal", || {
                ch.request_pty("xterm", None, Some((cols, rows, 0, 0)))
            })?;
        }
        self.retry("starting the command", || ch.exec(self.line))?;
        if let Some(s) = self.silence {
            // want_reply: OpenSSH answers each keepalive request, so a live node is heard.
            self.ssh
                .sess
                .set_keepalive(true, keepalive_interval(s).as_secs() as u32);
        }

        let mut feed = Feed::new(input);
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            self.check_deadline()?;
            let mut busy = feed.push(&mut ch);
            busy |= self.drain(&ch, 0, &mut out, &mut out_done)?;
            busy |= self.drain(&ch, ssh2::EXTENDED_DATA_STDERR, &mut err, &mut err_done)?;
            // a read of one stream may have queued packets of the other, or the channel's EOF
            // (the server sends nothing more after it): no sleeping on those
            if busy {
                self.heard.set(Instant::now());
            }
            if busy || ch.read_window().available > 0 || (out_done && err_done) || ch.eof() {
                continue;
            }
            self.keepalive()?;
            let (input, resized) = self.wait(feed.wants_local(), resize.map(|(s, _)| s))?;
            if input {
                feed.fill().map_err(|e| self.io("reading local stdin", e))?;
            }
            if let (true, Some((signal, term))) = (resized, resize) {
                // A signalfd read takes whole records; one is enough to drain a single resize.
                let _ = nix::unistd::read(signal, &mut [0u8; 128]);
                let (cols, rows) = crate::sys::tty::size_of(term);
                self.retry("resizing the terminal", || {
                    ch.request_pty_size(cols, rows, None, None)
                })?;
            }
        }
        // the rest of stdin has nowhere to go once the command's output has ended
        self.retry("waiting for the command to end", || ch.wait_eof())?;
        self.retry("waiting for the command to end", || ch.wait_close())?;
        self.retry("closing the channel", || ch.close())?;
        let signal = ch
            .exit_signal()
            .map_err(|e| self.proto("reading the exit signal", e))?;
        Ok(match signal.exit_signal {
            Some(s) => RemoteExit::Signal(s),
            None => RemoteExit::Code(
                ch.exit_status()
                    .map_err(|e| self.proto("reading the exit status", e))?,
            ),
        })
    }

    /// Moves what is waiting on one remote stream to `sink`; true if anything moved.
    fn drain(
        &self,
        ch: &Channel,
        id: i32,
        sink: &mut Sink,
        done: &mut bool,
    ) -> Result<bool, SshError> {
        if *done {
            return Ok(false);
        }
        let mut stream = ch.stream(id);
        let mut buf = [0u8; CHUNK];
        // bounded, so stdin keeps moving while output floods in
        for i in 0..8 {
            match stream.read(&mut buf) {
                Ok(0) => {
                    // 0 also comes while the other stream still has data queued
                    *done = ch.eof();
                    return Ok(i > 0);
                }
                Ok(n) => sink
                    .put(&buf[..n])
                    .map_err(|e| self.io("passing on remote output", e))?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(i > 0),
                Err(e) => return Err(self.io("reading remote output", e)),
            }
        }
        Ok(true)
    }

    /// Calls a libssh2 step until it stops asking for the socket.
    fn retry<T>(
        &self,
        what: &str,
        mut step: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, SshError> {
        loop {
            match step() {
                Err(e) if e.code() == EAGAIN => {
                    self.check_deadline()?;
                    self.wait(None, None)?;
                }
                r => return r.map_err(|e| self.proto(what, e)),
            }
        }
    }

    /// Sleeps until the socket can move the way libssh2 last blocked, `local` or `other` is
    /// readable or the deadline passes; says which of the two is readable.
    fn wait(&self, local: Option<RawFd>, other: Option<RawFd>) -> Result<(bool, bool), SshError> {
        let mut events = PollFlags::POLLIN;
        if matches!(
            self.ssh.sess.block_directions(),
            BlockDirections::Outbound | BlockDirections::Both
        ) {
            events |= PollFlags::POLLOUT;
        }
        let mut timeout = match self.deadline {
            None => PollTimeout::NONE,
            Some((at, _)) => {
                let left = at.saturating_duration_since(Instant::now());
                // rounded up, so the deadline has passed when poll returns empty-handed
                PollTimeout::try_from(left + Duration::from_millis(1)).unwrap_or(PollTimeout::MAX)
            }
        };
        if let Some(s) = self.silence {
            // wake up for the next keepalive
            let tick = PollTimeout::try_from(keepalive_interval(s)).unwrap_or(PollTimeout::MAX);
            if timeout == PollTimeout::NONE || tick < timeout {
                timeout = tick;
            }
        }
        let mut fds = vec![PollFd::new(self.ssh.sock.as_fd(), events)];
        // SAFETY: the caller keeps its fds open for the whole call
        let borrowed: Vec<Option<BorrowedFd>> = [local, other]
            .iter()
            .map(|f| f.map(|fd| unsafe { BorrowedFd::borrow_raw(fd) }))
            .collect();
        let slots: Vec<Option<usize>> = borrowed
            .iter()
            .map(|b| {
                b.map(|fd| {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    fds.len() - 1
                })
            })
            .collect();
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(self.io("polling", e.into())),
        }
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            self.heard.set(Instant::now());
        }
        let ready = |slot: Option<usize>| {
            slot.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        Ok((ready(slots[0]), ready(slots[1])))
    }

    /// Sends a keepalive when one is due; `Silent` once the node has not been heard from for
    /// the allowed silence.
    fn keepalive(&self) -> Result<(), SshError> {
        let Some(silence) = self.silence.map(|s| s.max(MIN_SILENCE)) else {
            return Ok(());
        };
        // Non-blocking: a keepalive that cannot be sent now goes with the next one.
        let _ = self.ssh.sess.keepalive_send();
        let after = self.heard.get().elapsed();
        if after >= silence {
            return Err(SshError::Silent {
                addr: self.ssh.addr.clone(),
                after,
            });
        }
        Ok(())
    }

    fn check_deadline(&self) -> Result<(), SshError> {
        match self.deadline {
            Some((at, timeout)) if Instant::now() >= at => Err(SshError::Timeout {
                addr: self.ssh.addr.clone(),
                command: self.line.to_string(),
                timeout,
            }),
            _ => Ok(()),
        }
    }

    fn proto(&self, what: &str, source: ssh2::Error) -> SshError {
        SshError::Protocol {
            addr: self.ssh.addr.clone(),
            what: format!("{what} for `{}`", self.line),
            source,
        }
    }

    fn io(&self, what: &str, source: io::Error) -> SshError {
        SshError::Io {
            addr: self.ssh.addr.clone(),
            what: format!("{what} for `{}`", self.line),
            source,
        }
    }
}

/// Keepalives go out at a quarter of the allowed silence, but libssh2 sends them at most every
/// 2 s (`libssh2_keepalive_config` turns 1 into 2) and counts whole seconds: a silence of at
/// least 5 s (`MIN_SILENCE`) leaves room for one lost answer.
fn keepalive_interval(silence: Duration) -> Duration {
    (silence / 4).max(Duration::from_secs(2))
}

/// The shortest silence that keepalives can tell from a live node.
pub const MIN_SILENCE: Duration = Duration::from_secs(5);

/// What still has to go to the remote stdin.
struct Feed {
    fd: Option<RawFd>,
    buf: Vec<u8>,
    off: usize,
    local_eof: bool,
    /// EOF sent, or the remote side stopped taking input.
    closed: bool,
}

impl Feed {
    fn new(input: Input) -> Feed {
        let (fd, buf) = match input {
            Input::Bytes(b) => (None, b.to_vec()),
            Input::Fd(fd) => (fd, Vec::new()),
        };
        Feed {
            local_eof: fd.is_none(),
            fd,
            buf,
            off: 0,
            closed: false,
        }
    }

    /// The local fd worth polling: only once everything read from it has been sent.
    fn wants_local(&self) -> Option<RawFd> {
        if self.local_eof || self.closed || self.off < self.buf.len() {
            return None;
        }
        self.fd
    }

    /// Sends what the channel takes now (partial writes keep the rest); true if anything moved.
    fn push(&mut self, ch: &mut Channel) -> bool {
        if self.closed {
            return false;
        }
        let mut moved = false;
        while self.off < self.buf.len() {
            match ch.write(&self.buf[self.off..]) {
                Ok(n) if n > 0 => {
                    self.off += n;
                    moved = true;
                }
                // 0: the window is full and libssh2 read something else while hoping for more
                Ok(_) => return moved,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return moved,
                Err(e) => {
                    // the command is gone or closed its stdin: its output decides the rest
                    debug!("remote stdin no longer taken: {e}");
                    self.closed = true;
                    return true;
                }
            }
        }
        self.buf.clear();
        self.off = 0;
        if self.local_eof {
            match ch.send_eof() {
                Err(e) if e.code() == EAGAIN => {}
                r => {
                    if let Err(e) = r {
                        debug!("sending EOF to remote stdin: {e}");
                    }
                    self.closed = true;
                    moved = true;
                }
            }
        }
        moved
    }

    fn fill(&mut self) -> io::Result<()> {
        let Some(fd) = self.fd else { return Ok(()) };
        let mut buf = [0u8; CHUNK];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => self.local_eof = true,
            Ok(n) => self.buf.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

impl Sink<'_> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Buf(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Sink::Fd(fd) => write_all(*fd, data),
        }
    }
}

/// A blocking write of all of `data`, also to an fd someone made non-blocking.
fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    // SAFETY: the caller keeps its fd open for the whole call
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
