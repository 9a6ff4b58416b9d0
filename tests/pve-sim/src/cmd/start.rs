//! `pct start <vmid> [--skiplock] [--debug]` (`vm_start`): apply pending changes, generate the
//! LXC config, start `lxc-start -F` detached and wait for RUNNING.

use super::{apply_pending, check_lock, in_task, run_task, task_check_lock};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, lxcconf, passthrough, storage, store};
use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;
use std::path::PathBuf;

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    let conf = store::load(sim, vmid)?;
    if conf.options.get("template").is_some_and(|t| t == "1") {
        return Err(Failure::die("you can't start a CT if it's a template"));
    }
    if !p.flag("skiplock") {
        check_lock(&conf)?;
    }
    if ct::is_running(sim, vmid) {
        return Err(Failure::die(format!("CT {vmid} already running")));
    }
    // `vm_start` (pve-container src/PVE/API2/LXC/Status.pm), before its task.
    if !sim.quorate() {
        return Err(Failure::die(crate::cluster::NO_QUORUM));
    }
    if let Some(r) = crate::ha::delegate(sim, vmid, "start") {
        return r.map_err(Failure::task);
    }

    run_task(|task| {
        let _lock = in_task(store::lock(sim, vmid))?;
        let (mut conf, _) = in_task(store::load_quiet(sim, vmid))?;
        if !p.flag("skiplock") {
            task_check_lock(&conf)?;
        }
        if apply_pending(&mut conf) {
            in_task(store::write(sim, vmid, &conf))?;
        }
        // Volumes are mounted before the LXC config names their directories.
        let mounts = mount_images(sim, &conf)?;
        let started = launch(sim, vmid, &conf, &mounts, task);
        if started.is_err() {
            for m in &mounts {
                storage::image::umount(m);
            }
        }
        started
    })
}

/// Writes the LXC config and starts the CT.
fn launch(
    sim: &Sim,
    vmid: u32,
    conf: &CtConfig,
    mounts: &[PathBuf],
    task: &mut super::Task,
) -> std::result::Result<(), String> {
    let (text, warnings) = lxcconf::generate(sim, vmid, conf, sim.fails("start"))?;
    for w in warnings {
        task.warn(&w);
    }
    let dir = sim.ct_dir(vmid);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("unable to create '{}' - {e}", dir.display()))?;
    std::fs::write(dir.join("config"), text)
        .map_err(|e| format!("unable to write '{}/config' - {e}", dir.display()))?;
    // The prestart hook's passthrough nodes (see src/passthrough.rs).
    let unprivileged = conf.options.get("unprivileged").is_some_and(|u| u == "1")
        || !conf.lxc_values("lxc.idmap").is_empty();
    let devs = passthrough::devices(conf)?;
    passthrough::prepare(sim, vmid, conf, unprivileged, &devs)?;
    ct::launch(sim, vmid, mounts)
}

/// Mounts the CT's image volumes (storage/image.rs) as the prestart hook mounts its volumes,
/// and returns their mount points. On a failure the ones mounted so far are unmounted.
pub(super) fn mount_images(
    sim: &Sim,
    conf: &CtConfig,
) -> std::result::Result<Vec<PathBuf>, String> {
    let mut mounted: Vec<PathBuf> = Vec::new();
    for (k, v) in &conf.options {
        let fmt = if k == "rootfs" {
            &ROOTFS_FORMAT
        } else if k.starts_with("mp") {
            &MP_FORMAT
        } else {
            continue;
        };
        let Some(volid) = fmt.parse(v).ok().map(|m| m["volume"].clone()) else {
            continue;
        };
        let Ok(r) = storage::resolve(sim, &volid) else {
            continue;
        };
        let Some(img) = &r.image else {
            continue;
        };
        if let Err(e) = storage::image::mount(img, &r.data) {
            for m in &mounted {
                storage::image::umount(m);
            }
            return Err(format!("{k}: {e}"));
        }
        mounted.push(r.data);
    }
    Ok(mounted)
}
