//! A minimal HTTP/1.1 responder for one read-only path (`metrics --listen`): one thread, a
//! poll loop over the listener, a signalfd and at most [`MAX_CONNS`] connections. Each
//! connection sends one request and gets one response, then is closed. Written on std::net
//! rather than with a server crate: it needs no keep-alive, bodies, TLS or routing, and the
//! limits below are easier to see in these lines than in a crate's options.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Request line and headers together; more gets 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connections read at once; one more is answered 503 and closed.
pub const MAX_CONNS: usize = 4;
/// A connection that has not sent its whole head by then gets 408.
const READ_DEADLINE: Duration = Duration::from_secs(10);
/// A client that does not take its response by then is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What one request gets.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub allow: bool,
    pub body: String,
    /// HEAD: the headers of `body` without it.
    pub head_only: bool,
}

impl Response {
    fn plain(status: u16, body: &str) -> Response {
        Response {
            status,
            allow: status == 405,
            body: format!("{body}\n"),
            head_only: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        };
        let ctype = if self.status == 200 {
            CONTENT_TYPE
        } else {
            "text/plain; charset=utf-8"
        };
        let mut h = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.body.len()
        );
        if self.allow {
            h.push_str("Allow: GET, HEAD\r\n");
        }
        h.push_str("\r\n");
        let mut b = h.into_bytes();
        if !self.head_only {
            b.extend_from_slice(self.body.as_bytes());
        }
        b
    }
}

/// The response to a complete request head (`head` ends with the blank line): only GET or
/// HEAD of `path` (a query string ignored) calls `body`.
pub fn respond(
    head: &[u8],
    path: &str,
    body: &mut dyn FnMut() -> Result<String, String>,
) -> Response {
    let Some(line) = head
        .split(|b| *b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
    else {
        return Response::plain(400, "bad request line");
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::plain(400, "bad request line");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Response::plain(400, "bad request line");
    }
    if target.split('?').next() != Some(path) {
        return Response::plain(404, "not found; try GET /metrics");
    }
    if method != "GET" && method != "HEAD" {
        return Response::plain(405, "only GET and HEAD");
    }
    let mut r = match body() {
        Ok(text) => Response {
            status: 200,
            allow: false,
            body: text,
            head_only: false,
        },
        Err(e) => Response::plain(500, &e),
    };
    r.head_only = method == "HEAD";
    r
}

struct Conn {
    stream: TcpStream,
    head: Vec<u8>,
    deadline: Instant,
}

/// Answer requests on `listener` until SIGTERM or SIGINT arrives; then return Ok.
pub fn serve(
    listener: TcpListener,
    path: &str,
    mut body: impl FnMut() -> Result<String, String>,
) -> std::io::Result<()> {
    // Blocked before anything else runs so that the signalfd, not the default action, takes
    // them; children started while serving get a clean mask from std::process.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block().map_err(std::io::Error::from)?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(std::io::Error::from)?;
    listener.set_nonblocking(true)?;
    let mut conns: Vec<Conn> = Vec::new();
    loop {
        let now = Instant::now();
        let wait = conns
            .iter()
            .map(|c| c.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(60));
        let mut fds: Vec<libc::pollfd> = [sfd.as_raw_fd(), listener.as_raw_fd()]
            .into_iter()
            .chain(conns.iter().map(|c| c.stream.as_raw_fd()))
            .map(pollfd)
            .collect();
        let ms = wait.as_millis().clamp(1, 60_000) as libc::c_int;
        // SAFETY: fds is a live array of fds.len() pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents != 0 {
            return Ok(());
        }
        // Connections first, by index from the end, so that removing one keeps the others'.
        for i in (0..conns.len()).rev() {
            let ready = fds[2 + i].revents != 0;
            match step(&mut conns[i], ready) {
                Step::Wait => {}
                Step::Drop => {
                    conns.swap_remove(i);
                }
                Step::Head => {
                    let c = conns.swap_remove(i);
                    let r = respond(&c.head, path, &mut body);
                    send(c.stream, &r);
                }
                Step::Answer(status, why) => {
                    let c = conns.swap_remove(i);
                    send(c.stream, &Response::plain(status, why));
                }
            }
        }
        if fds[1].revents != 0 {
            while let Ok((stream, _)) = listener.accept() {
                if conns.len() >= MAX_CONNS {
                    send(stream, &Response::plain(503, "too many connections"));
                    continue;
                }
                if stream.set_nonblocking(true).is_ok() {
                    conns.push(Conn {
                        stream,
                        head: Vec::new(),
                        deadline: Instant::now() + READ_DEADLINE,
                    });
                }
            }
        }
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

enum Step {
    Wait,
    Drop,
    Head,
    Answer(u16, &'static str),
}

/// Read what `c` has sent; whether its head is complete, too large, late or gone.
fn step(c: &mut Conn, ready: bool) -> Step {
    if ready {
        let mut buf = [0u8; 2048];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => return Step::Drop,
                Ok(n) => {
                    c.head.extend_from_slice(&buf[..n]);
                    if let Some(end) = c.head.windows(4).position(|w| w == b"\r\n\r\n") {
                        if end + 4 > MAX_HEAD {
                            return Step::Answer(431, "request header too large");
                        }
                        c.head.truncate(end + 4);
                        return Step::Head;
                    }
                    if c.head.len() > MAX_HEAD {
                        return Step::Answer(431, "request header too large");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Step::Drop,
            }
        }
    }
    if Instant::now() >= c.deadline {
        return Step::Answer(408, "request not complete in time");
    }
    Step::Wait
}

/// Write `r` and close; a client that does not read it is its own problem.
fn send(mut stream: TcpStream, r: &Response) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.write_all(&r.bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(head: &str) -> Response {
        respond(head.as_bytes(), "/metrics", &mut || Ok("x 1\n".into()))
    }

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(r("GET /metrics HTTP/1.1\r\n\r\n").status, 200);
        assert_eq!(r("GET /metrics?x=1 HTTP/1.0\r\n\r\n").body, "x 1\n");
        let head = r("HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.head_only && head.status == 200);
        assert!(!String::from_utf8(head.bytes()).unwrap().contains("x 1"));
        assert_eq!(r("GET /other HTTP/1.1\r\n\r\n").status, 404);
        let post = r("POST /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(post.status, 405);
        assert!(String::from_utf8(post.bytes())
            .unwrap()
            .contains("Allow: GET, HEAD\r\n"));
        assert_eq!(r("GET /metrics\r\n\r\n").status, 400);
        assert_eq!(r("GET /metrics FTP/1\r\n\r\n").status, 400);
    }

    #[test]
    fn exposition_content_type_and_errors_as_500() {
        let ok = String::from_utf8(r("GET /metrics HTTP/1.1\r\n\r\n").bytes()).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
            "{ok}"
        );
        assert!(ok.ends_with("\r\n\r\nx 1\n"), "{ok}");
        let e = respond(b"GET /metrics HTTP/1.1\r\n\r\n", "/metrics", &mut || {
            Err("no metrics".into())
        });
        assert_eq!((e.status, e.body.as_str()), (500, "no metrics\n"));
    }
}
