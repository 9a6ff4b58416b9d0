//! `pct destroy <vmid> [--force B] [--purge B]` (`destroy_vm`). Removes the config and the
//! CT's LXC directory, never a bind-mounted rootfs or mount point source: those are host
//! directories, and only the files the sim itself wrote are unlinked.

use std::fs;

use super::{check_lock, in_task, run_task, task_check_lock};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, store};

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    let conf = store::load(sim, vmid)?;
    if conf.options.get("protection").is_some_and(|v| v == "1") {
        return Err(Failure::die(format!(
            "can't remove CT {vmid} - protection mode enabled"
        )));
    }
    check_lock(&conf)?;
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

        // What Proxmox removes from /var/lib/lxc/<vmid>: the generated files and the (empty)
        // rootfs mount point; rmdir, not a recursive delete.
        let dir = sim.ct_dir(vmid);
        for f in ["config", "rules.seccomp"] {
            let _ = fs::remove_file(dir.join(f));
        }
        let _ = fs::remove_dir(dir.join("rootfs"));
        let _ = fs::remove_dir(&dir);
        let _ = fs::remove_file(sim.run_dir().join(format!("ct-{vmid}.exit")));
        store::remove(sim, vmid);
        Ok(())
    })
}
