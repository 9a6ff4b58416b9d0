//! The shim: the local process whose pid callers see (docs/architecture.md).
//!
//! `create` double-forks it, so it is re-parented to conmon (a subreaper) or init. It keeps the
//! container's stdio, waits on `<state>/shim.sock` for `start`, launches the workload in the CT,
//! relays signals to it, and when it exits stops the CT and exits with the workload's status
//! (128+N for signal N), which conmon records as the container's exit code.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::access::{CtAccess, Workload};
use crate::backend::cgroup::CtCgroup;
use crate::backend::Backend;
use crate::process::Target;
use crate::procexit::ExitWatch;
use crate::pve::Vmid;
use crate::state::ProcRef;
use crate::sys::fork::{close_other_fds, daemonize};
use crate::sys::signals::{reap_any, relay_until_exit, signal_fd, wait_any_child_exit, Taken};

pub const SOCKET: &str = "shim.sock";

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error("shim: {0}")]
    Refused(String),
}

fn sys(what: &str) -> impl FnOnce(std::io::Error) -> ShimError + '_ {
    move |source| ShimError::Sys {
        what: what.to_string(),
        source,
    }
}

enum Served {
    Started(Pid),
    /// Launch failed; the shim ends with this code.
    Failed(i32),
    Ignored,
}

/// Everything the shim needs, captured before the fork.
pub struct Shim {
    pub vmid: Vmid,
    pub target: Target,
    pub process: Process,
    pub backend: Box<dyn Backend>,
    /// How the CT's processes are reached (src/access/).
    pub access: Box<dyn CtAccess>,
    /// For the stand-in of a workload on a remote node, which makes its own connections.
    pub config: crate::config::Config,
    /// The pty slave for the workload, held until it runs.
    pub console: Option<OwnedFd>,
    /// Where `oom` is written when the CT's OOM killer struck.
    pub bundle: PathBuf,
    /// Set in the UTS namespace config.json names by path (runc does; LXC only names a UTS
    /// namespace of its own).
    pub hostname: Option<String>,
    /// The init's setup options (a remote CT's tmpfs and mqueue mounts, sysctls).
    pub setup: Vec<String>,
    /// The container's state dir: where a CT that moved to another node is recorded.
    pub dir: PathBuf,
}

/// A unix socket path that fits sun_path however deep the state directory is.
fn short_path(dir: &std::fs::File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd()))
}

/// Bind the start socket in `dir` (before the fork, so `start` can never race the shim).
pub fn bind(dir: &Path) -> Result<UnixListener, ShimError> {
    let d = std::fs::File::open(dir).map_err(sys("open state dir"))?;
    UnixListener::bind(short_path(&d)).map_err(sys("bind shim socket"))
}

/// Fork the shim (double fork: the intermediate exits, so the shim is re-parented to the nearest
/// subreaper). Returns the shim's pid. `keep` are fds besides stdio and preserved fds to keep open.
pub fn spawn(shim: Shim, listener: UnixListener, keep: &[RawFd]) -> Result<i32, ShimError> {
    daemonize(move || shim.run(listener, keep)).map_err(sys("starting the shim"))
}

impl Shim {
    fn run(mut self, listener: UnixListener, keep: &[RawFd]) -> i32 {
        let _ = std::env::set_current_dir("/");
        let first_free = 3 + self.target.preserve_fds as RawFd;
        // Move our socket above the preserved fds, then close everything create inherited.
        let listener = match nix::fcntl::fcntl(
            listener.as_raw_fd(),
            nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(first_free),
        ) {
            Ok(fd) => {
                drop(listener);
                // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
                unsafe { UnixListener::from_raw_fd(fd) }
            }
            Err(_) => listener,
        };
        let console: Vec<RawFd> = self.console.iter().map(|c| c.as_raw_fd()).collect();
        close_other_fds(
            first_free,
            &[&[listener.as_raw_fd()], keep, &console].concat(),
        );
        let init = &CtProcs::of(self.vmid, self.target.init_pid);
        // Subscribed in the host's network namespace (the only one the connector serves) and
        // before the init can exit.
        let watch = self.access.watch_exit(&self.target, self.vmid);
        if let Err(e) = self.access.join_pod(&self.target, self.hostname.as_deref()) {
            log::error!("shim: {e}");
            return self.finish(1, init);
        }
        let Some(mut sfd) = signal_fd() else {
            return self.finish(1, init);
        };
        let workload = match self.wait_for_start(&listener, &mut sfd, init, watch.as_ref()) {
            Ok(pid) => pid,
            Err(code) => return self.finish(code, init),
        };
        drop(listener);
        // The workload holds the terminal now; our copy would keep it open after it exits.
        drop(self.console.take());
        let code = match (&watch, &init.init) {
            (Some(w), Some(pidfd)) => relay_until_ct_exit(&mut sfd, w, pidfd),
            _ => self.relay_following(&mut sfd, workload),
        };
        let code = self.finish(code, init);
        let f = self.follower();
        let cfg = f.current_config().unwrap_or_else(|| self.config.clone());
        f.audit(&cfg, "exit", &cfg.node_name(), Some(code), None);
        code
    }

    /// Created phase: serve `start`, or end on a termination signal.
    fn wait_for_start(
        &self,
        listener: &UnixListener,
        sfd: &mut SignalFd,
        ct: &CtProcs,
        watch: Option<&ExitWatch>,
    ) -> Result<Pid, i32> {
        let init = ct.init.as_ref();
        loop {
            let mut fds = vec![
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            ];
            // The CT stopped under us (an admin's `pct stop`): the container is gone.
            fds.extend(init.map(|i| PollFd::new(i.as_fd(), PollFlags::POLLIN)));
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            if fds
                .get(2)
                .and_then(|f| f.revents())
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                log::error!("CT {}: its init exited before start", self.vmid);
                return Err(128 + Signal::SIGKILL as i32);
            }
            if fds[1]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                if let Ok(Some(info)) = sfd.read_signal() {
                    match Signal::try_from(info.ssi_signo as i32) {
                        Ok(Signal::SIGCHLD) => reap_any(),
                        Ok(
                            s @ (Signal::SIGTERM
                            | Signal::SIGINT
                            | Signal::SIGQUIT
                            | Signal::SIGHUP
                            | Signal::SIGPWR),
                        ) => return Err(128 + s as i32),
                        _ => {}
                    }
                }
            }
            if fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                if let Ok((conn, _)) = listener.accept() {
                    match self.serve(conn, watch) {
                        Served::Started(pid) => return Ok(pid),
                        Served::Failed(code) => return Err(code),
                        Served::Ignored => {}
                    }
                }
            }
        }
    }

    /// One request on the start socket.
    fn serve(&self, conn: UnixStream, watch: Option<&ExitWatch>) -> Served {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let mut line = String::new();
        let mut reader = BufReader::new(&conn);
        if reader.read_line(&mut line).is_err() || line.trim() != "start" {
            let _ = (&conn).write_all(b"error unknown request\n");
            return Served::Ignored;
        }
        match self.launch(watch.is_some()) {
            Ok(pid) => {
                let start = ProcRef::of(pid).map(|p| p.start_time).unwrap_or(0);
                let _ = (&conn).write_all(format!("ok {pid} {start}\n").as_bytes());
                Served::Started(Pid::from_raw(pid))
            }
            Err(e) => {
                let msg = e.to_string().replace('\n', " ");
                let _ = (&conn).write_all(format!("error {msg}\n").as_bytes());
                log::error!("start: {msg}");
                // A workload that failed to exec has exited already (as the CT's init, or as
                // our child); report its status.
                let code = match watch {
                    Some(w) => wait_watched_exit(w, 5000),
                    None => wait_any_child_exit(),
                };
                Served::Failed(code.unwrap_or(1))
            }
        }
    }

    /// What src/follow.rs needs to start the workload again on another node.
    fn follower(&self) -> crate::follow::Follower<'_> {
        crate::follow::Follower {
            dir: &self.dir,
            vmid: self.vmid,
            access: self.access.as_ref(),
            process: &self.process,
            target: &self.target,
            setup: &self.setup,
        }
    }

    /// Relay signals to the workload's stand-in until it exits; when its CT moved to another
    /// node meanwhile, follow it there (src/follow.rs).
    fn relay_following(&self, sfd: &mut SignalFd, mut workload: Pid) -> i32 {
        loop {
            let code = relay_until_exit(sfd, workload);
            let next = crate::follow::after_exit(&self.follower(), code)
                .or_else(|| crate::failover::after_exit(&self.follower(), code));
            match next {
                Some(pid) => workload = Pid::from_raw(pid),
                None => return code,
            }
        }
    }

    /// Run the workload: as the CT's pid 1 (`pid1`: its exit can be watched), entered next to
    /// the idle init otherwise, or through a stand-in for a remote CT (on the node its state
    /// names now: it may have been migrated since `create`).
    fn launch(&self, pid1: bool) -> Result<i32, String> {
        let moved = crate::follow::moved(&self.follower(), &self.config);
        if let Some(cfg) = &moved {
            crate::follow::ready_on(&self.follower(), cfg)?;
        }
        self.access.launch(
            &Workload {
                vmid: self.vmid,
                target: &self.target,
                process: &self.process,
                config: moved.as_ref().unwrap_or(&self.config),
                console: self.console.as_ref().map(|c| c.as_raw_fd()),
                setup: &self.setup,
            },
            pid1,
        )
    }

    /// Stop the CT (its init is idle) and hand back the exit code.
    fn finish(&self, code: i32, ct: &CtProcs) -> i32 {
        // CRI-O reports OOMKilled when `<bundle>/oom` exists; conmon's own watcher looks at our
        // cgroup, not the CT's, so the shim tells.
        let oom_event = ct.oom_events.as_ref().is_some_and(|e| {
            let mut n = [0u8; 8];
            nix::unistd::read(e.as_raw_fd(), &mut n).is_ok_and(|r| r == 8)
        });
        if let (Some(cg), Some(base)) = (&ct.cgroup, ct.oom_base) {
            let oom_killed = || oom_event || cg.oom_kills().is_some_and(|n| n > base);
            // The kernel counts an OOM kill after it sent the SIGKILL: a victim's exit can be
            // reported first. Give the count a moment, on a KILL only.
            let mut seen = oom_killed();
            for _ in 0..10 {
                if seen || code != 128 + libc::SIGKILL {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
                seen = oom_killed();
            }
            if seen {
                let oom = self.bundle.join("oom");
                if let Err(e) = std::fs::write(&oom, b"") {
                    log::error!("{}: {e}", oom.display());
                }
            }
        }
        // The workload was the CT's pid 1 and is gone: the CT goes down by itself, and the
        // caller must not wait for its teardown (lxcfs's post-stop hook alone sleeps half a
        // second). `delete` copes with a CT still on its way down.
        if ct.init.as_ref().is_some_and(|i| wait_exit(i, 0)) {
            return code;
        }
        // Proxmox reports the CT stopped once its monitor (lxc-start) is gone; the next caller
        // (`delete`) must not find it half-way down.
        let ended = ct.init.as_ref().is_some_and(end_init);
        if ended && ct.monitor.as_ref().is_some_and(|m| wait_exit(m, 10_000)) {
            return code;
        }
        if let Some(net) = &ct.host_net {
            let _ = nix::sched::setns(net, nix::sched::CloneFlags::CLONE_NEWNET);
        }
        // A CT that moved is stopped on its new node.
        let moved_cfg = crate::follow::moved(&self.follower(), &self.config);
        let moved = moved_cfg.as_ref().map(crate::backend::from_config);
        let backend = moved.as_deref().unwrap_or(self.backend.as_ref());
        let cfg = moved_cfg.as_ref().unwrap_or(&self.config);
        if !crate::failover::before_stop(cfg, backend, self.vmid, code) {
            return code;
        }
        if let Err(e) = backend.stop(self.vmid) {
            log::error!("stopping CT {}: {e}", self.vmid);
        }
        code
    }
}

/// The CT's init and its LXC monitor (`lxc-start`, the init's parent), held by pidfd.
struct CtProcs {
    init: Option<OwnedFd>,
    monitor: Option<OwnedFd>,
    /// The CT's cgroups and their OOM-kill count when the shim started.
    cgroup: Option<CtCgroup>,
    oom_base: Option<u64>,
    /// Signalled on each OOM of a v1 memory cgroup of the CT (`CtCgroup::oom_events`).
    oom_events: Option<OwnedFd>,
    /// The host's network namespace, taken before the shim joins the pod's: Proxmox sees a CT
    /// as running through LXC's socket there, so `pct` must run there.
    host_net: Option<std::fs::File>,
}

impl CtProcs {
    fn of(vmid: Vmid, init_pid: i32) -> CtProcs {
        // A CT on another node (no local init): only its backend can see or stop it.
        if init_pid == 0 {
            return CtProcs {
                init: None,
                monitor: None,
                cgroup: None,
                oom_base: None,
                oom_events: None,
                host_net: None,
            };
        }
        let ppid = crate::sys::proc::ppid(init_pid);
        let cgroup = CtCgroup::of(vmid, init_pid).ok();
        let oom_base = cgroup.as_ref().and_then(CtCgroup::oom_kills);
        let oom_events = cgroup.as_ref().and_then(CtCgroup::oom_events);
        CtProcs {
            init: crate::sys::proc::pidfd_open(init_pid),
            monitor: ppid
                .filter(|p| *p > 1)
                .and_then(crate::sys::proc::pidfd_open),
            cgroup,
            oom_base,
            oom_events,
            host_net: std::fs::File::open("/proc/self/ns/net").ok(),
        }
    }
}

/// Ask the idle init to exit (it does on SIGTERM): a CT whose pid 1 ends is stopped, as Proxmox
/// sees any CT whose init exits, and this is faster than `pct stop` (`lxc-stop` polls). True once
/// the init is gone; false sends the caller to `pct stop`.
fn end_init(pidfd: &OwnedFd) -> bool {
    if !send_signal(pidfd, libc::SIGTERM) {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    wait_exit(pidfd, 3000)
}

/// Running phase of a workload that is the CT's pid 1: relay signals to it, return its exit code
/// as soon as the kernel reports it (the CT's own teardown, e.g. lxcfs's post-stop hook, goes on
/// without us).
fn relay_until_ct_exit(sfd: &mut SignalFd, watch: &ExitWatch, pidfd: &OwnedFd) -> i32 {
    loop {
        let mut fds = [
            PollFd::new(watch.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready = |i: usize| {
            fds[i]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
        };
        let (exited, signalled, gone) = (ready(0), ready(1), ready(2));
        if exited {
            match watch.read() {
                Ok(Some(code)) => return code,
                Ok(None) => {}
                Err(e) => log::warn!("process events: {e}"),
            }
        }
        if gone {
            // Gone, but no event (lost to a full socket buffer): the status is unknown.
            return wait_watched_exit(watch, 100).unwrap_or_else(|| {
                log::error!("the workload exited but its status was lost");
                255
            });
        }
        if signalled {
            if let Ok(Some(info)) = sfd.read_signal() {
                match crate::sys::signals::taken(&info) {
                    Taken::Child => reap_any(),
                    Taken::Relay(sig) => {
                        send_signal(pidfd, sig as i32);
                    }
                    Taken::Ignore => {}
                }
            }
        }
    }
}

/// The watched process's exit code, waiting at most `millis`.
fn wait_watched_exit(watch: &ExitWatch, millis: u16) -> Option<i32> {
    let deadline = std::time::Instant::now() + Duration::from_millis(millis as u64);
    while std::time::Instant::now() < deadline {
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::POLLIN)];
        if let Ok(n) = poll(&mut fds, PollTimeout::from(millis)) {
            if n > 0 {
                if let Ok(Some(code)) = watch.read() {
                    return Some(code);
                }
            }
        }
    }
    None
}

fn send_signal(pidfd: &OwnedFd, sig: i32) -> bool {
    // SAFETY: pidfd_send_signal on a valid pidfd with no siginfo.
    unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0, 0) == 0 }
}

/// Wait until the process behind `pidfd` has exited (a pidfd turns readable then).
fn wait_exit(pidfd: &OwnedFd, millis: u16) -> bool {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(millis)), Ok(n) if n > 0)
}

/// Client side of `start`: ask the shim to run the workload; returns its pid and start time.
pub fn request_start(dir: &Path, timeout: Duration) -> Result<ProcRef, ShimError> {
    let d = std::fs::File::open(dir).map_err(sys("open state dir"))?;
    let conn = UnixStream::connect(short_path(&d)).map_err(sys("connect to shim"))?;
    conn.set_read_timeout(Some(timeout))
        .map_err(sys("shim socket"))?;
    (&conn)
        .write_all(b"start\n")
        .map_err(sys("write to shim"))?;
    let mut line = String::new();
    BufReader::new(&conn)
        .read_line(&mut line)
        .map_err(sys("read from shim"))?;
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("ok ") {
        let mut it = rest.split(' ');
        let pid = it.next().and_then(|p| p.parse().ok());
        let start = it.next().and_then(|s| s.parse().ok());
        if let (Some(pid), Some(start_time)) = (pid, start) {
            return Ok(ProcRef { pid, start_time });
        }
    }
    Err(ShimError::Refused(
        line.strip_prefix("error ").unwrap_or(line).to_string(),
    ))
}
