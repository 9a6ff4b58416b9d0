//! `pct destroy <vmid> [--force B] [--purge B]` (`destroy_vm`). Removes the config, the CT's
//! LXC directory and the storage volumes the CT owns (`destroy_lxc_container` does so with or
//! without `--purge`), never a bind-mounted rootfs or mount point source: those are host
//! directories, and only the files the sim itself wrote are unlinked.

use std::fs;

use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use super::{check_lock, in_task, run_task, task_check_lock};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, storage, store};

/// Storage volumes of CT `vmid` that it owns (by name, like `parse_volname`'s owner): rootfs,
/// mount points and unused disks. Bind and device paths are not volumes.
fn owned_volumes(sim: &Sim, vmid: u32, conf: &CtConfig) -> Vec<String> {
    let mut vols = Vec::new();
    for (k, v) in &conf.options {
        let volume = if k == "rootfs" {
            ROOTFS_FORMAT.parse(v).ok().map(|m| m["volume"].clone())
        } else if k.starts_with("mp") {
            MP_FORMAT.parse(v).ok().map(|m| m["volume"].clone())
        } else if k.starts_with("unused") {
            Some(v.clone())
        } else {
            None
        };
        let Some(volume) = volume.filter(|v| !v.starts_with('/')) else {
            continue;
        };
        let owned = storage::resolve(sim, &volume).is_ok_and(|r| r.vol.vmid == Some(vmid));
        if owned && !vols.contains(&volume) {
            vols.push(volume);
        }
    }
    vols
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    let conf = store::load(sim, vmid)?;
    if conf.options.get("protection").is_some_and(|v| v == "1") {
        return Err(Failure::die(format!(
            "can't remove CT {vmid} - protection mode enabled"
        )));
    }
    check_lock(&conf)?;
    // `destroy_vm`'s early check (pve-container src/PVE/API2/LXC.pm).
    if !p.flag("purge") && crate::ha::configured(sim, vmid) {
        return Err(Failure::die(format!(
            "unable to remove CT {vmid} - used in HA resources and purge parameter not set."
        )));
    }
    if !p.flag("force") && ct::is_running(sim, vmid) {
        return Err(Failure::die(format!(
            "unable to destroy CT {vmid} - container is running"
        )));
    }

    run_task(|task| {
        let _lock = in_task(store::lock(sim, vmid))?;
        let (mut conf, _) = in_task(store::load_quiet(sim, vmid))?;
        task_check_lock(&conf)?;
        if sim.fails("destroy") {
            return Err(format!(
                "unable to destroy CT {vmid} - Device or resource busy"
            ));
        }
        if ct::is_running(sim, vmid) {
            task.warn(&format!("forced to stop CT {vmid} before destroying!"));
            ct::hard_stop(sim, vmid)?;
        }
        ct::wait_supervisor_gone(sim, vmid);
        conf.set("lock", "destroyed");
        in_task(store::write(sim, vmid, &conf))?;
        for volid in owned_volumes(sim, vmid, &conf) {
            if let Some(w) = storage::free(sim, &volid)? {
                eprintln!("{w}");
            }
        }

        // What Proxmox removes from /var/lib/lxc/<vmid>: the generated files and the (empty)
        // rootfs mount point; rmdir, not a recursive delete.
        let dir = sim.ct_dir(vmid);
        for f in ["config", "rules.seccomp"] {
            let _ = fs::remove_file(dir.join(f));
        }
        let _ = fs::remove_dir(dir.join("rootfs"));
        let _ = fs::remove_dir(&dir);
        let _ = fs::remove_file(sim.run_dir().join(format!("ct-{vmid}.exit")));
        if p.flag("purge") {
            task.log(&format!("purging CT {vmid} from related configurations.."));
            if crate::ha::purge(sim, vmid) {
                task.log(&format!(
                    "NOTE: removed CT {vmid} from HA resource configuration."
                ));
            }
        }
        // Only now the config, as `destroy_vm` does ("else we can have reuse race").
        store::remove(sim, vmid);
        // `destroy_vm` removes the CT's firewall config with or without purge.
        crate::firewall::remove(sim, vmid);
        crate::firewall::sync(sim);
        Ok(())
    })
}
