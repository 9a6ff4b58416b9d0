//! The cluster a sim root stands for: its members, their state and quorum, and `pvecm status`.
//!
//! Members are the node directories under `etc/pve/nodes/` (pmxcfs lists every member there),
//! the first node (`etc/pve/local`'s) first, then by name; `pve-sim api --nodes` names them
//! explicitly instead. More than one member is a cluster named `pve-sim`; one is a standalone node, always quorate (pmxcfs in
//! local mode). Member `i` (in this order) has the loopback address `127.0.0.{i+1}`
//! ([`address`]), where its sshd listens. The knobs: `api-faults.json`'s `offline`
//! (a node down) and the file [`NO_QUORUM_FILE`] (quorum lost: votes missing, membership as is).

use std::path::Path;

use crate::sim::Sim;

/// The quorum-loss knob, under `$PVE_SIM_ROOT`.
pub const NO_QUORUM_FILE: &str = "pve-sim-no-quorum";

/// pve-cluster src/PVE/Cluster.pm `check_cfs_quorum`: what every API call that writes cluster
/// state dies with before doing anything (`create_vm`, `vm_start`, migrations).
pub const NO_QUORUM: &str = "cluster not ready - no quorum?";

pub const CLUSTER_NAME: &str = "pve-sim";

/// The first member: the node `etc/pve/local` links to (the node the sim's tools first ran
/// as, or the one the harness or `pve-sim api` named first), else `sim.node`.
pub fn first_node(sim: &Sim) -> String {
    std::fs::read_link(sim.pve_dir().join("local"))
        .ok()
        .and_then(|t| t.file_name()?.to_str().map(String::from))
        .filter(|n| sim.pve_dir().join("nodes").join(n).is_dir())
        .unwrap_or_else(|| sim.node.clone())
}

/// Members of the sim's cluster: [`first_node`], then the other node dirs by name. The order
/// is the same whichever member asks, so each keeps its node ID and address.
pub fn members(sim: &Sim) -> Vec<String> {
    let first = first_node(sim);
    let mut others: Vec<String> = std::fs::read_dir(sim.pve_dir().join("nodes"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| *n != first)
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    let mut all = vec![first];
    all.extend(others);
    all
}

/// The address of the cluster's `i`-th member (0 = the local node): `127.0.0.{i+1}`, all on
/// loopback (Linux answers the whole of 127/8), one per node as corosync knows each node by
/// its own (pve-cluster src/PVE/Cluster.pm `remote_node_ip`, from pmxcfs's member list).
pub fn address(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

/// Nodes the `offline` fault knob names (`api-faults.json`).
pub fn offline(root: &Path, node: &str) -> bool {
    std::fs::read(root.join("api-faults.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["offline"].as_array().cloned())
        .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(node)))
}

/// Whether a cluster of `members` (the local node first) has quorum: a majority of the votes
/// online and no quorum-loss knob. A standalone node always has it.
pub fn quorate(sim: &Sim, members: &[String]) -> bool {
    if members.len() < 2 {
        return true;
    }
    let online = members.iter().filter(|n| !offline(&sim.root, n)).count();
    online * 2 > members.len() && sim.quorate()
}

/// `pvecm status` (pve-cluster src/PVE/CLI/pvecm.pm `status`: the cluster information from
/// corosync.conf, then `corosync-quorumtool -siH`), or its error on a standalone node
/// (src/PVE/Corosync.pm `check_conf_exists`).
pub fn pvecm_status(sim: &Sim, date: &str) -> Result<String, String> {
    let members = members(sim);
    if members.len() < 2 {
        return Err("Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?".into());
    }
    let quorate = quorate(sim, &members);
    let online: Vec<(usize, &String)> = members
        .iter()
        .enumerate()
        .filter(|(_, n)| !offline(&sim.root, n))
        .collect();
    let total = members.len();
    let needed = total / 2 + 1;
    let kv = |s: &mut String, label: &str, val: &str| {
        s.push_str(&format!("{:<17} {val}\n", format!("{label}:")))
    };
    let mut s = String::from("Cluster information\n-------------------\n");
    kv(&mut s, "Name", CLUSTER_NAME);
    kv(&mut s, "Config Version", &total.to_string());
    kv(&mut s, "Transport", "knet");
    kv(&mut s, "Secure auth", "on");
    s.push_str("\nQuorum information\n------------------\n");
    kv(&mut s, "Date", date);
    kv(&mut s, "Quorum provider", "corosync_votequorum");
    kv(&mut s, "Nodes", &online.len().to_string());
    let me = members.iter().position(|n| *n == sim.node).unwrap_or(0);
    kv(&mut s, "Node ID", &format!("0x{:08x}", me + 1));
    kv(&mut s, "Ring ID", "1.2a");
    kv(&mut s, "Quorate", if quorate { "Yes" } else { "No" });
    s.push_str("\nVotequorum information\n----------------------\n");
    kv(&mut s, "Expected votes", &total.to_string());
    kv(&mut s, "Highest expected", &total.to_string());
    // The knob loses votes, not members: fewer than a quorum count.
    let votes = if quorate {
        online.len()
    } else {
        online.len().min(needed - 1)
    };
    kv(&mut s, "Total votes", &votes.to_string());
    if quorate {
        kv(&mut s, "Quorum", &format!("{needed}  "));
        kv(&mut s, "Flags", "Quorate ");
    } else {
        kv(&mut s, "Quorum", &format!("{needed} Activity blocked"));
        kv(&mut s, "Flags", "");
    }
    s.push_str("\nMembership information\n----------------------\n    Nodeid      Votes Name\n");
    for (i, _) in online {
        let local = if i == me { " (local)" } else { "" };
        s.push_str(&format!(
            "0x{:08x}          1 {}{local}\n",
            i + 1,
            address(i)
        ));
    }
    Ok(s)
}
