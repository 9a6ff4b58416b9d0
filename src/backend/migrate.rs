//! Moving CTs between nodes with Proxmox's own migration (pve-container src/PVE/API2/LXC.pm
//! `migrate_vm`, src/PVE/LXC/Migrate.pm), and the cluster's load as `evacuate` and `rebalance`
//! weigh it. Only for a control host driving a cluster (`ssh`, `api`): the `pct` backend runs
//! on its node next to CRI-O, and Kubernetes reschedules pods there.

use serde_json::Value;

use super::BackendError;
use crate::api::NodeInfo;

/// Why the `pct` backend does not migrate.
pub const LOCAL_REFUSAL: &str = "the pct backend runs on its node next to CRI-O, where Kubernetes reschedules pods; migration, evacuate and rebalance need the ssh or api backend";

/// What a migration asks of Proxmox.
#[derive(Debug, Clone, Copy)]
pub struct Move<'a> {
    pub target: &'a str,
    /// A running CT is shut down, moved and started on the target (`restart` mode).
    pub restart: bool,
    /// Seconds the shutdown of a restart migration may take.
    pub timeout: u64,
}

/// The reason of a failed migration task from its log: AbstractMigrate.pm logs
/// `<time> ERROR: migration aborted (duration …): <reason>` before the task dies with the
/// bare `migration aborted`.
pub fn failure_reason(log: &[String]) -> Option<String> {
    log.iter().rev().find_map(|l| {
        let (_, rest) = l.split_once("ERROR: migration aborted (duration ")?;
        let (_, reason) = rest.split_once("): ")?;
        Some(reason.trim().to_string())
    })
}

/// A guest of the cluster as `GET /cluster/resources` (type `vm`) lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Guest {
    pub vmid: u32,
    pub node: String,
    pub running: bool,
    /// Its memory limit in bytes.
    pub maxmem: u64,
}

/// The cluster's nodes and guests, read in one go.
#[derive(Debug, Clone, Default)]
pub struct ClusterLoad {
    pub nodes: Vec<NodeInfo>,
    pub guests: Vec<Guest>,
}

/// Every guest (CT or VM) in `/cluster/resources` entries.
pub fn guests_in_resources(all: &[Value]) -> Vec<Guest> {
    use crate::api::lenient;
    all.iter()
        .filter(|r| matches!(r.get("type").and_then(Value::as_str), Some("lxc" | "qemu")))
        .filter_map(|r| {
            Some(Guest {
                vmid: r.get("vmid").and_then(lenient::as_u32)?,
                node: r.get("node").and_then(Value::as_str)?.to_string(),
                running: r.get("status").and_then(Value::as_str) == Some("running"),
                maxmem: r.get("maxmem").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect()
}

pub(super) fn refused() -> BackendError {
    BackendError::Other(LOCAL_REFUSAL.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_of_a_failed_migration() {
        let log = [
            "2026-12-02 06:00:00 shutdown CT 100".to_string(),
            "2026-12-02 06:00:01 ERROR: migration aborted (duration 00:00:01): Can't connect to destination address using public key".into(),
            "TASK ERROR: migration aborted".into(),
        ];
        assert_eq!(
            failure_reason(&log).as_deref(),
            Some("Can't connect to destination address using public key")
        );
        assert_eq!(failure_reason(&log[..1]), None);
    }

    #[test]
    fn guests_of_every_kind_with_their_memory() {
        let all: Vec<Value> = serde_json::from_str(
            r#"[{"type":"lxc","vmid":100,"node":"n1","status":"running","maxmem":1024},
                {"type":"qemu","vmid":"101","node":"n2","status":"stopped","maxmem":2048},
                {"type":"node","node":"n1"}]"#,
        )
        .unwrap();
        let g = guests_in_resources(&all);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].running, g[0].maxmem), (true, 1024));
        assert_eq!((g[1].vmid, g[1].running), (101, false));
    }
}
