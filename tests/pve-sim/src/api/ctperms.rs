//! The privileges a CT create or config change needs beyond the schema's check
//! (pve-container src/PVE/API2/LXC.pm `create_vm`, src/PVE/LXC.pm
//! `check_ct_modify_config_perm` and `check_bridge_access`, pve-guest-common
//! src/PVE/GuestHelpers.pm `check_vnet_access`, pve-storage src/PVE/Storage.pm
//! `check_volume_access`).

use std::collections::BTreeMap;

use proxmox_lxcri::pve::confkeys::{MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT};

use super::perms::{denied, Acl};
use super::reply::ApiError;

/// Parameters `create_vm` takes out before the per-option checks.
const CREATE_EXTRACTED: &[&str] = &[
    "node",
    "vmid",
    "ignore-unpack-errors",
    "bwlimit",
    "start",
    "ha-managed",
    "unprivileged",
    "restore",
    "unique",
    "force",
    "password",
    "ssh-public-keys",
    "pool",
    "ostemplate",
    "storage",
];

/// Parameters of `PUT …/config` that are no CT options.
const SET_EXTRACTED: &[&str] = &["node", "vmid", "digest", "delete", "revert", "skiplock"];

/// `create_vm` after the VMID is known to be free: `VM.Allocate` on the CT (bare
/// `Permission check failed` otherwise), every option, the template and new disks' storages.
pub fn create(acl: &Acl, p: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let vmid = p.get("vmid").map(String::as_str).unwrap_or("");
    let pool_ok = p
        .get("pool")
        .is_some_and(|pool| acl.has(&format!("/pool/{pool}"), "VM.Allocate"));
    if !acl.has(&format!("/vms/{vmid}"), "VM.Allocate") && !pool_ok {
        return Err(denied(""));
    }
    let storage = p.get("storage").map(String::as_str).unwrap_or("local");
    for (k, v) in p {
        if !CREATE_EXTRACTED.contains(&k.as_str()) {
            option(acl, vmid, k, Some(v), storage)?;
        }
    }
    if let Some((sid, _)) = p.get("ostemplate").and_then(|t| t.split_once(':')) {
        template(acl, sid)?;
    }
    Ok(())
}

/// `PUT …/config`: every option set and every option deleted.
pub fn set(acl: &Acl, p: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let vmid = p.get("vmid").map(String::as_str).unwrap_or("");
    for (k, v) in p {
        if !SET_EXTRACTED.contains(&k.as_str()) {
            option(acl, vmid, k, Some(v), "local")?;
        }
    }
    for k in p
        .get("delete")
        .into_iter()
        .flat_map(|d| d.split([',', ';', ' ']))
    {
        if !k.is_empty() {
            option(acl, vmid, k, None, "local")?;
        }
    }
    Ok(())
}

/// One option of `check_ct_modify_config_perm`; `value` is `None` when it is deleted.
fn option(
    acl: &Acl,
    vmid: &str,
    key: &str,
    value: Option<&String>,
    storage: &str,
) -> Result<(), ApiError> {
    let vm = format!("/vms/{vmid}");
    match key {
        "cores" | "cpuunits" | "cpulimit" => acl.check(&vm, &["VM.Config.CPU"]),
        "memory" | "swap" => acl.check(&vm, &["VM.Config.Memory"]),
        "nameserver" | "searchdomain" | "hostname" => acl.check(&vm, &["VM.Config.Network"]),
        "hookscript" => Err(denied(
            "changing the hookscript is only allowed for root@pam",
        )),
        k if k.starts_with("dev") && k[3..].parse::<u32>().is_ok() => Err(denied(
            "configuring device passthrough is only allowed for root@pam",
        )),
        "features" => {
            let only_nesting = value.is_none_or(|v| {
                v.split(',')
                    .filter(|kv| !kv.is_empty())
                    .all(|kv| kv.split('=').next() == Some("nesting"))
            });
            if only_nesting {
                acl.check(&vm, &["VM.Allocate"])
            } else {
                Err(denied(
                    "changing feature flags (except nesting) is only allowed for root@pam",
                ))
            }
        }
        "rootfs" => {
            acl.check(&vm, &["VM.Config.Disk"])?;
            disk(acl, value, storage, &ROOTFS_FORMAT)
        }
        k if k.starts_with("mp") && k[2..].parse::<u32>().is_ok() => {
            acl.check(&vm, &["VM.Config.Disk"])?;
            disk(acl, value, storage, &MP_FORMAT)
        }
        k if k.starts_with("net") && k[3..].parse::<u32>().is_ok() => {
            acl.check(&vm, &["VM.Config.Network"])?;
            match value {
                Some(v) => bridge(acl, v),
                None => Ok(()),
            }
        }
        // `tags` with datacenter.cfg's default `user-tag-access` (free): only the CT's right.
        _ => acl.check(&vm, &["VM.Config.Options"]),
    }
}

/// A new disk (`<storage>:<GiB>`, or a bare size on the create's storage) needs
/// `Datastore.AllocateSpace` on its storage; bind and device mounts were refused before.
fn disk(
    acl: &Acl,
    value: Option<&String>,
    storage: &str,
    fmt: &proxmox_lxcri::pve::propstr::Format,
) -> Result<(), ApiError> {
    let Some(v) = value else { return Ok(()) };
    let vol = fmt
        .parse(v)
        .ok()
        .and_then(|m| m.get("volume").cloned())
        .unwrap_or_default();
    let is_size = |s: &str| !s.is_empty() && s.parse::<f64>().is_ok();
    let sid = match vol.split_once(':') {
        Some((sid, size)) if is_size(size) => Some(sid.to_string()),
        None if is_size(&vol) => Some(storage.to_string()),
        _ => None,
    };
    match sid {
        Some(sid) => acl.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"]),
        None => Ok(()),
    }
}

/// `check_vnet_access` (pve-guest-common src/PVE/GuestHelpers.pm) for a `netN` with a bridge:
/// `SDN.Use` on `/sdn/zones/<zone>/<bridge>`, or on `.../<tag>` when tagged, where the zone is
/// the vnet's (the node's `etc/pve/sdn/vnets.cfg`) or `localnetwork` for a plain bridge.
fn bridge(acl: &Acl, value: &str) -> Result<(), ApiError> {
    let Ok(net) = NET_FORMAT.parse(value) else {
        return Ok(());
    };
    let Some(br) = net.get("bridge") else {
        return Ok(());
    };
    let zone = crate::sdn::vnets(&crate::sim::Sim::from_env())
        .into_iter()
        .find(|v| v.vnet == *br)
        .map_or("localnetwork".to_string(), |v| v.zone().to_string());
    let base = format!("/sdn/zones/{zone}/{br}");
    match net.get("tag") {
        Some(tag) => acl.check(&format!("{base}/{tag}"), &["SDN.Use"]),
        None => acl.check(&base, &["SDN.Use"]),
    }
}

/// `check_volume_access` of a template volume: `Datastore.Allocate`, else read access.
fn template(acl: &Acl, sid: &str) -> Result<(), ApiError> {
    let path = format!("/storage/{sid}");
    if acl.has(&path, "Datastore.Allocate") {
        return Ok(());
    }
    acl.check_any(&path, &["Datastore.AllocateSpace", "Datastore.Audit"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const FULL: &str = r#"{"/vms": ["VM.Allocate", "VM.Config.CPU", "VM.Config.Memory",
        "VM.Config.Network", "VM.Config.Options", "VM.Config.Disk"],
        "/storage": ["Datastore.AllocateSpace", "Datastore.Audit"],
        "/sdn/zones/localnetwork/vmbr0": ["SDN.Use"]}"#;

    fn create_params() -> BTreeMap<String, String> {
        params(&[
            ("node", "n1"),
            ("vmid", "100"),
            ("ostemplate", "local:vztmpl/x.tar"),
            ("rootfs", "local:4"),
            ("memory", "512"),
            ("hostname", "h"),
            ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
            ("description", "d"),
            ("unprivileged", "1"),
        ])
    }

    #[test]
    fn create_needs_each_privilege() {
        let acl = Acl::parse(FULL).unwrap();
        create(&acl, &create_params()).unwrap();
        let no_alloc = Acl::parse(r#"{"/vms": ["VM.Config.Options"]}"#).unwrap();
        assert_eq!(
            create(&no_alloc, &create_params()).unwrap_err().msg,
            "Permission check failed"
        );
        let mut tagged = create_params();
        tagged.insert("net0".into(), "name=eth0,bridge=vmbr1,tag=5".into());
        assert_eq!(
            create(&acl, &tagged).unwrap_err().msg,
            "Permission check failed (/sdn/zones/localnetwork/vmbr1/5, SDN.Use)"
        );
        let no_space = Acl::parse(
            r#"{"/vms": ["VM.Allocate", "VM.Config.Disk", "VM.Config.Memory",
            "VM.Config.Network", "VM.Config.Options"], "/storage": ["Datastore.Audit"],
            "/sdn": ["SDN.Use"]}"#,
        )
        .unwrap();
        assert_eq!(
            create(&no_space, &create_params()).unwrap_err().msg,
            "Permission check failed (/storage/local, Datastore.AllocateSpace)"
        );
    }

    #[test]
    fn set_checks_set_and_deleted_options() {
        let acl = Acl::parse(r#"{"/vms": ["VM.Config.Memory"]}"#).unwrap();
        set(&acl, &params(&[("vmid", "7"), ("memory", "64")])).unwrap();
        assert_eq!(
            set(&acl, &params(&[("vmid", "7"), ("delete", "cores")]))
                .unwrap_err()
                .msg,
            "Permission check failed (/vms/7, VM.Config.CPU)"
        );
    }
}
