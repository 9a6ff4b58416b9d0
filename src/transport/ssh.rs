//! One SSH connection to a node, reused for every remote command of one runtime invocation.
//!
//! Commands go through the remote user's shell, so every argument is quoted by
//! [`shell::command_line`]. The host key must already be in a known_hosts file and the only
//! authentication is the configured key file: an unattended runtime must never prompt or guess.

mod counted;
mod hostkey;
mod pump;
pub use pump::MIN_SILENCE;

use std::io::{self, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::debug;
use ssh2::{CheckResult, KnownHostFileKind, MethodType, OpenFlags, OpenType, Session};

use crate::config::SshConfig;
use crate::transport::shell;

pub use hostkey::fingerprint;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// Bounds connecting, authenticating and each blocking step of an upload.
    pub timeout: Duration,
}

impl SshTarget {
    /// The target for `node` without asking the cluster: its `[ssh.nodes]` entry, else the
    /// configured host, else the node name.
    pub fn from_config(cfg: &SshConfig, node: &str) -> SshTarget {
        SshTarget::for_node(cfg, node, None)
    }

    /// The target for `node`: its `[ssh.nodes]` entry, else `cluster_ip` (the node's address in
    /// `/cluster/status`), else the configured host, else the node name. Each node has its own
    /// host key, checked against known_hosts under the address chosen here.
    pub fn for_node(cfg: &SshConfig, node: &str, cluster_ip: Option<&str>) -> SshTarget {
        let chosen = cfg
            .nodes
            .get(node)
            .and_then(|a| crate::config::host_port(a).ok());
        let (host, port) = match chosen {
            Some((h, p)) => (h, p.unwrap_or(cfg.port)),
            None => {
                let h = match cluster_ip.filter(|ip| !ip.is_empty()) {
                    Some(ip) => ip.to_string(),
                    None if cfg.host.is_empty() => node.to_string(),
                    None => cfg.host.clone(),
                };
                (h, cfg.port)
            }
        };
        SshTarget {
            host,
            port,
            user: cfg.user.clone(),
            identity: cfg.identity.clone(),
            known_hosts: cfg.known_hosts.clone(),
            timeout: Duration::from_secs(cfg.timeout),
        }
    }

    /// Whether `node` has an `[ssh.nodes]` entry (then the cluster need not be asked).
    pub fn has_override(cfg: &SshConfig, node: &str) -> bool {
        cfg.nodes.contains_key(node)
    }

    /// `host:port`, as errors name it.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot resolve {addr}: {source}")]
    Resolve { addr: String, source: io::Error },
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("ssh handshake with {addr} failed: {source}")]
    Handshake { addr: String, source: ssh2::Error },
    #[error("cannot read known hosts file {path} for {addr}: {reason}")]
    KnownHostsFile {
        addr: String,
        path: PathBuf,
        reason: String,
    },
    #[error("host key of {addr} is unknown: {kind} {fingerprint} is not in {path}")]
    UnknownHostKey {
        addr: String,
        kind: String,
        fingerprint: String,
        path: PathBuf,
    },
    #[error(
        "host key for {addr} does not match the one in {path}: server offers {kind} {fingerprint}"
    )]
    HostKeyMismatch {
        addr: String,
        kind: String,
        fingerprint: String,
        path: PathBuf,
    },
    #[error("public key authentication as {user}@{addr} with {identity} failed: {reason}")]
    Auth {
        user: String,
        addr: String,
        identity: PathBuf,
        reason: String,
    },
    #[error("ssh to {addr}: {what}: {source}")]
    Protocol {
        addr: String,
        what: String,
        source: ssh2::Error,
    },
    #[error("ssh to {addr}: {what}: {source}")]
    Io {
        addr: String,
        what: String,
        source: io::Error,
    },
    /// The node stopped answering keepalives during an attached command.
    #[error("ssh to {addr}: no answer for {after:?} (keepalives unanswered)")]
    Silent { addr: String, after: Duration },
    #[error("ssh to {addr}: `{command}` did not finish within {timeout:?}")]
    Timeout {
        addr: String,
        command: String,
        timeout: Duration,
    },
    #[error("upload to {addr}:{path} failed: {reason}")]
    Upload {
        addr: String,
        path: String,
        reason: String,
    },
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteExit {
    Code(i32),
    /// Signal name without `SIG`, as the server reports it (`TERM`).
    Signal(String),
}

impl RemoteExit {
    /// The shell's view: the code, or 128 + the signal number (255 for a signal not known here).
    pub fn code(&self) -> i32 {
        match self {
            RemoteExit::Code(c) => *c,
            RemoteExit::Signal(s) => nix::sys::signal::Signal::from_str(&format!("SIG{s}"))
                .map(|sig| 128 + sig as i32)
                .unwrap_or(255),
        }
    }
}

pub struct RemoteOutput {
    pub exit: RemoteExit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Local fds a remote command is attached to; `stdin: None` means EOF at once.
pub struct AttachedIo {
    pub stdin: Option<RawFd>,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// A remote terminal of (columns, rows): the command's stdout and stderr then both arrive
    /// on `stdout`, as from any terminal.
    pub pty: Option<(u32, u32)>,
    /// With `pty`: an fd that turns readable when the local terminal (`stdin`) was resized (a
    /// signalfd for SIGWINCH); the remote terminal then gets the new size.
    pub resize: Option<RawFd>,
    /// Send SSH keepalives and give up with `SshError::Silent` once the node has not answered
    /// for this long (the node failed: `cluster.node_timeout`).
    pub silence: Option<Duration>,
}

/// An authenticated connection. Calls are serialized by a lock: libssh2's blocking mode is
/// per session and commands switch it, so `ssh2::Session` is never used by two threads at once
/// (a long `run_attached` holds back every other call on the same session).
pub struct SshSession {
    sess: Session,
    /// The socket libssh2 owns, kept to poll its fd.
    sock: TcpStream,
    addr: String,
    timeout: Duration,
    lock: Mutex<()>,
}

impl SshSession {
    pub fn connect(t: &SshTarget) -> Result<SshSession, SshError> {
        let addr = t.addr();
        // before the network: a missing file is a configuration error, not a node problem
        let known = read_known_hosts(t)?;
        let sock = tcp_connect(t)?;
        let proto = |what: &str| {
            let addr = addr.clone();
            let what = what.to_string();
            move |source| SshError::Protocol { addr, what, source }
        };

        let mut sess = Session::new().map_err(proto("cannot create session"))?;
        sess.set_timeout(millis(t.timeout));
        let algs = hostkey::algorithms_for(&known, &t.host, t.port);
        if !algs.is_empty() {
            if let Err(e) = sess.method_pref(MethodType::HostKey, &algs) {
                debug!("ssh {addr}: host key algorithms {algs} not usable: {e}");
            }
        }
        let clone = sock.try_clone().map_err(|source| SshError::Connect {
            addr: addr.clone(),
            source,
        })?;
        sess.set_tcp_stream(clone);
        sess.handshake().map_err(|source| SshError::Handshake {
            addr: addr.clone(),
            source,
        })?;
        check_host_key(&sess, t)?;

        // only the key file: no agent, no password, nothing interactive
        let auth_err = |reason: String| SshError::Auth {
            user: t.user.clone(),
            addr: addr.clone(),
            identity: t.identity.clone(),
            reason,
        };
        if !t.identity.exists() {
            return Err(auth_err("identity file does not exist".into()));
        }
        sess.userauth_pubkey_file(&t.user, None, &t.identity, None)
            .map_err(|e| auth_err(e.message().to_string()))?;
        if !sess.authenticated() {
            return Err(auth_err("server did not accept the key".into()));
        }
        debug!("ssh {addr}: connected as {}", t.user);
        Ok(SshSession {
            sess,
            sock,
            addr,
            timeout: t.timeout,
            lock: Mutex::new(()),
        })
    }

    /// Run argv on the remote (each argument quoted with shell::command_line, so
    /// LC_ALL=C.UTF-8), feed `stdin` then EOF, collect stdout and stderr separately; give up
    /// after `timeout` (the remote command is then left to sshd, which closes its pipes).
    pub fn run(
        &self,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<RemoteOutput, SshError> {
        let _one = self.serialize();
        let line = shell::command_line(argv);
        debug!("ssh {}: {line}", self.addr);
        let t0 = Instant::now();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let exit = pump::Pump {
            ssh: self,
            line: &line,
            deadline: Some((Instant::now() + timeout, timeout)),
            pty: None,
            silence: None,
            heard: std::cell::Cell::new(Instant::now()),
        }
        .exec(
            pump::Input::Bytes(stdin),
            pump::Sink::Buf(&mut stdout),
            pump::Sink::Buf(&mut stderr),
        );
        counted::record(&counted::label(argv), t0, exit.as_ref(), true);
        let exit = exit?;
        debug!("ssh {}: {line}: {exit:?}", self.addr);
        Ok(RemoteOutput {
            exit,
            stdout,
            stderr,
        })
    }

    /// Run argv with its stdio wired to local fds until it ends: bytes from `io.stdin` go to the
    /// remote stdin (EOF forwarded when the local fd hits EOF), remote stdout → io.stdout,
    /// remote stderr → io.stderr; with `io.pty` a remote terminal of that size. No time limit. Returns as soon as the remote command
    /// has ended, even if the local stdin never closes.
    pub fn run_attached(&self, argv: &[String], io: AttachedIo) -> Result<RemoteExit, SshError> {
        let _one = self.serialize();
        let line = shell::command_line(argv);
        debug!("ssh {}: attached: {line}", self.addr);
        let t0 = Instant::now();
        let exit = pump::Pump {
            ssh: self,
            line: &line,
            deadline: None,
            pty: io.pty,
            silence: io.silence,
            heard: std::cell::Cell::new(Instant::now()),
        }
        .with_resize(io.resize, io.stdin)
        .exec(
            pump::Input::Fd(io.stdin),
            pump::Sink::Fd(io.stdout),
            pump::Sink::Fd(io.stderr),
        );
        let call = format!("{} attached", counted::label(argv));
        counted::record(&call, t0, exit.as_ref(), false);
        let exit = exit?;
        debug!("ssh {}: attached: {line}: {exit:?}", self.addr);
        Ok(exit)
    }

    /// Write `len` bytes from `src` to `remote_path` with `mode`, by sftp to
    /// `<path>.tmp.<pid>` and then `mv -f`, so readers never see a partial file
    /// (OpenSSH's sftp rename refuses to replace an existing file).
    pub fn upload(
        &self,
        remote_path: &str,
        src: &mut dyn Read,
        len: u64,
        mode: i32,
    ) -> Result<(), SshError> {
        let tmp = format!("{remote_path}.tmp.{}", std::process::id());
        debug!("ssh {}: upload {len} bytes to {remote_path}", self.addr);
        let fail = |reason: String| SshError::Upload {
            addr: self.addr.clone(),
            path: remote_path.to_string(),
            reason,
        };
        {
            let _one = self.serialize();
            let t0 = Instant::now();
            let written = self
                .sess
                .sftp()
                .map_err(|e| format!("cannot start sftp: {e}"))
                .and_then(|sftp| {
                    let w = write_remote_file(&sftp, Path::new(&tmp), src, len, mode);
                    if w.is_err() {
                        let _ = sftp.unlink(Path::new(&tmp));
                    }
                    w
                });
            let failure = written
                .as_ref()
                .err()
                .map(|_| crate::opstats::Reason::Other);
            crate::opstats::backend_call("ssh", "sftp upload", t0.elapsed(), failure);
            written.map_err(fail)?;
        }
        let mv = ["mv", "-f", "--", &tmp, remote_path].map(String::from);
        let out = self.run(&mv, b"", self.timeout.max(Duration::from_secs(10)))?;
        if out.exit != RemoteExit::Code(0) {
            let _ = self.run(
                &["rm", "-f", "--", &tmp].map(String::from),
                b"",
                self.timeout,
            );
            return Err(fail(format!(
                "mv to its place: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn serialize(&self) -> MutexGuard<'_, ()> {
        // a panic mid-call leaves nothing a later call would trip over
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        // a clean goodbye, so the node's sshd does not log a dropped connection
        let _guard = self.serialize();
        let _ = self.sess.disconnect(None, "done", None);
    }
}

fn millis(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

fn tcp_connect(t: &SshTarget) -> Result<TcpStream, SshError> {
    let addr = t.addr();
    let addrs = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|source| SshError::Resolve {
            addr: addr.clone(),
            source,
        })?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, t.timeout) {
            Ok(s) => {
                // commands are small request/response exchanges
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(SshError::Connect { addr, source: last })
}

fn read_known_hosts(t: &SshTarget) -> Result<String, SshError> {
    std::fs::read_to_string(&t.known_hosts).map_err(|e| SshError::KnownHostsFile {
        addr: t.addr(),
        path: t.known_hosts.clone(),
        reason: e.to_string(),
    })
}

fn check_host_key(sess: &Session, t: &SshTarget) -> Result<(), SshError> {
    let addr = t.addr();
    let file_err = |reason: String| SshError::KnownHostsFile {
        addr: addr.clone(),
        path: t.known_hosts.clone(),
        reason,
    };
    let (blob, _) = sess
        .host_key()
        .ok_or_else(|| file_err("server sent no host key".into()))?;
    let mut kh = sess.known_hosts().map_err(|e| file_err(e.to_string()))?;
    kh.read_file(&t.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| file_err(e.to_string()))?;
    let kind = hostkey::key_type(blob);
    let fingerprint = hostkey::fingerprint(blob);
    let path = t.known_hosts.clone();
    match kh.check_port(&t.host, t.port, blob) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(SshError::HostKeyMismatch {
            addr,
            kind,
            fingerprint,
            path,
        }),
        CheckResult::NotFound => Err(SshError::UnknownHostKey {
            addr,
            kind,
            fingerprint,
            path,
        }),
        CheckResult::Failure => Err(file_err(format!(
            "cannot check {kind} {fingerprint} against it"
        ))),
    }
}

fn write_remote_file(
    sftp: &ssh2::Sftp,
    path: &Path,
    src: &mut dyn Read,
    len: u64,
    mode: i32,
) -> Result<(), String> {
    let flags = OpenFlags::WRITE | OpenFlags::TRUNCATE;
    let mut f = sftp
        .open_mode(path, flags, 0o600, OpenType::File)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let copied = io::copy(&mut src.take(len), &mut f)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    if copied != len {
        return Err(format!("source ended after {copied} of {len} bytes"));
    }
    // after the write: the mode given at open is cut by the remote umask
    let stat = ssh2::FileStat {
        size: None,
        uid: None,
        gid: None,
        perm: Some(mode as u32),
        atime: None,
        mtime: None,
    };
    f.setstat(stat)
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    f.close()
        .map_err(|e| format!("closing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_shell_codes() {
        assert_eq!(RemoteExit::Code(3).code(), 3);
        assert_eq!(RemoteExit::Signal("TERM".into()).code(), 143);
        assert_eq!(RemoteExit::Signal("KILL".into()).code(), 137);
        assert_eq!(RemoteExit::Signal("NOPE".into()).code(), 255);
    }

    #[test]
    fn host_defaults_to_the_node() {
        let mut cfg = SshConfig {
            host: String::new(),
            port: 2222,
            user: "root".into(),
            identity: "/k".into(),
            known_hosts: "/kh".into(),
            timeout: 7,
            nodes: Default::default(),
        };
        let t = SshTarget::from_config(&cfg, "pve1");
        assert_eq!((t.host.as_str(), t.port), ("pve1", 2222));
        assert_eq!(t.timeout, Duration::from_secs(7));
        assert_eq!(t.addr(), "pve1:2222");
        cfg.host = "10.0.0.5".into();
        assert_eq!(SshTarget::from_config(&cfg, "pve1").host, "10.0.0.5");
    }

    #[test]
    fn override_then_cluster_then_host() {
        let mut cfg = SshConfig {
            host: "10.0.0.5".into(),
            port: 22,
            ..SshConfig::default()
        };
        cfg.nodes.insert("pve2".into(), "10.0.0.7:2200".into());
        cfg.nodes.insert("pve3".into(), "pve3.example".into());
        let addr = |cfg: &SshConfig, node: &str, ip: Option<&str>| {
            SshTarget::for_node(cfg, node, ip).addr()
        };
        assert_eq!(addr(&cfg, "pve2", Some("192.168.1.2")), "10.0.0.7:2200");
        assert_eq!(addr(&cfg, "pve3", Some("192.168.1.3")), "pve3.example:22");
        assert_eq!(addr(&cfg, "pve1", Some("192.168.1.1")), "192.168.1.1:22");
        assert_eq!(addr(&cfg, "pve1", None), "10.0.0.5:22");
        assert_eq!(addr(&cfg, "pve1", Some("")), "10.0.0.5:22");
        cfg.host.clear();
        assert_eq!(addr(&cfg, "pve1", None), "pve1:22");
        assert!(SshTarget::has_override(&cfg, "pve2"));
        assert!(!SshTarget::has_override(&cfg, "pve1"));
    }

    #[test]
    fn a_session_may_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<SshSession>();
    }
}
