//! What the `api` backend's token must be allowed to do, against what `GET /access/permissions`
//! says it may. The needs follow the calls the backend makes and the checks Proxmox runs on them
//! (pve-container src/PVE/API2/LXC.pm and src/PVE/LXC.pm `check_ct_modify_config_perm`,
//! pve-storage src/PVE/API2/Storage/Status.pm and Content.pm, pve-guest-common
//! src/PVE/GuestHelpers.pm `check_vnet_access`).
//!
//! A path's privileges are those of the deepest listed path above it (Proxmox's ACLs: the deeper
//! entry replaces the shallower one; pve-access-control src/PVE/AccessControl.pm `roles`).
//! Proxmox leaves paths without any privilege out of the answer, so a deeper `NoAccess` entry is
//! not seen; the runtime's own calls would then still be refused with Proxmox's message.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::config::Config;

/// Privileges per path, as `GET /access/permissions` gives them.
pub type Tree = BTreeMap<String, BTreeSet<String>>;

/// One privilege (or one of several, `any`) the runtime needs on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub path: String,
    pub privs: Vec<&'static str>,
    pub any: bool,
    /// What the runtime does with it.
    pub why: &'static str,
    /// `false`: only an optional command needs it (`images --prune`).
    pub blocking: bool,
}

fn need(path: &str, p: &'static str, why: &'static str) -> Need {
    Need {
        path: path.to_string(),
        privs: vec![p],
        any: false,
        why,
        blocking: true,
    }
}

/// `{"/vms": {"VM.Allocate": 1}, …}` → a tree; anything else is `None`.
pub fn parse_tree(data: &Value) -> Option<Tree> {
    let obj = data.as_object()?;
    Some(
        obj.iter()
            .map(|(path, privs)| {
                let set = privs
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                (path.clone(), set)
            })
            .collect(),
    )
}

/// The privileges on `path`: those of the deepest path of `tree` at or above it.
pub fn effective<'a>(tree: &'a Tree, path: &str) -> Option<&'a BTreeSet<String>> {
    let mut found = tree.get("/");
    let mut prefix = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        prefix.push('/');
        prefix.push_str(comp);
        if let Some(p) = tree.get(&prefix) {
            found = Some(p);
        }
    }
    found
}

/// Everything the `api` backend does with `cfg`, as privileges on paths. The VMID range is
/// `/vms` (granted there, it covers every VMID) plus each `/vms/<vmid>` of `tree` inside the
/// range, which overrides `/vms` for that CT.
pub fn needs(cfg: &Config, tree: &Tree) -> Vec<Need> {
    let mut vm_paths = vec!["/vms".to_string()];
    let [lo, hi] = cfg.vmid_range;
    vm_paths.extend(
        tree.keys()
            .filter(|p| {
                p.strip_prefix("/vms/")
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| (lo..=hi).contains(&v))
            })
            .cloned(),
    );
    let mut out = Vec::new();
    for vm in &vm_paths {
        out.extend([
            need(vm, "VM.Allocate", "create and destroy CTs"),
            need(vm, "VM.Audit", "read a CT's status and config"),
            need(vm, "VM.PowerMgmt", "start and stop CTs"),
            need(
                vm,
                "VM.Config.Options",
                "set a CT's description, tags and entrypoint",
            ),
            need(vm, "VM.Config.Memory", "set a CT's memory and swap"),
            need(vm, "VM.Config.CPU", "set a CT's CPU limits"),
            need(vm, "VM.Config.Disk", "give a CT its root volume"),
            need(vm, "VM.Config.Network", "set a CT's hostname and net0"),
        ]);
    }
    let tpath = format!("/storage/{}", cfg.storage);
    out.push(need(
        &tpath,
        "Datastore.AllocateTemplate",
        "upload rootfs templates",
    ));
    out.push(Need {
        path: tpath.clone(),
        privs: vec!["Datastore.Audit", "Datastore.AllocateSpace"],
        any: true,
        why: "find templates uploaded before",
        blocking: true,
    });
    out.push(Need {
        blocking: false,
        ..need(
            &tpath,
            "Datastore.Allocate",
            "remove templates (images --prune)",
        )
    });
    out.push(need(
        &format!("/storage/{}", cfg.rootfs_storage),
        "Datastore.AllocateSpace",
        "allocate CT root volumes",
    ));
    // Only `migrate`, `evacuate` and `rebalance` move CTs (pve-container src/PVE/API2/LXC.pm
    // `migrate_vm`).
    out.push(Need {
        blocking: false,
        ..need(
            "/vms",
            "VM.Migrate",
            "move CTs to other nodes (migrate, evacuate, rebalance)",
        )
    });
    if cfg.node == "auto" {
        // Without it `GET /nodes` leaves the load figures out and every node looks idle.
        out.push(Need {
            blocking: false,
            ..need(
                "/nodes",
                "Sys.Audit",
                "see the nodes' load to place CTs (node = \"auto\")",
            )
        });
    }
    if !cfg.network.bridge.is_empty() {
        let mut p = format!("/sdn/zones/localnetwork/{}", cfg.network.bridge);
        if cfg.network.tag != 0 {
            p.push_str(&format!("/{}", cfg.network.tag));
        }
        out.push(need(&p, "SDN.Use", "attach net0 to the bridge"));
    }
    out
}

/// The needs `tree` does not meet.
pub fn missing<'a>(needs: &'a [Need], tree: &Tree) -> Vec<&'a Need> {
    needs
        .iter()
        .filter(|n| {
            let have = effective(tree, &n.path);
            let has = |p: &&str| have.is_some_and(|h| h.contains(*p));
            if n.any {
                !n.privs.iter().any(has)
            } else {
                !n.privs.iter().all(has)
            }
        })
        .collect()
}

/// `VM.Allocate on /vms` or `Datastore.Audit|Datastore.AllocateSpace on /storage/local`.
pub fn describe(n: &Need) -> String {
    format!("{} on {}", n.privs.join("|"), n.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(v: Value) -> Tree {
        parse_tree(&v).unwrap()
    }

    fn cfg() -> Config {
        let mut c = Config {
            vmid_range: [1000, 1999],
            ..Default::default()
        };
        c.network.bridge = "vmbr0".into();
        c
    }

    const VM: [&str; 8] = [
        "VM.Allocate",
        "VM.Audit",
        "VM.PowerMgmt",
        "VM.Config.Options",
        "VM.Config.Memory",
        "VM.Config.CPU",
        "VM.Config.Disk",
        "VM.Config.Network",
    ];

    fn full() -> Value {
        json!({
            "/vms": VM.iter().chain(&["VM.Migrate"]).map(|p| (p.to_string(), json!(1))).collect::<serde_json::Map<_, _>>(),
            "/storage": {"Datastore.AllocateTemplate": 1, "Datastore.Audit": 1,
                         "Datastore.AllocateSpace": 1, "Datastore.Allocate": 1},
            "/sdn/zones/localnetwork/vmbr0": {"SDN.Use": 1},
        })
    }

    #[test]
    fn a_full_token_misses_nothing() {
        let c = cfg();
        let t = tree(full());
        let n = needs(&c, &t);
        assert!(missing(&n, &t).is_empty());
    }

    #[test]
    fn missing_privileges_are_named_with_their_path() {
        let c = cfg();
        let mut v = full();
        v["/vms"].as_object_mut().unwrap().remove("VM.Allocate");
        v["/vms"].as_object_mut().unwrap().remove("VM.Migrate");
        // A CT of the range with its own, smaller entry; one outside the range is ignored.
        v["/vms/1500"] = json!({"VM.Audit": 1});
        v["/vms/5"] = json!({"VM.Audit": 1});
        v.as_object_mut()
            .unwrap()
            .remove("/sdn/zones/localnetwork/vmbr0");
        let t = tree(v);
        let n = needs(&c, &t);
        let m: Vec<String> = missing(&n, &t).iter().map(|n| describe(n)).collect();
        assert!(m.contains(&"VM.Allocate on /vms".to_string()), "{m:?}");
        // Only moving CTs needs VM.Migrate: named, not blocking.
        let migrate = missing(&n, &t)
            .into_iter()
            .find(|n| describe(n) == "VM.Migrate on /vms")
            .expect("VM.Migrate named");
        assert!(!migrate.blocking);
        assert!(
            m.contains(&"VM.PowerMgmt on /vms/1500".to_string()),
            "{m:?}"
        );
        assert!(!m.iter().any(|x| x.ends_with("/vms/5")), "{m:?}");
        assert!(
            m.contains(&"SDN.Use on /sdn/zones/localnetwork/vmbr0".to_string()),
            "{m:?}"
        );
    }

    #[test]
    fn tagged_bridge_and_any_of() {
        let mut c = cfg();
        c.network.tag = 7;
        let mut v = full();
        v["/storage"] = json!({"Datastore.AllocateTemplate": 1, "Datastore.AllocateSpace": 1});
        let t = tree(v);
        let n = needs(&c, &t);
        let m = missing(&n, &t);
        // The bridge's entry propagates to its VLAN; AllocateSpace stands in for Audit.
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(describe(m[0]), "Datastore.Allocate on /storage/local");
        assert!(!m[0].blocking);
        // node = "auto" wants the load figures, which need Sys.Audit on the nodes.
        c.node = "auto".into();
        let n = needs(&c, &t);
        let m: Vec<String> = missing(&n, &t).iter().map(|n| describe(n)).collect();
        assert!(m.contains(&"Sys.Audit on /nodes".to_string()), "{m:?}");
    }
}
