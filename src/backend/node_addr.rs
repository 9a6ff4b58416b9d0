//! Where to reach a CT's node over SSH when `[ssh.nodes]` does not say: the node's address in
//! the cluster's `/cluster/status` (pve-manager PVE/API2/Cluster.pm `get_status`, each `node`
//! entry's `ip`), asked over the API (`api` backend) or with `pvesh` on `[ssh] host` (`ssh`
//! backend). The answer is cached under the state root for a minute, as the node's version is
//! (`nodever`); a failure only means `[ssh] host`, and is not cached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::node_shell::NodeShell;
use super::nodever::{cache_file, endpoint, now, write_cache_file, CACHE_LIFETIME};
use crate::config::{BackendKind, Config};

/// The state root the answers are cached under; unset (a process that never learned it), every
/// session asks.
static CACHE_ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Cache the nodes' addresses under `root` (`<root>/.nodes/`) from now on.
pub fn cache_under(root: &Path) {
    let _ = CACHE_ROOT.set(root.to_path_buf());
}

/// The state root this process caches under, once learned.
pub fn state_root() -> Option<&'static Path> {
    CACHE_ROOT.get().map(PathBuf::as_path)
}

/// The cache file's content: the node's address, or none in the cluster's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    node: String,
    ip: Option<String>,
    /// Seconds since the epoch when it was learned.
    learned: u64,
}

fn read_cache(path: &Path, node: &str, at: u64) -> Option<Option<String>> {
    let c: Cached = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let age = at.checked_sub(c.learned)?;
    (c.node == node && age < CACHE_LIFETIME.as_secs()).then_some(c.ip)
}

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
    if cfg.ssh.nodes.contains_key(node) || cfg.backend == BackendKind::Pct {
        return None;
    }
    let path = CACHE_ROOT
        .get()
        .and_then(|root| cache_file(root, node, &endpoint(cfg), "addr.json"));
    if let Some(ip) = path.as_ref().and_then(|p| read_cache(p, node, now())) {
        return ip;
    }
    let ip = ask(cfg, node)?;
    if let (Some(p), Ok(b)) = (&path, serde_json::to_vec(&ip)) {
        write_cache_file(p, &b);
    }
    ip.ip
}

/// `/cluster/status` asked; `None` when it could not be.
fn ask(cfg: &Config, node: &str) -> Option<Cached> {
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
            Some(Cached {
                node: node.to_string(),
                ip,
                learned: now(),
            })
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
    fn a_cached_address_is_for_its_node_and_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(&p, r#"{"node":"pve2","ip":"10.0.0.2","learned":1000}"#).unwrap();
        assert_eq!(
            super::read_cache(&p, "pve2", 1059),
            Some(Some("10.0.0.2".into()))
        );
        assert_eq!(super::read_cache(&p, "pve2", 1060), None);
        assert_eq!(super::read_cache(&p, "pve3", 1001), None);
        std::fs::write(&p, r#"{"node":"pve2","ip":null,"learned":1000}"#).unwrap();
        assert_eq!(super::read_cache(&p, "pve2", 1001), Some(None));
    }

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
