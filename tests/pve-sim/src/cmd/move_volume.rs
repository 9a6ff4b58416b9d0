//! `pct move-volume <vmid> <volume> --target-vmid <id> [--target-volume <key>]`: a mount point
//! volume reassigned to another CT on the same node (`move_volume` in pve-container
//! src/PVE/API2/LXC.pm, its `$load_and_check_reassign_configs` and `$volume_reassignfn`). Moving
//! to another storage (`--storage`) is not simulated.

use proxmox_lxcri::pve::confkeys::MP_FORMAT;

use super::{check_lock, in_task, run_task};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, storage, store};

fn is_key(k: &str, prefix: &str) -> bool {
    k.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The checks before the task (also the API's, before its worker); returns the source volume
/// ID.
pub fn check(sim: &Sim, vmid: u32, key: &str, target: u32, tkey: &str) -> Result<String> {
    if key == "rootfs" || tkey == "rootfs" {
        return Err(Failure::die("Cannot move to/from 'rootfs'"));
    }
    if is_key(key, "unused") && !is_key(tkey, "unused") {
        return Err(Failure::die(
            "Moving an unused volume to a used one is not possible",
        ));
    }
    let (Some(snode), tnode) = (store::owner_node(sim, vmid), store::owner_node(sim, target))
    else {
        return Err(Failure::die(format!("could not find CT {vmid}")));
    };
    let Some(tnode) = tnode else {
        return Err(Failure::die(format!("could not find CT {target}")));
    };
    if snode != tnode {
        return Err(Failure::die(format!(
            "Both containers need to be on the same node ({snode} != {tnode})"
        )));
    }
    let source = store::load(sim, vmid)?;
    check_lock(&source)?;
    let tconf = store::load(sim, target)?;
    check_lock(&tconf)?;
    let template =
        |c: &proxmox_lxcri::pve::CtConfig| c.options.get("template").is_some_and(|t| t == "1");
    if template(&source) || template(&tconf) {
        return Err(Failure::die("Can't move volumes from or to template CT"));
    }
    let Some(value) = source.options.get(key) else {
        return Err(Failure::die(format!(
            "volume '{key}' for container '{vmid}' does not exist"
        )));
    };
    if tconf.options.contains_key(tkey) {
        return Err(Failure::die(format!(
            "Target volume key '{tkey}' is already in use for container '{target}'"
        )));
    }
    let volid = if is_key(key, "unused") {
        value.clone()
    } else {
        MP_FORMAT
            .parse(value)
            .map_err(|e| Failure::die(format!("{key}: {e}")))?["volume"]
            .clone()
    };
    if volid.starts_with('/') {
        return Err(Failure::die(
            "Cannot move a bindmount or device mount to another container",
        ));
    }
    if ct::is_running(sim, vmid) && !is_key(key, "unused") {
        return Err(Failure::die(
            "Cannot move in-use volume while the source CT is running - detach or shutdown first",
        ));
    }
    if ct::is_running(sim, target) && !is_key(tkey, "unused") {
        return Err(Failure::die(
            "pve-sim: moving a volume into a running CT (hotplug) is not simulated",
        ));
    }
    Ok(volid)
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    let key = p.args["volume"].clone();
    let (storage_opt, target) = (p.get("storage"), p.get("target-vmid"));
    let target: u32 = match (storage_opt, target) {
        (Some(_), Some(_)) => {
            return Err(Failure::die(
                "either set storage or target-vmid, but not both",
            ))
        }
        (Some(_), None) => {
            return Err(Failure::die(
                "pve-sim: moving a volume to another storage is not simulated",
            ))
        }
        (None, None) => {
            return Err(Failure::die(
                "both 'storage' and 'target-vmid' missing, either needs to be set",
            ))
        }
        (None, Some(t)) => t
            .parse()
            .map_err(|_| Failure::die(format!("target-vmid: invalid VMID '{t}'")))?,
    };
    let tkey = p.get("target-volume").unwrap_or(&key).to_string();
    for k in [&key, &tkey] {
        if !(is_key(k, "mp") || is_key(k, "unused") || k == "rootfs") {
            return Err(Failure::die(format!(
                "400 Parameter verification failed.\nvolume: value '{k}' does not have a value in the enumeration"
            )));
        }
    }
    check(sim, vmid, &key, target, &tkey)?;

    run_task(|task| {
        // Both configs locked, the source's first (as `lock_config` nests them).
        let _l1 = in_task(store::lock(sim, vmid))?;
        let _l2 = (target != vmid)
            .then(|| in_task(store::lock(sim, target)))
            .transpose()?;
        let volid = in_task(check(sim, vmid, &key, target, &tkey))?;
        task.log(&format!(
            "moving volume '{key}' from container '{vmid}' to '{target}'"
        ));
        let new_volid = storage::rename_volume(sim, &volid, target)?;
        let (mut source, _) = in_task(store::load_quiet(sim, vmid))?;
        let value = source.options.remove(&key).unwrap_or_default();
        task.log(&format!(
            "removing volume '{key}' from container '{vmid}' config"
        ));
        in_task(store::write(sim, vmid, &source))?;
        let printed = if is_key(&tkey, "unused") {
            new_volid
        } else {
            let mut props = MP_FORMAT.parse(&value).map_err(|e| e.to_string())?;
            props.insert("volume".into(), new_volid);
            MP_FORMAT.print(&props).map_err(|e| e.to_string())?
        };
        let (mut tconf, _) = in_task(store::load_quiet(sim, target))?;
        tconf.set(&tkey, &printed);
        in_task(store::write(sim, target, &tconf))?;
        task.log(&format!(
            "target container '{target}' updated with '{tkey}'"
        ));
        Ok(())
    })
}
