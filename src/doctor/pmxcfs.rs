//! The `pct` backend's node is this host: `pct` must be there, pmxcfs mounted at `pve_dir`
//! with the configured node in it, and the cluster quorate.
//!
//! Quorum is read the cheap way Proxmox itself does before a create (pve-cluster
//! src/PVE/Cluster.pm `check_cfs_quorum`): pmxcfs shows the `local` symlink with mode 0777
//! while the node is quorate and 0555 while it is not (pve-cluster src/pmxcfs/cfs-plug-link.c);
//! `check_cfs_is_mounted` only asks that `local` is a symlink.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::Check;
use crate::config::Config;

/// The quorum decision from the mode of `<pve_dir>/local` as `lstat` shows it.
pub fn quorum(mode: Option<u32>) -> Check {
    match mode {
        Some(m) if m & 0o200 != 0 => Check::ok("quorum", "quorate (pmxcfs is writable)"),
        Some(_) => Check::fail(
            "quorum",
            "cluster not ready - no quorum: pmxcfs is read-only and Proxmox refuses to create CTs",
            "bring enough cluster nodes online (pvecm status shows the votes), or on a node left alone set pvecm expected 1",
        ),
        None => Check::fail(
            "quorum",
            "cannot tell: pmxcfs is not mounted",
            "start pve-cluster (systemctl start pve-cluster)",
        ),
    }
}

pub fn node(cfg: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    let pct = &cfg.pct.path;
    let pct_ok =
        std::fs::metadata(pct).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let local = cfg.pct.pve_dir.join("local");
    let mounted = std::fs::symlink_metadata(&local)
        .ok()
        .filter(|m| m.file_type().is_symlink());
    let node = cfg.node_name();
    let node_dir = cfg.pct.pve_dir.join("nodes").join(&node);
    let mut problems = Vec::new();
    if !pct_ok {
        problems.push((
            format!("{} is missing or not executable", pct.display()),
            "install pve-container on this node (apt install pve-container), or set pct.path"
                .to_string(),
        ));
    }
    if mounted.is_none() {
        problems.push((
            format!(
                "pve configuration filesystem (pmxcfs) not mounted at {}",
                cfg.pct.pve_dir.display()
            ),
            "run the runtime on a Proxmox VE node with pve-cluster running (systemctl start pve-cluster), or set pct.pve_dir".into(),
        ));
    } else if !node_dir.is_dir() {
        let this = std::fs::read_link(&local)
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        problems.push((
            format!(
                "node '{node}' is not in this cluster ({} is missing)",
                node_dir.display()
            ),
            if this.is_empty() {
                "set node to this node's name in the config".to_string()
            } else {
                format!("set node = \"{this}\" in the config (this host's node name)")
            },
        ));
    }
    match problems.into_iter().next() {
        Some((detail, fix)) => out.push(Check::fail("node", detail, fix)),
        None => out.push(Check::ok(
            "node",
            format!(
                "{node}: {} and pmxcfs at {}",
                pct.display(),
                cfg.pct.pve_dir.display()
            ),
        )),
    }
    out.push(quorum(mounted.map(|m| m.mode() & 0o7777)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_from_the_link_mode() {
        assert!(quorum(Some(0o777)).ok);
        let c = quorum(Some(0o555));
        assert!(!c.ok && c.detail.contains("no quorum"));
        assert!(!quorum(None).ok);
    }
}
