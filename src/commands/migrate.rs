//! `migrate ID NODE`: move a container's CT to another node with Proxmox's migration, and
//! record the node in its state (docs/cluster.md, "Migration").
//!
//! * created: the CT runs the idle init; a restart migration moves it, and `start` later
//!   launches the workload on the new node (the shim reads the node from the state);
//! * stopped: the CT moves offline;
//! * running: the workload runs through a stand-in (`pct exec`), which the restart migration
//!   ends. The container is marked as moving (src/follow.rs) before the CT stops, so its shim
//!   waits for the move and starts the workload again on the node the state names afterwards,
//!   which is the old one if the migration failed and Proxmox started the CT there again.
//!   Refused while the process has a terminal (the caller's pty cannot be handed to a new
//!   process) or exec sessions run in the container (they would end with it).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use oci_spec::runtime::Spec;

use super::{out, Ctx};
use crate::backend::migrate::{Move, LOCAL_REFUSAL};
use crate::backend::{BackendError, CtStatus};
use crate::cli::MigrateArgs;
use crate::pve::Vmid;
use crate::state::{Status, SPEC_COPY};

/// How long `migrate` waits for the shim to have started the workload on the new node.
const RELAUNCH_WAIT: Duration = Duration::from_secs(180);
/// How long an accepted migration may take to show the CT on its target (HA's is asynchronous).
const PLACED_WAIT: Duration = Duration::from_secs(300);

pub fn run(ctx: &Ctx, args: &MigrateArgs) -> anyhow::Result<()> {
    out(move_one(ctx, &args.id, &args.node, args.timeout)?)
}

/// Move container `id` to `node`; the line that says so.
pub fn move_one(ctx: &Ctx, id: &str, node: &str, timeout: u64) -> anyhow::Result<String> {
    let dir = ctx.dir(id)?;
    let lock = dir.lock()?;
    let mut st = dir.load()?;
    let backend = ctx.backend(&st.config);
    if !backend.is_remote() {
        bail!("migrate {id}: {LOCAL_REFUSAL}");
    }
    let vmid = st.vmid.ok_or_else(|| anyhow!("container {id} has no CT"))?;
    let from = st.config.node_name();
    if from == node {
        bail!("container {id} (CT {vmid}) is on node {node} already");
    }
    let status = st.status();
    match status {
        Status::Creating => bail!("container {id} is being created"),
        Status::Running | Status::Paused => refuse_running(ctx, &dir.path, id)?,
        Status::Created | Status::Stopped => {}
    }
    // A created container's CT runs the idle init; a stopped one's may still be up.
    let ct_running = matches!(backend.status(vmid)?, CtStatus::Running { .. });
    let follows = status == Status::Running;
    if follows {
        crate::follow::mark(&dir.path, node)?;
    }
    let m = Move {
        target: node,
        restart: ct_running,
        timeout,
    };
    let res = backend
        .migrate(vmid, m)
        .and_then(|()| wait_placed(backend.as_ref(), vmid, node));
    // Where the CT is now: a failed migration may have moved it all the same (its start on
    // the target failed), or left it where it was (Proxmox restarts it there).
    let moved = match &res {
        Ok(()) => true,
        Err(_) => backend
            .cluster_cts()
            .ok()
            .and_then(|cts| cts.into_iter().find(|c| c.vmid == vmid.get()))
            .is_some_and(|c| c.node == node),
    };
    if moved {
        st.config.node = node.to_string();
        dir.save(&st)?;
    }
    if follows && crate::follow::mark_over(&dir.path).is_err() {
        crate::follow::unmark(&dir.path);
    }
    let old_workload = st.workload;
    drop(lock);
    if let Err(e) = res {
        let place = if moved { "it is on" } else { "it stays on" };
        bail!(
            "migrating container {id} (CT {vmid}) from {from} to {node}: {e}; {place} node {}",
            st.config.node
        );
    }
    if follows {
        wait_relaunch(&dir, old_workload)
            .map_err(|e| anyhow!("container {id} (CT {vmid}) moved to {node}, but {e}"))?;
        return Ok(format!(
            "moved {id} (CT {vmid}) from {from} to {node}; its workload restarted there"
        ));
    }
    Ok(format!("moved {id} (CT {vmid}) from {from} to {node}"))
}

/// Wait until the cluster lists the CT on `node`. Immediate after Proxmox's own migration task;
/// an HA-managed CT is handed to ha-manager instead (`migrate_vm`'s `hamigrate` task only files
/// the request), and moves when the HA stack gets to it.
fn wait_placed(
    backend: &dyn crate::backend::Backend,
    vmid: Vmid,
    node: &str,
) -> Result<(), BackendError> {
    let deadline = Instant::now() + PLACED_WAIT;
    loop {
        let cts = backend.cluster_cts()?;
        match cts.iter().find(|c| c.vmid == vmid.get()) {
            Some(c) if c.node == node => return Ok(()),
            _ if Instant::now() > deadline => {
                return Err(BackendError::Other(format!(
                    "CT {vmid} is not on node {node} {PLACED_WAIT:?} after its migration"
                )))
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Why a running container cannot follow its CT, if it cannot.
fn refuse_running(ctx: &Ctx, dir: &Path, id: &str) -> anyhow::Result<()> {
    let spec_path = dir.join(SPEC_COPY);
    let spec = Spec::load(&spec_path).map_err(|e| anyhow!("{}: {e}", spec_path.display()))?;
    let terminal = spec
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal() == Some(true));
    if terminal {
        bail!("container {id} cannot move while it runs: its process has a terminal, which a workload started again on another node cannot take over");
    }
    let execs = exec_sessions(ctx, id);
    if !execs.is_empty() {
        let pids: Vec<String> = execs.iter().map(|p| p.to_string()).collect();
        bail!(
            "container {id} cannot move while it runs: exec sessions run in it (pid {}), which a restart migration would end",
            pids.join(", ")
        );
    }
    Ok(())
}

/// The shim records the relaunched workload's stand-in; wait for it (or for the shim's end).
fn wait_relaunch(
    dir: &crate::state::ContainerDir,
    old: Option<crate::state::ProcRef>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + RELAUNCH_WAIT;
    loop {
        let st = dir.load()?;
        if st.workload != old && st.workload.is_some_and(|w| w.is_alive()) {
            return Ok(());
        }
        if st.status() != Status::Running {
            bail!("its workload did not start again there (see the shim's log)");
        }
        if Instant::now() > deadline {
            bail!("its workload has not started again there after {RELAUNCH_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Our `exec` processes for container `id` under this root (foreground execs, exec shims and
/// their stand-ins): this binary, whose command line parses as `exec … ID`.
fn exec_sessions(ctx: &Ctx, id: &str) -> Vec<i32> {
    use clap::Parser;
    let Ok(me) = std::fs::read_link("/proc/self/exe") else {
        return Vec::new();
    };
    let own = std::process::id() as i32;
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid == own || std::fs::read_link(e.path().join("exe")).ok().as_ref() != Some(&me) {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Ok(cli) = crate::cli::Cli::try_parse_from(&argv) else {
            continue;
        };
        let root = cli.global.root.unwrap_or_else(super::default_root);
        let same_root = std::fs::canonicalize(&root).ok() == std::fs::canonicalize(&ctx.root).ok();
        if let Some(crate::cli::Command::Exec(a)) = cli.command {
            if a.id == id && same_root {
                pids.push(pid);
            }
        }
    }
    pids
}
