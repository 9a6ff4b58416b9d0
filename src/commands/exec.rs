//! `exec`: run another process in a running container, the way `start` runs the first one.
//!
//! Foreground (CRI-O's streaming exec): this process is the caller's handle; the process in the CT
//! is its child, gets its stdio, receives the signals it gets, and its exit status becomes ours.
//! `--detach` (conmon's ExecSync, `podman exec`): an exec shim is forked, its pid goes to
//! `--pid-file`, and it exits with the process's status; if it is killed (conmon's `-T` timeout
//! SIGKILLs it) the process in the CT gets SIGKILL too (parent-death signal).

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process, Spec};

use super::create::{ns_paths, SPEC_COPY};
use super::Ctx;
use crate::cli::ExecArgs;
use crate::nsenter::launch;
use crate::process::Target;
use crate::shim;
use crate::state::Status;

pub fn run(ctx: &Ctx, args: &ExecArgs, log_fd: Option<RawFd>) -> anyhow::Result<()> {
    let dir = ctx.dir(&args.id)?;
    let (st, spec) = {
        let _lock = dir.lock()?;
        let st = dir.load()?;
        let spec_path = dir.file(SPEC_COPY);
        let spec = Spec::load(&spec_path).map_err(|e| anyhow!("{}: {e}", spec_path.display()))?;
        (st, spec)
    };
    match st.status() {
        Status::Running => {}
        s => bail!("cannot exec in a {s} container: {}", args.id),
    }
    let mut process = process(&spec, args)?;
    if st.init_pid.is_none() && st.config.backend != crate::config::BackendKind::Pct {
        // The container's filter, which create put into the CT, applies to exec'd processes too.
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        return remote(
            &st,
            process,
            seccomp.map(crate::seccomp::filter_flags),
            args,
        );
    }
    crate::apparmor::settle(&mut process, st.config.strict)
        .map_err(|e| anyhow!("exec {}: {e}", args.id))?;
    let terminal = process.terminal() == Some(true);
    if terminal && args.detach && args.console_socket.is_none() {
        bail!("exec {}: process.terminal needs --console-socket", args.id);
    }
    let target = Target {
        init_pid: st
            .init_pid
            .ok_or_else(|| anyhow!("container {} has no init pid", args.id))?,
        ns_paths: ns_paths(&spec, &ctx.root)?,
        preserve_fds: args.preserve_fds,
        readonly_root: false,
        sysctls: Default::default(),
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        console: None,
        new_session: false,
    };
    if args.detach {
        return detached(&target, &process, args, log_fd);
    }
    let mut sfd = crate::sys::signals::signal_fd()
        .ok_or_else(|| anyhow!("exec {}: signalfd failed", args.id))?;
    let (master, slave) = match terminal {
        true => foreground_pty(&target, args)?,
        false => (None, None),
    };
    let target = Target {
        console: slave.as_ref().map(|s| s.as_raw_fd()),
        ..target
    };
    let pid = match launch(&target, &process) {
        Ok(pid) => pid,
        Err(e) => {
            // The process that failed to exec is our child: reap it, or it would hold the CT's
            // pid namespace open (a CT cannot stop while a zombie of it waits for its parent).
            shim::wait_any_child_exit();
            bail!("exec {}: {e}", args.id)
        }
    };
    // The process holds the terminal now; our copy would keep the master from seeing its end.
    drop(slave);
    let code = match master {
        Some(m) => crate::console::relay::relay(m, Pid::from_raw(pid), &mut sfd),
        None => shim::relay_until_exit(&mut sfd, Pid::from_raw(pid)),
    };
    log::logger().flush();
    std::process::exit(code)
}

/// The terminal of a foreground exec, from the CT's devpts: its master goes to
/// `--console-socket` or, without one, stays here for the relay to the caller's stdio (CRI-O's
/// `exec -it`); (master to relay, slave).
fn foreground_pty(
    target: &Target,
    args: &ExecArgs,
) -> anyhow::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    let (master, slave) = crate::console::open_pty_in(target.init_pid)
        .map_err(|e| anyhow!("exec {}: {e}", args.id))?;
    if let Some(socket) = &args.console_socket {
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
    process: &Process,
    args: &ExecArgs,
    log_fd: Option<RawFd>,
) -> anyhow::Result<()> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut keep: Vec<RawFd> = log_fd.into_iter().collect();
    // With a terminal the pty comes from the CT's devpts, as for `create`.
    let console = match (&args.console_socket, process.terminal() == Some(true)) {
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
        shim::run_exec(&target, process, w, &keep)
    })?;
    report_and_pid_file(r, pid, args)
}

/// Wait for the exec shim's report on `r`, then write its pid to `--pid-file`.
fn report_and_pid_file(r: std::os::fd::OwnedFd, pid: i32, args: &ExecArgs) -> anyhow::Result<()> {
    let mut report = String::new();
    std::fs::File::from(r).read_to_string(&mut report)?;
    match report.trim_end().strip_prefix("error ") {
        Some(msg) => bail!("exec {}: {msg}", args.id),
        None if report.starts_with("ok") => {}
        None => bail!("exec {}: the exec shim ended without a report", args.id),
    }
    if let Some(p) = &args.pid_file {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        if let Err(e) = crate::sys::fs::write_atomic(&p, pid.to_string().as_bytes(), 0o644) {
            // Nobody would know the exec shim: end it, and the process dies with it.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            bail!("exec {}: pid file {}: {e}", args.id, p.display());
        }
    }
    Ok(())
}

/// exec in a CT on another node: a stand-in runs the process through `pct exec`; with `--detach`
/// an exec shim is its parent, as for a local exec.
fn remote(
    st: &crate::state::State,
    process: Process,
    seccomp: Option<u32>,
    args: &ExecArgs,
) -> anyhow::Result<()> {
    let vmid = st
        .vmid
        .ok_or_else(|| anyhow!("container {} has no CT", args.id))?;
    // With a terminal the stand-in sits on a local pty whose master goes to the caller (or, for a
    // foreground exec without a console socket, to our relay, as locally); the remote process
    // gets its own terminal of that size from `pct exec`.
    let mut relayed = None;
    let console = match (&args.console_socket, process.terminal() == Some(true)) {
        (socket, true) if socket.is_some() || !args.detach => {
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
        (None, true) => bail!("exec {}: process.terminal needs --console-socket", args.id),
        _ => None,
    };
    let pid_file = format!("/dev/.proxmox-lxcri-exec-{}.pid", std::process::id());
    let argv = crate::spec::remote::exec_argv(&process, &pid_file, seccomp, &[]);
    if !args.detach {
        let mut sfd = crate::sys::signals::signal_fd()
            .ok_or_else(|| anyhow!("exec {}: signalfd failed", args.id))?;
        let tty = console.as_ref().map(|c| c.as_raw_fd());
        let pid = crate::remote::proxy::spawn(&st.config, vmid, argv, &pid_file, tty)?;
        drop(console);
        let pid = Pid::from_raw(pid);
        let code = match relayed {
            Some(m) => crate::console::relay::relay(m, pid, &mut sfd),
            None => shim::relay_until_exit(&mut sfd, pid),
        };
        log::logger().flush();
        std::process::exit(code)
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
        let Some(mut sfd) = crate::sys::signals::signal_fd() else {
            let _ = w.write_all(b"error signalfd failed\n");
            return 1;
        };
        match crate::remote::proxy::spawn(&cfg, vmid, argv, &pid_file, tty) {
            Ok(p) => {
                let _ = w.write_all(b"ok\n");
                drop(w);
                // The stand-in holds the terminal now.
                drop(console);
                shim::relay_until_exit(&mut sfd, Pid::from_raw(p))
            }
            Err(e) => {
                let _ = w.write_all(format!("error {e}\n").as_bytes());
                1
            }
        }
    })?;
    report_and_pid_file(r, pid, args)
}

/// The process to run: `--process FILE`, or the container's process with runc's exec flags applied.
fn process(spec: &Spec, args: &ExecArgs) -> anyhow::Result<Process> {
    if let Some(path) = &args.process {
        let text = std::fs::read(path).with_context(|| format!("process {}", path.display()))?;
        let p: Process = serde_json::from_slice(&text)
            .map_err(|e| anyhow!("process {}: {e}", path.display()))?;
        if p.args().as_ref().map_or(true, |a| a.is_empty()) {
            bail!("process {}: args must not be empty", path.display());
        }
        return Ok(p);
    }
    if args.command.is_empty() {
        bail!(
            "exec {}: no command given (use --process or a trailing command)",
            args.id
        );
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(args.command.clone()));
    p.set_terminal(Some(args.tty));
    if let Some(cwd) = &args.cwd {
        p.set_cwd(cwd.into());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &args.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|old| old.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &args.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let mut user = p.user().clone();
        user.set_uid(
            uid.parse()
                .map_err(|_| anyhow!("exec --user {u}: uid must be numeric"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .map_err(|_| anyhow!("exec --user {u}: gid must be numeric"))?,
            );
        }
        p.set_user(user);
    }
    if !args.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(args.additional_gids.clone()));
        p.set_user(user);
    }
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if !args.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let extra: HashSet<Capability> = args
            .cap
            .iter()
            .map(|c| {
                Capability::from_str(&format!(
                    "CAP_{}",
                    c.to_ascii_uppercase().trim_start_matches("CAP_")
                ))
            })
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow!("exec --cap {}: unknown capability", args.cap.join(",")))?;
        let add = |set: &Option<HashSet<Capability>>| {
            Some(
                set.clone()
                    .unwrap_or_default()
                    .union(&extra)
                    .copied()
                    .collect(),
            )
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        caps.set_inheritable(add(caps.inheritable()));
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}
