//! Reaching the processes of a CT on this node: the runtime enters the CT's namespaces itself,
//! and the CT's init becomes the container's process (src/launch.rs) where it can.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxSeccomp, Process, Spec};

use super::{CtAccess, ExecEnd, ExecRequest, Extras, Placement, Running, Workload};
use crate::backend::{Backend, CtStatus};
use crate::config::Config;
use crate::mapping::{MapError, Mapped};
use crate::nsenter::launch;
use crate::process::Target;
use crate::procexit::ExitWatch;
use crate::pve::version::NodeCaps;
use crate::pve::Vmid;
use crate::state::{ProcRef, State};
use crate::sys::fork::close_other_fds;
use crate::sys::signals::{relay_until_exit, signal_fd, wait_any_child_exit};

/// Where the init appears inside every CT: on LXC's /dev tmpfs, so nothing is written into the
/// rootfs.
pub const INIT_IN_CT: &str = "/dev/.proxmox-lxcri-init";

pub struct Local;

impl CtAccess for Local {
    fn prepare(
        &self,
        spec: &mut Spec,
        process: &mut Process,
        rootfs: &Path,
        cfg: &Config,
    ) -> anyhow::Result<()> {
        // Decided now, before any CT exists.
        crate::apparmor::settle(process, cfg.strict).map_err(anyhow::Error::msg)?;
        spec.set_process(Some(process.clone()));
        // Before LXC opens any of them.
        crate::rootfs::refuse_special_files(spec, rootfs).map_err(anyhow::Error::msg)
    }

    fn placement(&self, node: &NodeCaps) -> Placement {
        Placement {
            init_in_ct: INIT_IN_CT,
            force_unprivileged: false,
            node: node.clone(),
            sees_node_devices: true,
        }
    }

    fn adapt(
        &self,
        _spec: &Spec,
        _bundle: &Path,
        mapped: Mapped,
        _cfg: &Config,
        _backend: &dyn Backend,
        _node: &NodeCaps,
    ) -> Result<(Mapped, Extras), MapError> {
        Ok((mapped, Extras::default()))
    }

    fn tracks_template(&self) -> bool {
        false
    }

    fn owns_cgroups_path(&self) -> bool {
        true
    }

    fn started(
        &self,
        backend: &dyn Backend,
        vmid: Vmid,
        _extras: &Extras,
        _seccomp: Option<&LinuxSeccomp>,
    ) -> anyhow::Result<Running> {
        match backend.status(vmid)? {
            CtStatus::Running { init_pid } => Ok(Running {
                init_pid: Some(init_pid),
                monitor: monitor_of(init_pid),
            }),
            CtStatus::Stopped => bail!("CT {vmid} stopped right after start"),
        }
    }

    fn runs_hooks(&self) -> bool {
        true
    }

    fn pty(&self, init_pid: i32) -> anyhow::Result<(OwnedFd, OwnedFd)> {
        Ok(crate::console::open_pty_in(init_pid)?)
    }

    fn ns_paths(
        &self,
        spec: &Spec,
        state_root: &Path,
    ) -> anyhow::Result<BTreeMap<String, PathBuf>> {
        super::pod::ns_paths(spec, state_root)
    }

    fn exec(&self, req: ExecRequest) -> anyhow::Result<ExecEnd> {
        let id = &req.st.id;
        let mut process = req.process;
        crate::apparmor::settle(&mut process, req.st.config.strict)
            .map_err(|e| anyhow!("exec {id}: {e}"))?;
        let terminal = process.terminal() == Some(true);
        if terminal && req.detach && req.console_socket.is_none() {
            bail!("exec {id}: process.terminal needs --console-socket");
        }
        let target = Target {
            init_pid: req
                .st
                .init_pid
                .ok_or_else(|| anyhow!("container {id} has no init pid"))?,
            ns_paths: super::pod::ns_paths(req.spec, req.state_root)?,
            preserve_fds: req.preserve_fds,
            readonly_root: false,
            sysctls: Default::default(),
            seccomp: req.spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
            console: None,
            new_session: false,
        };
        if req.detach {
            return detached(&target, process, req.console_socket, req.log_fd, id);
        }
        let mut sfd = signal_fd().ok_or_else(|| anyhow!("exec {id}: signalfd failed"))?;
        let (master, slave) = match terminal {
            true => foreground_pty(&target, req.console_socket, id)?,
            false => (None, None),
        };
        let target = Target {
            console: slave.as_ref().map(|s| s.as_raw_fd()),
            ..target
        };
        let pid = match launch(&target, &process) {
            Ok(pid) => pid,
            Err(e) => {
                // The process that failed to exec is our child: reap it, or it would hold the
                // CT's pid namespace open (a CT cannot stop while a zombie of it waits for its
                // parent).
                wait_any_child_exit();
                bail!("exec {id}: {e}")
            }
        };
        // The process holds the terminal now; our copy would keep the master from seeing its
        // end.
        drop(slave);
        Ok(ExecEnd::Exited(match master {
            Some(m) => crate::console::relay::relay(m, Pid::from_raw(pid), &mut sfd),
            None => relay_until_exit(&mut sfd, Pid::from_raw(pid)),
        }))
    }

    fn signal_all(&self, st: &State, sig: Signal, but: i32) {
        for pid in super::signal::ct_pids(st).into_iter().filter(|p| *p != but) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    fn watch_exit(&self, target: &Target, vmid: Vmid) -> Option<ExitWatch> {
        if !crate::launch::can_be_pid1(target) {
            return None;
        }
        match ExitWatch::new(target.init_pid) {
            Ok(w) => Some(w),
            Err(e) => {
                // Without it the workload cannot be pid 1 (its status would be lost): it is
                // entered next to the idle init instead.
                log::warn!(
                    "CT {vmid}: no process-events connector ({e}): the workload will not be pid 1"
                );
                None
            }
        }
    }

    fn join_pod(&self, target: &Target, hostname: Option<&str>) -> Result<(), String> {
        crate::nsenter::join_pod_namespaces(target)?;
        if let Some(h) = hostname {
            nix::unistd::sethostname(h).map_err(|e| format!("hostname {h}: {e}"))?;
        }
        Ok(())
    }

    fn launch(&self, w: &Workload, pid1: bool) -> Result<i32, String> {
        if pid1 {
            crate::nsenter::write_sysctls(&w.target.sysctls)?;
            crate::launch::launch(w.target, w.process)?;
            return Ok(w.target.init_pid);
        }
        launch(w.target, w.process).map_err(|e| e.to_string())
    }
}

/// The terminal of a foreground exec, from the CT's devpts: its master goes to
/// `--console-socket` or, without one, stays here for the relay to the caller's stdio (CRI-O's
/// `exec -it`); (master to relay, slave).
fn foreground_pty(
    target: &Target,
    console_socket: Option<&Path>,
    id: &str,
) -> anyhow::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    let (master, slave) =
        crate::console::open_pty_in(target.init_pid).map_err(|e| anyhow!("exec {id}: {e}"))?;
    if let Some(socket) = console_socket {
        crate::console::send_master(socket, &master)?;
        return Ok((None, Some(slave)));
    }
    // The caller's size first; `process.consoleSize` is applied over it as the process starts.
    if let Some(fd) = crate::console::relay::caller_tty() {
        crate::console::relay::copy_size(fd, slave.as_raw_fd());
    }
    Ok((Some(master), Some(slave)))
}

fn detached(
    target: &Target,
    process: Process,
    console_socket: Option<&Path>,
    log_fd: Option<RawFd>,
    _id: &str,
) -> anyhow::Result<ExecEnd> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut keep: Vec<RawFd> = log_fd.into_iter().collect();
    // With a terminal the pty comes from the CT's devpts, as for `create`.
    let console = match (console_socket, process.terminal() == Some(true)) {
        (Some(socket), true) => {
            let (master, slave) = crate::console::open_pty_in(target.init_pid)?;
            crate::console::send_master(socket, &master)?;
            Some(slave)
        }
        _ => None,
    };
    keep.extend(console.iter().map(|c| c.as_raw_fd()));
    let target = Target {
        console: console.as_ref().map(|c| c.as_raw_fd()),
        ..target.clone()
    };
    let pid = crate::sys::fork::daemonize(move || {
        // run_exec closes the terminal once the process holds it.
        let _ = console.map(|c| c.into_raw_fd());
        run_exec(&target, &process, w, &keep)
    })?;
    Ok(ExecEnd::Detached { report: r, pid })
}

/// The exec shim (`exec --detach`): launches `process` in the CT at once, reports the launch on
/// `report` (`ok` or `error <msg>`), relays signals and exits with the process's status. It does
/// not stop the CT.
pub fn run_exec(target: &Target, process: &Process, report: OwnedFd, keep: &[RawFd]) -> i32 {
    let _ = std::env::set_current_dir("/");
    let first_free = 3 + target.preserve_fds as RawFd;
    close_other_fds(first_free, &[&[report.as_raw_fd()], keep].concat());
    let mut report = std::fs::File::from(report);
    let Some(mut sfd) = signal_fd() else {
        let _ = report.write_all(b"error shim: signalfd failed\n");
        return 1;
    };
    match launch(target, process) {
        Ok(pid) => {
            let _ = report.write_all(b"ok\n");
            drop(report);
            // The process holds the terminal now; our copy would keep it open after it exits.
            if let Some(fd) = target.console {
                let _ = nix::unistd::close(fd);
            }
            relay_until_exit(&mut sfd, Pid::from_raw(pid))
        }
        Err(e) => {
            let _ = report
                .write_all(format!("error {}\n", e.to_string().replace('\n', " ")).as_bytes());
            wait_any_child_exit().unwrap_or(1)
        }
    }
}

/// LXC's monitor: the parent of the CT's init.
fn monitor_of(init_pid: i32) -> Option<ProcRef> {
    let ppid = crate::sys::proc::ppid(init_pid)?;
    (ppid > 1).then(|| ProcRef::of(ppid)).flatten()
}
