//! `exec`: run another process in a running container, the way `start` runs the first one.
//!
//! Foreground (CRI-O's streaming exec): this process is the caller's handle; the process in the CT
//! is its child, gets its stdio, receives the signals it gets, and its exit status becomes ours.
//! `--detach` (conmon's ExecSync, `podman exec`): an exec shim is forked, its pid goes to
//! `--pid-file`, and it exits with the process's status; if it is killed (conmon's `-T` timeout
//! SIGKILLs it) the process in the CT gets SIGKILL too (parent-death signal).

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::RawFd;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process, Spec};

use super::Ctx;
use crate::access::{ExecEnd, ExecRequest};
use crate::cli::ExecArgs;
use crate::state::{Status, SPEC_COPY};

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
    let process = process(&spec, args)?;
    let backend = ctx.backend(&st.config);
    let end = crate::access::of(backend.as_ref()).exec(ExecRequest {
        st: &st,
        spec: &spec,
        process,
        state_root: &ctx.root,
        detach: args.detach,
        console_socket: args.console_socket.as_deref(),
        preserve_fds: args.preserve_fds,
        log_fd,
    })?;
    match end {
        ExecEnd::Exited(code) => {
            log::logger().flush();
            std::process::exit(code)
        }
        ExecEnd::Detached { report, pid } => report_and_pid_file(report, pid, args),
    }
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

/// The process to run: `--process FILE`, or the container's process with runc's exec flags applied.
fn process(spec: &Spec, args: &ExecArgs) -> anyhow::Result<Process> {
    if let Some(path) = &args.process {
        let text = std::fs::read(path).with_context(|| format!("process {}", path.display()))?;
        let p: Process = serde_json::from_slice(&text)
            .map_err(|e| anyhow!("process {}: {e}", path.display()))?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
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
