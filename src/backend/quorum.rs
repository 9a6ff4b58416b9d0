//! Quorum before cluster writes: Proxmox refuses to create, start or destroy a CT without
//! quorum (pve-cluster src/PVE/Cluster.pm `check_cfs_quorum`, and pmxcfs turns read-only), in
//! words that only make sense on the node. The `api` backend asks `GET /cluster/status`, the
//! `ssh` backend `pvecm status`; a pass is trusted for [`PASS_LIFETIME`] so that a burst of
//! creates costs one round trip.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Backend, BackendError};
use crate::config::Config;

/// How long a quorate answer is trusted. Short: a refusal in Proxmox's own words, which
/// `known_error` turns into the same line, is what a loss within it costs.
pub const PASS_LIFETIME: Duration = Duration::from_secs(10);

/// What the cluster said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// The cluster's name; `None` for a standalone node (always quorate).
    pub cluster: Option<String>,
    pub quorate: bool,
}

/// `GET /cluster/status` (pve-manager PVE/API2/Cluster.pm `get_status`): the `cluster` entry's
/// `quorate`; a standalone node lists no such entry.
pub fn from_cluster_status(status: &Value) -> Quorum {
    let cluster = status
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("cluster"));
    match cluster {
        None => Quorum {
            cluster: None,
            quorate: true,
        },
        Some(c) => Quorum {
            cluster: c.get("name").and_then(Value::as_str).map(String::from),
            quorate: crate::api::lenient::as_u32(c.get("quorate").unwrap_or(&Value::Null))
                == Some(1),
        },
    }
}

/// `pvecm status` output (pve-cluster src/PVE/CLI/pvecm.pm, then `corosync-quorumtool -siH`):
/// `Name:` and `Quorate: Yes|No`. `None` when neither is there.
pub fn from_pvecm_status(text: &str) -> Option<Quorum> {
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label)?.strip_prefix(':'))
            .map(str::trim)
    };
    let quorate = match field("Quorate")? {
        "Yes" => true,
        "No" => false,
        _ => return None,
    };
    Some(Quorum {
        cluster: field("Name").map(String::from),
        quorate,
    })
}

/// `pvecm status`'s error on a node that is in no cluster (pve-cluster src/PVE/Corosync.pm
/// `check_conf_exists`): standalone, so quorate.
pub fn is_standalone_error(stderr: &str) -> bool {
    stderr.contains("is this node part of a cluster?")
}

/// Refuse with one line unless `cfg`'s cluster is quorate; a pass is remembered under `root`
/// for [`PASS_LIFETIME`] (`create`: one round trip for a burst of creates). Backends that do not
/// ask (`pct`, on the node) pass, and so does a cluster that cannot be asked (with a warning, not
/// remembered): Proxmox's own refusal is turned into the same line by `known_error`.
pub fn require(backend: &dyn Backend, root: &Path, cfg: &Config) -> Result<(), BackendError> {
    let node = cfg.node_name();
    let mut unknown = false;
    let r = super::nodever::checked_for(root, cfg, "quorum", PASS_LIFETIME, || {
        ask(backend, &node).unwrap_or_else(|| {
            unknown = true;
            Err(BackendError::Other(String::new()))
        })
    });
    if unknown {
        return Ok(());
    }
    r
}

/// `require` without the remembered pass: for `delete`, whose destroy fails half-way on a node
/// without quorum (volumes freed, config kept) and which is not made in bursts.
pub fn require_now(backend: &dyn Backend, cfg: &Config) -> Result<(), BackendError> {
    ask(backend, &cfg.node_name()).unwrap_or(Ok(()))
}

/// The refusal, a pass, or `None` when the backend does not ask or the cluster could not be
/// asked (warned about): nothing to remember.
fn ask(backend: &dyn Backend, node: &str) -> Option<Result<(), BackendError>> {
    match backend.quorum() {
        Ok(Some(q)) if !q.quorate => Some(Err(BackendError::NoQuorum {
            node: node.to_string(),
            cluster: q.cluster,
        })),
        Ok(Some(_)) => Some(Ok(())),
        Ok(None) => None,
        Err(e) => {
            log::warn!("node {node}: cannot learn whether the cluster is quorate ({e})");
            None
        }
    }
}

/// The refusal's text: names the node and, when known, the cluster.
pub fn refusal(node: &str, cluster: Option<&str>) -> String {
    let whose = match (node, cluster) {
        ("", Some(c)) => format!("cluster {c}"),
        ("", None) => "the cluster of this node".into(),
        (n, Some(c)) => format!("node {n}: cluster {c}"),
        (n, None) => format!("node {n}: its cluster"),
    };
    format!(
        "{whose} has no quorum; Proxmox VE refuses to create, start or destroy CTs until it is quorate again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_status_entries() {
        let q = from_cluster_status(&json!([
            {"type": "cluster", "name": "c1", "quorate": 0, "nodes": 2},
            {"type": "node", "name": "n1", "online": 1}
        ]));
        assert_eq!(
            q,
            Quorum {
                cluster: Some("c1".into()),
                quorate: false
            }
        );
        assert!(
            from_cluster_status(&json!([{"type": "cluster", "name": "c1", "quorate": "1"}]))
                .quorate
        );
        let alone = from_cluster_status(&json!([{"type": "node", "name": "n1"}]));
        assert_eq!((alone.cluster, alone.quorate), (None, true));
    }

    #[test]
    fn pvecm_status_fields() {
        let text = "Cluster information\n-------------------\nName:             prod\n\nQuorum information\n------------------\nNodes:            1\nQuorate:          No\n";
        assert_eq!(
            from_pvecm_status(text),
            Some(Quorum {
                cluster: Some("prod".into()),
                quorate: false
            })
        );
        assert!(
            from_pvecm_status(&text.replace("No", "Yes"))
                .unwrap()
                .quorate
        );
        assert_eq!(from_pvecm_status("garbage"), None);
        assert!(is_standalone_error("Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?\n"));
    }

    #[test]
    fn a_pass_is_remembered_a_refusal_and_no_answer_are_not() {
        use crate::backend::memory::Memory;
        let root = tempfile::tempdir().unwrap();
        let cfg = Config {
            node: "pve1".into(),
            ..Config::default()
        };
        let m = Memory::default();
        let asked = |m: &Memory| m.0.borrow().calls.iter().filter(|c| *c == "quorum").count();
        // Not asked (the pct backend): passes, nothing remembered.
        require(&m, root.path(), &cfg).unwrap();
        require(&m, root.path(), &cfg).unwrap();
        assert_eq!(asked(&m), 2);
        m.0.borrow_mut().quorum = Some(Quorum {
            cluster: Some("prod".into()),
            quorate: false,
        });
        for _ in 0..2 {
            let e = require(&m, root.path(), &cfg).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("node pve1: cluster prod has no quorum;"),
                "{e}"
            );
        }
        assert_eq!(asked(&m), 4, "a refusal is not remembered");
        m.0.borrow_mut().fail = Some("quorum");
        require(&m, root.path(), &cfg).expect("a cluster that cannot be asked passes");
        m.0.borrow_mut().fail = None;
        m.0.borrow_mut().quorum.as_mut().unwrap().quorate = true;
        require(&m, root.path(), &cfg).unwrap();
        require(&m, root.path(), &cfg).unwrap();
        assert_eq!(asked(&m), 6, "the pass is remembered");
        m.0.borrow_mut().quorum.as_mut().unwrap().quorate = false;
        assert!(require_now(&m, &cfg).is_err(), "delete always asks");
    }

    #[test]
    fn refusal_names_node_and_cluster() {
        assert_eq!(
            refusal("pve1", Some("prod")),
            "node pve1: cluster prod has no quorum; Proxmox VE refuses to create, start or destroy CTs until it is quorate again"
        );
        assert!(refusal("", None).starts_with("the cluster of this node has no quorum;"));
    }
}
