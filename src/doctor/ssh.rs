//! The node over SSH: reachable, its host key known, root's key accepted; for the `ssh`
//! backend also `pct` there, the storages (storage.cfg for content types, `pvesm status` for
//! their state) and quorum (the mode of pmxcfs's `local` link, as in `pmxcfs.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::storage::{self, StorageState};
use super::{pmxcfs, Check};
use crate::config::Config;
use crate::transport::ssh::{SshError, SshSession, SshTarget};

/// Connects to `node`'s SSH; the checks say what went wrong and what to do.
pub fn session(cfg: &Config, node: &str, config_path: &str) -> (Option<SshSession>, Vec<Check>) {
    let target = SshTarget::from_config(&cfg.ssh, node);
    let addr = target.addr();
    let name = |what: &str| format!("{what} ({node})");
    match SshSession::connect(&target) {
        Ok(s) => (
            Some(s),
            vec![
                Check::ok(
                    name("ssh"),
                    format!("{}@{addr}, key {}", target.user, target.identity.display()),
                ),
                Check::ok(
                    name("ssh host key"),
                    format!("known in {}", target.known_hosts.display()),
                ),
            ],
        ),
        Err(e) => {
            let detail = e.to_string();
            let c = match e {
                SshError::UnknownHostKey { .. } | SshError::HostKeyMismatch { .. } => Check::fail(
                    name("ssh host key"),
                    detail,
                    format!(
                        "compare the key with the node's (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it), then add it: ssh-keyscan -p {} {} >> {}",
                        target.port,
                        target.host,
                        target.known_hosts.display()
                    ),
                ),
                SshError::KnownHostsFile { .. } => Check::fail(
                    name("ssh host key"),
                    detail,
                    format!(
                        "create {} with the node's host key (ssh-keyscan -p {} {}), or set ssh.known_hosts in {config_path}",
                        target.known_hosts.display(),
                        target.port,
                        target.host
                    ),
                ),
                SshError::Auth { .. } => Check::fail(
                    name("ssh"),
                    detail,
                    format!(
                        "add {}.pub to /root/.ssh/authorized_keys on {node}",
                        target.identity.display()
                    ),
                ),
                _ => Check::fail(
                    name("ssh"),
                    detail,
                    format!("check that sshd runs on {addr} and that ssh.host/ssh.port in {config_path} point at it"),
                ),
            };
            (None, vec![c])
        }
    }
}

/// Every check of the `ssh` backend's node.
pub fn node(cfg: &Config, config_path: &str) -> Vec<Check> {
    let node = cfg.node_name();
    let (session, mut out) = session(cfg, &node, config_path);
    let Some(s) = session else { return out };
    let timeout = Duration::from_secs(cfg.pct.timeout.max(1));
    let run = |argv: &[&str]| {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        s.run(&argv, b"", timeout)
            .ok()
            .filter(|o| o.exit.code() == 0)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let pve = cfg.pct.pve_dir.display().to_string();
    let Some(status) = run(&["pvesm", "status"]) else {
        out.push(Check::fail(
            format!("node ({node})"),
            format!("pvesm status fails on {node}"),
            "run the ssh backend against a Proxmox VE node (pve-manager installed), as root",
        ));
        return out;
    };
    let states = parse_pvesm_status(&status);
    // The content types from storage.cfg; else only whether each needed type is there.
    let defs = run(&["cat", &format!("{pve}/storage.cfg")]).map(|t| parse_storage_cfg(&t));
    for role in storage::needs(cfg) {
        let content = match &defs {
            Some(d) => d.get(&role.storage).cloned(),
            None => run(&["pvesm", "status", "--content", role.content]).map(|t| {
                let has = parse_pvesm_status(&t).contains_key(&role.storage);
                has.then(|| role.content.to_string()).into_iter().collect()
            }),
        };
        let state = states.get(&role.storage).map(|st| StorageState {
            content: content.unwrap_or_default(),
            complete: defs.is_some(),
            active: st == "active",
            enabled: st != "disabled",
        });
        out.push(storage::check(&role, &node, state.as_ref(), config_path));
    }
    let mode = run(&["stat", "-c", "%a", &format!("{pve}/local")])
        .and_then(|m| u32::from_str_radix(m.trim(), 8).ok());
    out.push(pmxcfs::quorum(mode));
    out
}

/// `storage.cfg`: storage id → content types. Sections start with `<type>: <id>`; a missing
/// `content` line means the plugins' usual default for guest storages, `images,rootdir`.
pub fn parse_storage_cfg(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            current = line.split_once(':').map(|(_, id)| id.trim().to_string());
            if let Some(id) = &current {
                out.insert(
                    id.clone(),
                    vec!["images".to_string(), "rootdir".to_string()],
                );
            }
        } else if let (Some(id), Some(v)) = (&current, line.trim().strip_prefix("content ")) {
            out.insert(
                id.clone(),
                v.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            );
        }
    }
    out
}

/// `pvesm status`: storage id → status (`active`, `inactive`, `disabled`).
pub fn parse_pvesm_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (id, _type, status) = (f.next()?, f.next()?, f.next()?);
            Some((id.to_string(), status.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_cfg_and_status() {
        let cfg = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n\
                   lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n\
                   zfspool: tank\n\tpool tank\n";
        let d = parse_storage_cfg(cfg);
        assert_eq!(d["local"], vec!["iso", "vztmpl", "backup"]);
        assert_eq!(d["local-lvm"], vec!["rootdir", "images"]);
        assert_eq!(d["tank"], vec!["images", "rootdir"]);
        let st = parse_pvesm_status(
            "Name             Type     Status           Total            Used       Available        %\n\
             local             dir     active        98497780        12345678        81088888   12.53%\n\
             local-lvm     lvmthin   inactive               0               0               0    0.00%\n",
        );
        assert_eq!(st["local"], "active");
        assert_eq!(st["local-lvm"], "inactive");
    }
}
