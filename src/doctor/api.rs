//! The `api` backend's node: reachable over HTTPS, its certificate the pinned (or CA-signed)
//! one, the token valid and allowed to do what the runtime does, the node online, the storages
//! fit for their roles, the cluster quorate; plus SSH for `pct exec`.

use serde_json::Value;

use super::privileges::{self, Tree};
use super::storage::{self, StorageState};
use super::{ssh, Check};
use crate::api::credentials::CredentialError;
use crate::api::{ApiError, Client};
use crate::config::Config;

pub fn node(cfg: &Config, config_path: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let client = match Client::new(&cfg.api) {
        Ok(c) => c,
        Err(e) => {
            out.push(setup_error(cfg, config_path, e));
            return out;
        }
    };
    let version = match client.get("/version", &[]) {
        Ok(v) => v,
        Err(e) => {
            out.push(call_error(cfg, config_path, e));
            return out;
        }
    };
    let release = version["version"].as_str().unwrap_or("?");
    out.push(Check::ok(
        "node reachable",
        format!("{} (Proxmox VE {release})", client.base_url()),
    ));
    out.push(Check::ok("tls", trust(cfg)));
    out.push(Check::ok(
        "token",
        format!("{} accepted", client.token_id()),
    ));

    let nodes = placement(cfg, &client, &mut out);
    out.push(privileges_check(cfg, &client, config_path));
    for n in &nodes {
        for role in storage::needs(cfg) {
            let state = storage_state(&client, n, &role.storage);
            out.push(storage::check(&role, n, state.as_ref(), config_path));
        }
    }
    out.push(quorum(&client));
    // `pct exec` (start, exec, kill) goes over SSH to each node.
    for n in &nodes {
        out.extend(ssh::session(cfg, n, config_path).1);
    }
    out
}

fn trust(cfg: &Config) -> String {
    if !cfg.api.fingerprint.trim().is_empty() {
        "the node's certificate matches api.fingerprint".into()
    } else if !cfg.api.ca_file.as_os_str().is_empty() {
        format!(
            "the node's certificate is signed by {}",
            cfg.api.ca_file.display()
        )
    } else {
        "the node's certificate is signed by a system CA".into()
    }
}

/// The node(s) CTs will go to: the configured one (which must be online), or with `auto` every
/// online node.
fn placement(cfg: &Config, client: &Client, out: &mut Vec<Check>) -> Vec<String> {
    let nodes = match client.nodes() {
        Ok(n) => n,
        Err(e) => {
            out.push(Check::fail(
                "node",
                e.to_string(),
                "grant the token a role on / or on /nodes (GET /nodes lists only nodes it may see)",
            ));
            return Vec::new();
        }
    };
    if cfg.node == "auto" {
        let online: Vec<String> = nodes
            .iter()
            .filter(|n| n.status == "online")
            .map(|n| n.node.clone())
            .collect();
        if online.is_empty() {
            out.push(Check::fail(
                "node",
                "node = \"auto\", but no node is online",
                "bring a cluster node online (pvecm status)",
            ));
        } else {
            out.push(Check::ok(
                "node",
                format!("auto: online {}", online.join(", ")),
            ));
        }
        return online;
    }
    let name = cfg.node_name();
    match nodes.iter().find(|n| n.node == name) {
        Some(n) if n.status == "online" => {
            out.push(Check::ok("node", format!("{name} is online")));
            vec![name]
        }
        Some(n) => {
            out.push(Check::fail(
                "node",
                format!("node {name} is {}", n.status),
                format!("bring {name} back online, or set node to another node (or \"auto\")"),
            ));
            Vec::new()
        }
        None => {
            let known: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
            out.push(Check::fail(
                "node",
                format!(
                    "no such cluster node '{name}' (nodes: {})",
                    known.join(", ")
                ),
                "set node to one of the cluster's nodes, or \"auto\"",
            ));
            Vec::new()
        }
    }
}

/// `GET /access/permissions` against what the runtime will do.
fn privileges_check(cfg: &Config, client: &Client, config_path: &str) -> Check {
    let name = "token privileges";
    let token = client.token_id().to_string();
    let tree: Tree = match client.get("/access/permissions", &[]) {
        Ok(v) => match privileges::parse_tree(&v) {
            Some(t) => t,
            None => {
                return Check::fail(
                    name,
                    format!("GET /access/permissions: unexpected answer {v}"),
                    "check that api.url points at a Proxmox VE node",
                )
            }
        },
        Err(e) => {
            return Check::fail(
                name,
                e.to_string(),
                format!("check the token in {config_path}"),
            )
        }
    };
    let needs = privileges::needs(cfg, &tree);
    let missing = privileges::missing(&needs, &tree);
    let (blocking, optional): (Vec<_>, Vec<_>) = missing.into_iter().partition(|n| n.blocking);
    if blocking.is_empty() {
        let mut detail = format!("{token} may do everything the runtime does");
        for n in &optional {
            detail.push_str(&format!(
                "; without {} it cannot {}",
                privileges::describe(n),
                n.why
            ));
        }
        return if optional.is_empty() {
            Check::ok(name, detail)
        } else {
            Check::info(name, detail)
        };
    }
    let list: Vec<String> = blocking
        .iter()
        .map(|n| format!("{} (to {})", privileges::describe(n), n.why))
        .collect();
    let mut privs: Vec<&str> = blocking.iter().map(|n| n.privs[0]).collect();
    privs.sort_unstable();
    privs.dedup();
    let mut paths: Vec<&str> = blocking.iter().map(|n| n.path.as_str()).collect();
    paths.dedup();
    let grants: Vec<String> = paths
        .iter()
        .map(|p| format!("pveum acl modify {p} --tokens '{token}' --roles ProxmoxLXCRI"))
        .collect();
    Check::fail(
        name,
        format!("{token} lacks {}", list.join(", ")),
        format!(
            "pveum role add ProxmoxLXCRI --privs '{}' (an existing role: pveum role modify ProxmoxLXCRI --append 1 --privs …), then {} (a privilege-separated token needs them on its user too)",
            privs.join(","),
            grants.join(" and ")
        ),
    )
}

/// A storage as `GET /nodes/{node}/storage` reports it (`None`: not there or not visible).
fn storage_state(client: &Client, node: &str, id: &str) -> Option<StorageState> {
    let list = client.get(&format!("/nodes/{node}/storage"), &[]).ok()?;
    let e = list
        .as_array()?
        .iter()
        .find(|e| e["storage"].as_str() == Some(id))?;
    let flag = |v: &Value| v.as_u64().map(|n| n != 0).or(v.as_bool()).unwrap_or(false);
    Some(StorageState {
        content: e["content"]
            .as_str()
            .unwrap_or("")
            .split(',')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect(),
        complete: true,
        active: flag(&e["active"]),
        // Absent means enabled (Proxmox only lists `enabled` with the `enabled` filter).
        enabled: e.get("enabled").is_none_or(flag),
    })
}

/// `GET /cluster/status`: the `cluster` entry's `quorate`; a single node has no such entry.
fn quorum(client: &Client) -> Check {
    match client.get("/cluster/status", &[]) {
        Ok(v) => quorum_of(&v),
        Err(e) if e.status() == Some(403) => Check::info(
            "quorum",
            format!("cannot tell: {e} (the runtime itself does not need Sys.Audit on /)"),
        ),
        Err(e) => Check::fail("quorum", e.to_string(), "check the cluster: pvecm status"),
    }
}

pub fn quorum_of(status: &Value) -> Check {
    let cluster = status
        .as_array()
        .and_then(|a| a.iter().find(|e| e["type"] == "cluster"));
    match cluster {
        None => Check::ok("quorum", "single node (always quorate)"),
        Some(c) if c["quorate"].as_u64() == Some(1) || c["quorate"] == true => Check::ok(
            "quorum",
            format!("cluster {} quorate", c["name"].as_str().unwrap_or("")),
        ),
        Some(c) => Check::fail(
            "quorum",
            format!(
                "cluster {} is not quorate: Proxmox refuses to create CTs",
                c["name"].as_str().unwrap_or("")
            ),
            "bring enough cluster nodes online (pvecm status shows the votes)",
        ),
    }
}

/// A problem before any request: token file, URL, CA file.
fn setup_error(cfg: &Config, config_path: &str, e: ApiError) -> Check {
    match e {
        ApiError::Credentials(CredentialError::Token { .. }) => Check::fail(
            "token",
            e.to_string(),
            format!(
                "write the token as USER@REALM!TOKENID=SECRET to {} (mode 0600, owned by the runtime's user); create one with pveum user token add",
                cfg.api.token_file.display()
            ),
        ),
        ApiError::Credentials(CredentialError::Fingerprint(_)) => Check::fail(
            "tls",
            e.to_string(),
            format!("set api.fingerprint in {config_path} to the node's SHA-256 fingerprint (pvenode cert info on the node)"),
        ),
        ApiError::Url { .. } => Check::fail(
            "node reachable",
            e.to_string(),
            format!("set api.url = \"https://NODE:8006\" in {config_path}"),
        ),
        _ => Check::fail(
            "tls",
            e.to_string(),
            format!("copy the node's /etc/pve/pve-root-ca.pem to {} or set api.fingerprint", cfg.api.ca_file.display()),
        ),
    }
}

/// A failed first request, by what failed.
fn call_error(cfg: &Config, config_path: &str, e: ApiError) -> Check {
    let detail = e.to_string();
    match e {
        ApiError::FingerprintMismatch { presented, .. } => Check::fail(
            "tls",
            detail,
            format!("check on the node that its certificate is {presented} (pvenode cert info), then set api.fingerprint = \"{presented}\" in {config_path}"),
        ),
        ApiError::Tls { .. } => Check::fail(
            "tls",
            detail,
            format!("pin the node's certificate: set api.fingerprint (pvenode cert info on the node) or api.ca_file in {config_path}"),
        ),
        ApiError::Auth { token, .. } => Check::fail(
            "token",
            detail,
            format!(
                "create the token on the node (pveum user token add {} --privsep 1) and write USER@REALM!TOKENID=SECRET to {}",
                token.replace('!', " "),
                cfg.api.token_file.display()
            ),
        ),
        _ => Check::fail(
            "node reachable",
            detail,
            format!(
                "check api.url ({}) in {config_path}: pveproxy must listen there and a firewall must let this host through",
                cfg.api.url
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quorum_from_cluster_status() {
        assert!(quorum_of(&json!([{"type": "node", "name": "pve1", "online": 1}])).ok);
        assert!(quorum_of(&json!([{"type": "cluster", "name": "c", "quorate": 1}])).ok);
        let c = quorum_of(&json!([{"type": "cluster", "name": "c", "quorate": 0}]));
        assert!(!c.ok && c.detail.contains("not quorate"));
    }
}
