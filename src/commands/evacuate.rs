//! `evacuate NODE [--parallel N]`: migrate every container of this root whose state names NODE
//! to the other nodes (docs/cluster.md, "Evacuate"). Targets are chosen here, one after the
//! other, as `node = "auto"` chooses (`backend::api::least_loaded`), each container's memory
//! limit added to its target's before the next choice; the migrations run as child `migrate`
//! processes, at most N at once, each printing its own line.

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};

use anyhow::bail;

use super::Ctx;
use crate::backend::migrate::LOCAL_REFUSAL;
use crate::cli::EvacuateArgs;

pub fn run(ctx: &Ctx, args: &EvacuateArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    let backend = ctx.backend(&cfg);
    if !backend.is_remote() {
        bail!("evacuate {}: {LOCAL_REFUSAL}", args.node);
    }
    let mut load = backend.cluster_load()?;
    if !load.nodes.iter().any(|n| n.node == args.node) {
        bail!("evacuate: no such cluster node '{}'", args.node);
    }
    load.nodes.retain(|n| n.node != args.node);
    let mut plan = VecDeque::new();
    let mut failed = 0;
    for id in crate::state::list_ids(&ctx.root)? {
        let Ok(st) = ctx.dir(&id)?.load() else {
            continue;
        };
        let Some(vmid) = st.vmid.filter(|_| st.config.node == args.node) else {
            continue;
        };
        let Some(target) = crate::backend::api::least_loaded(&load.nodes) else {
            eprintln!("evacuate: {id}: no other online node");
            failed += 1;
            continue;
        };
        let mem = load
            .guests
            .iter()
            .find(|g| g.vmid == vmid.get())
            .map_or(0, |g| g.maxmem);
        if let Some(n) = load.nodes.iter_mut().find(|n| n.node == target) {
            n.mem += mem;
        }
        plan.push_back((id, target));
    }
    let mut running: Vec<(String, Child)> = Vec::new();
    while !plan.is_empty() || !running.is_empty() {
        while running.len() < args.parallel as usize {
            let Some((id, target)) = plan.pop_front() else {
                break;
            };
            match migrate_child(ctx, &id, &target, args.timeout) {
                Ok(child) => running.push((id, child)),
                Err(e) => {
                    eprintln!("evacuate: {id}: {e}");
                    failed += 1;
                }
            }
        }
        // Children print their own line; wait for the oldest.
        if !running.is_empty() {
            let (id, child) = running.remove(0);
            match child.wait_with_output() {
                Ok(o) if o.status.success() => {}
                Ok(_) => failed += 1,
                Err(e) => {
                    eprintln!("evacuate: {id}: {e}");
                    failed += 1;
                }
            }
        }
    }
    if failed > 0 {
        bail!(
            "evacuate: {failed} container(s) could not be moved off {}",
            args.node
        );
    }
    Ok(())
}

/// `proxmox-lxcri migrate ID NODE` with this invocation's root and configuration; its stdout
/// and stderr are ours.
fn migrate_child(ctx: &Ctx, id: &str, node: &str, timeout: u64) -> std::io::Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--root").arg(&ctx.root);
    if let Some(c) = &ctx.config_path {
        cmd.arg("--config").arg(c);
    }
    cmd.args(["migrate", "--timeout", &timeout.to_string(), id, node])
        .stdin(Stdio::null());
    cmd.spawn()
}
