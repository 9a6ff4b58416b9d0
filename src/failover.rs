//! What the shim does when a remote container's node failed (docs/cluster.md, "Node failure"
//! and "HA"): the stand-in found the node silent (src/remote/failover.rs). A container without
//! HA is reported stopped with the stand-in's status, and its CT is not stopped on a node that
//! does not answer; an HA container waits for Proxmox to recover its CT on another node and
//! its workload is relaunched there (src/follow.rs).

use std::time::Duration;

use crate::backend::Backend;
use crate::config::{BackendKind, Config};
use crate::pve::Vmid;
use crate::remote::failover::node_lost;

/// The shim's last step for a container whose workload ended: true if the CT is to be stopped
/// on its node. Not on a failed node (nothing answers there); an HA-managed CT is first asked
/// `stopped` of the HA stack, else its LRM would start it again.
pub fn before_stop(cfg: &Config, backend: &dyn Backend, vmid: Vmid, code: i32) -> bool {
    if node_lost(cfg) {
        log::error!(
            "CT {vmid}: node {} stopped answering (no answer for {} s); the container is reported stopped with exit status {code}",
            cfg.node_name(),
            cfg.cluster.node_timeout
        );
        return false;
    }
    if cfg.cluster.ha {
        if let Err(e) = backend.ha_state(vmid, "stopped") {
            log::warn!("CT {vmid}: {e}");
        }
    }
    true
}

/// The shim's question when its stand-in ended with `code`: if its node failed, audit that
/// (`node-lost`); for an HA container, then wait for Proxmox to recover the CT on another node (it shows there, running, in the
/// cluster's resources), record that node in the state and relaunch the workload there: the
/// new stand-in's pid. `None`: the container ends with `code`.
pub fn after_exit(f: &crate::follow::Follower, code: i32) -> Option<i32> {
    let cfg = f.current_config()?;
    if !node_lost(&cfg) {
        return None;
    }
    let lost = cfg.node_name();
    f.audit(&cfg, "node-lost", &lost, Some(code), None);
    if !cfg.cluster.ha {
        return None;
    }
    let wait = Duration::from_secs(cfg.cluster.ha_recovery_timeout);
    log::warn!(
        "CT {}: node {lost} stopped answering; waiting up to {wait:?} for Proxmox's HA stack to recover the CT on another node",
        f.vmid
    );
    let Some(node) = recovered_on(&cfg, f.vmid, &lost, wait) else {
        log::error!(
            "CT {}: not recovered on another node within {wait:?}; the container is reported stopped with exit status {code}",
            f.vmid
        );
        let msg = format!(
            "CT {} not recovered on another node within {wait:?}",
            f.vmid
        );
        f.audit(&cfg, "ha-relaunch", &lost, None, Some(&msg));
        return None;
    };
    let mut moved = cfg.clone();
    moved.node = node.clone();
    if let Some(dir) = f
        .dir
        .parent()
        .zip(f.dir.file_name().and_then(|n| n.to_str()))
    {
        let saved = crate::state::ContainerDir::new(dir.0, dir.1).and_then(|c| {
            let _lock = c.lock()?;
            let mut st = c.load()?;
            st.config.node = node.clone();
            c.save(&st)
        });
        if let Err(e) = saved {
            log::error!("CT {}: recording node {node}: {e}", f.vmid);
            f.audit(
                &cfg,
                "ha-relaunch",
                &node,
                None,
                Some(&format!("recording node {node}: {e}")),
            );
            return None;
        }
    }
    match crate::follow::relaunch(f, &moved, &format!("HA recovery from failed node {lost}")) {
        Ok(pid) => {
            f.audit(&moved, "ha-relaunch", &node, None, None);
            Some(pid)
        }
        Err(e) => {
            log::error!("CT {}: relaunching on node {node}: {e}", f.vmid);
            let msg = format!("relaunching on node {node}: {e}");
            f.audit(&moved, "ha-relaunch", &node, None, Some(&msg));
            None
        }
    }
}

/// Polls the cluster (not through the failed node) until CT `vmid` runs on a node other than
/// `lost`.
fn recovered_on(cfg: &Config, vmid: Vmid, lost: &str, wait: Duration) -> Option<String> {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        for asked in askable(cfg, lost) {
            let cts = crate::backend::from_config(&asked).cluster_cts();
            match cts {
                Ok(cts) => {
                    if let Some(ct) = cts
                        .iter()
                        .find(|c| c.vmid == vmid.get() && c.node != lost && c.status == "running")
                    {
                        return Some(ct.node.clone());
                    }
                    break;
                }
                Err(e) => log::debug!("CT {vmid}: asking node {}: {e}", asked.node),
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    None
}

/// Configurations to ask the cluster with, none through `lost`: the api backend's endpoint;
/// for ssh, `pvesh` on each node of `[ssh.nodes]`, then on `[ssh] host`.
fn askable(cfg: &Config, lost: &str) -> Vec<Config> {
    let on = |node: &str| {
        let mut c = cfg.clone();
        c.node = node.to_string();
        c
    };
    match cfg.backend {
        BackendKind::Api => vec![on(lost)],
        _ => cfg
            .ssh
            .nodes
            .keys()
            .map(String::as_str)
            .chain((!cfg.ssh.host.is_empty()).then_some(cfg.ssh.host.as_str()))
            .filter(|n| *n != lost)
            .map(on)
            .collect(),
    }
}
