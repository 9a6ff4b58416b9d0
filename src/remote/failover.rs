//! A remote container's node failing (docs/cluster.md, "Node failure"). The workload's
//! stand-in sends SSH keepalives; once the node has not answered for `cluster.node_timeout`
//! it marks the node lost under the state root (src/backend/node_health.rs) and ends with
//! [`NODE_LOST_EXIT`]; the shim then decides (src/failover.rs): the container is reported stopped with that status, without
//! trying to stop a CT on a node that does not answer, or, for an HA container, waits for
//! Proxmox to recover the CT on another node and relaunches the workload there.

use std::time::Duration;

use crate::backend::node_health;
use crate::config::{BackendKind, Config};
use crate::pve::Vmid;
use crate::transport::ssh::MIN_SILENCE;

/// The exit status of a container whose node failed: its processes died with the node, as if
/// killed (128 + SIGKILL).
pub const NODE_LOST_EXIT: i32 = 137;

/// The allowed silence of a remote container's node (at least 5 s, what keepalives can tell);
/// none for a local CT or a zero timeout.
pub fn silence(cfg: &Config) -> Option<Duration> {
    (cfg.backend != BackendKind::Pct && cfg.cluster.node_timeout > 0)
        .then(|| Duration::from_secs(cfg.cluster.node_timeout).max(MIN_SILENCE))
}

/// The stand-in found its node silent: mark it and end with [`NODE_LOST_EXIT`].
pub fn stand_in_lost(vmid: Vmid, node: &str, after: Duration) -> i32 {
    node_health::mark_lost(node);
    log::debug!("CT {vmid}: node {node} silent for {after:?}");
    NODE_LOST_EXIT
}

/// Whether the container's node was found failed (by its stand-in, or before).
pub fn node_lost(cfg: &Config) -> bool {
    cfg.backend != BackendKind::Pct
        && crate::backend::node_addr::state_root()
            .is_some_and(|root| node_health::is_lost(root, &cfg.node_name()))
}
