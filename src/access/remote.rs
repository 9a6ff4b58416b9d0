//! Reaching the processes of a CT on another node: nothing of it is on this host, so the CT gets
//! the bundle's rootfs shipped as a template with our init inside, its binds copied in, and every
//! process runs through `pct exec` with a local stand-in (src/remote/proxy.rs).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxSeccomp, Process, Spec};

use super::{CtAccess, ExecEnd, ExecRequest, Extras, Placement, Running, Workload};
use crate::backend::Backend;
use crate::config::Config;
use crate::mapping::remote::{exec_argv, INIT_SHIPPED, WORKLOAD_PID};
use crate::mapping::{MapError, Mapped};
use crate::process::Target;
use crate::procexit::ExitWatch;
use crate::pve::version::NodeCaps;
use crate::pve::Vmid;
use crate::state::State;
use crate::sys::signals::{relay_until_exit, signal_fd};

pub struct Remote;

impl CtAccess for Remote {
    fn prepare(
        &self,
        spec: &mut Spec,
        _process: &mut Process,
        _rootfs: &Path,
        cfg: &Config,
    ) -> anyhow::Result<()> {
        if spec.hooks().is_some() {
            let msg = "hooks: not run for a CT on another node";
            if cfg.strict {
                bail!(msg);
            }
            log::warn!("{msg}");
        }
        Ok(())
    }

    fn placement(&self, node: &NodeCaps) -> Placement {
        Placement {
            init_in_ct: INIT_SHIPPED,
            // Templates are unpacked by an API user, who may not create privileged CTs.
            force_unprivileged: true,
            node: crate::mapping::remote::node_caps(node),
            // A remote node's devices cannot be looked at from here; Proxmox checks them.
            sees_node_devices: false,
        }
    }

    fn adapt(
        &self,
        spec: &Spec,
        bundle: &Path,
        mut mapped: Mapped,
        cfg: &Config,
        backend: &dyn Backend,
        node: &NodeCaps,
    ) -> Result<(Mapped, Extras), MapError> {
        let shipped = crate::mapping::remote::adapt(
            spec,
            bundle,
            mapped.clone(),
            cfg.network.net0(),
            cfg.strict,
            backend.writes_raw_keys(),
            node,
        )?;
        mapped.ct = shipped.ct;
        mapped.warnings = shipped.warnings;
        let extras = Extras {
            copies: shipped.copies,
            setup: shipped.setup,
        };
        Ok((mapped, extras))
    }

    fn tracks_template(&self) -> bool {
        true
    }

    fn owns_cgroups_path(&self) -> bool {
        false
    }

    fn started(
        &self,
        backend: &dyn Backend,
        vmid: Vmid,
        extras: &Extras,
        seccomp: Option<&LinuxSeccomp>,
    ) -> anyhow::Result<Running> {
        // The CT's init is never entered from here: `pct start` returning is enough (a CT that
        // stopped at once fails the first `pct exec`), and a status call would cost a Perl
        // start-up.
        crate::remote::copies::ship(backend, vmid, &extras.copies)
            .with_context(|| format!("copying bind mounts into CT {vmid}"))?;
        if let Some(profile) = seccomp {
            crate::remote::copies::ship_filter(backend, vmid, profile)
                .with_context(|| format!("copying the seccomp filter into CT {vmid}"))?;
        }
        Ok(Running {
            init_pid: None,
            monitor: None,
        })
    }

    fn runs_hooks(&self) -> bool {
        false
    }

    fn pty(&self, _init_pid: i32) -> anyhow::Result<(OwnedFd, OwnedFd)> {
        // The remote terminal is made there by `pct exec`; this is its local end.
        Ok(crate::console::open_local_pty()?)
    }

    fn ns_paths(
        &self,
        _spec: &Spec,
        _state_root: &Path,
    ) -> anyhow::Result<BTreeMap<String, PathBuf>> {
        // A remote CT joins nothing of this host's (mapping::remote refuses or warns).
        Ok(BTreeMap::new())
    }

    fn exec(&self, req: ExecRequest) -> anyhow::Result<ExecEnd> {
        let st = req.st;
        let id = &st.id;
        let process = req.process;
        let vmid = st.vmid.ok_or_else(|| anyhow!("container {id} has no CT"))?;
        // The container's filter, which create put into the CT, applies to exec'd processes too.
        let seccomp = req.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        let seccomp = seccomp.map(crate::seccomp::filter_flags);
        // With a terminal the stand-in sits on a local pty whose master goes to the caller (or,
        // for a foreground exec without a console socket, to our relay, as locally); the remote
        // process gets its own terminal of that size from `pct exec`.
        let mut relayed = None;
        let console = match (req.console_socket, process.terminal() == Some(true)) {
            (socket, true) if socket.is_some() || !req.detach => {
                let (master, slave) = crate::console::open_local_pty()?;
                if let Some(fd) = crate::console::relay::caller_tty() {
                    crate::console::relay::copy_size(fd, slave.as_raw_fd());
                }
                if let Some(size) = process.console_size() {
                    let (rows, cols) = (size.height() as u16, size.width() as u16);
                    crate::sys::tty::set_size(slave.as_raw_fd(), rows, cols);
                }
                match socket {
                    Some(socket) => crate::console::send_master(socket, &master)?,
                    None => relayed = Some(master),
                }
                Some(slave)
            }
            (None, true) => bail!("exec {id}: process.terminal needs --console-socket"),
            _ => None,
        };
        let pid_file = format!("/dev/.proxmox-lxcri-exec-{}.pid", std::process::id());
        let argv = exec_argv(&process, &pid_file, seccomp, &[]);
        if !req.detach {
            let mut sfd = signal_fd().ok_or_else(|| anyhow!("exec {id}: signalfd failed"))?;
            let tty = console.as_ref().map(|c| c.as_raw_fd());
            let pid = crate::remote::proxy::spawn(&st.config, vmid, argv, &pid_file, tty)?;
            drop(console);
            let pid = Pid::from_raw(pid);
            return Ok(ExecEnd::Exited(match relayed {
                Some(m) => crate::console::relay::relay(m, pid, &mut sfd),
                None => relay_until_exit(&mut sfd, pid),
            }));
        }
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let cfg = st.config.clone();
        let pid = crate::sys::fork::daemonize(move || {
            use std::io::Write;
            let mut w = std::fs::File::from(w);
            let tty = console.as_ref().map(|c| c.as_raw_fd());
            // Nothing of the caller's but stdio stays open: conmon waits for EOF on its pipes.
            let keep: Vec<RawFd> = [Some(w.as_raw_fd()), tty, crate::logging::fd()]
                .into_iter()
                .flatten()
                .collect();
            crate::sys::fork::close_other_fds(3, &keep);
            let Some(mut sfd) = signal_fd() else {
                let _ = w.write_all(b"error signalfd failed\n");
                return 1;
            };
            match crate::remote::proxy::spawn(&cfg, vmid, argv, &pid_file, tty) {
                Ok(p) => {
                    let _ = w.write_all(b"ok\n");
                    drop(w);
                    // The stand-in holds the terminal now.
                    drop(console);
                    relay_until_exit(&mut sfd, Pid::from_raw(p))
                }
                Err(e) => {
                    let _ = w.write_all(format!("error {e}\n").as_bytes());
                    1
                }
            }
        })?;
        Ok(ExecEnd::Detached { report: r, pid })
    }

    fn signal_all(&self, st: &State, sig: Signal, _but: i32) {
        super::signal::remote_all(st, sig);
    }

    fn watch_exit(&self, _target: &Target, _vmid: Vmid) -> Option<ExitWatch> {
        None
    }

    fn join_pod(&self, _target: &Target, _hostname: Option<&str>) -> Result<(), String> {
        // A remote CT's namespaces are not on this host; its stand-in reaches it over SSH.
        Ok(())
    }

    fn launch(&self, w: &Workload, _pid1: bool) -> Result<i32, String> {
        let argv = exec_argv(
            w.process,
            WORKLOAD_PID,
            w.target.seccomp.as_ref().map(crate::seccomp::filter_flags),
            w.setup,
        );
        crate::remote::proxy::spawn(w.config, w.vmid, argv, WORKLOAD_PID, w.console)
            .map_err(|e| format!("starting the workload's stand-in: {e}"))
    }
}
