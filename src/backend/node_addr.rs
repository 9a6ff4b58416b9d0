//! Where to reach a CT's node over SSH when `[ssh.nodes]` does not say: the node's address in
//! the cluster's `/cluster/status` (pve-manager PVE/API2/Cluster.pm `get_status`, each `node`
//! entry's `ip`), asked over the API (`api` backend) or with `pvesh` on `[ssh] host` (`ssh`
//! backend). Asked once per invocation that opens a session; a failure only means `[ssh] host`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::node_shell::NodeShell;
use crate::config::{BackendKind, Config};

/// Node name -> `ip` of the `node` entries of `/cluster/status`.
pub fn node_ips(status: &Value) -> BTreeMap<String, String> {
    status
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("node"))
        .filter_map(|e| {
            let name = e.get("name")?.as_str()?;
            let ip = e.get("ip")?.as_str().filter(|ip| !ip.is_empty())?;
            Some((name.to_string(), ip.to_string()))
        })
        .collect()
}

/// `node`'s address in the cluster, when the backend can ask and the node has no
/// `[ssh.nodes]` entry.
pub fn cluster_ip(cfg: &Config, node: &str) -> Option<String> {
    if cfg.ssh.nodes.contains_key(node) {
        return None;
    }
    let status = match cfg.backend {
        BackendKind::Pct => return None,
        BackendKind::Api => crate::api::Client::new(&cfg.api)
            .and_then(|c| c.get("/cluster/status", &[]))
            .map_err(|e| e.to_string()),
        // Without `[ssh] host` the node name is the address, and there is no one else to ask.
        BackendKind::Ssh if cfg.ssh.host.is_empty() => return None,
        BackendKind::Ssh => {
            let shell = NodeShell::fixed(cfg, &cfg.ssh.host);
            super::ssh::pvesh_get(&shell, "/cluster/status", &[]).map_err(|e| e.to_string())
        }
    };
    match status {
        Ok(s) => {
            let ip = node_ips(&s).remove(node);
            log::debug!("node {node}: address in /cluster/status: {ip:?}");
            ip
        }
        Err(e) => {
            log::debug!("node {node}: no address from /cluster/status ({e}); using [ssh] host");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn node_ips_from_cluster_status() {
        let ips = super::node_ips(&json!([
            {"type": "cluster", "name": "c1", "quorate": 1, "nodes": 3},
            {"type": "node", "name": "pve1", "ip": "192.168.1.1", "online": 1, "local": 1},
            {"type": "node", "name": "pve2", "ip": "192.168.1.2", "online": 0},
            {"type": "node", "name": "pve3"},
        ]));
        assert_eq!(ips.len(), 2);
        assert_eq!(ips["pve1"], "192.168.1.1");
        assert_eq!(ips["pve2"], "192.168.1.2");
        assert!(super::node_ips(&json!({"data": []})).is_empty());
    }
}
