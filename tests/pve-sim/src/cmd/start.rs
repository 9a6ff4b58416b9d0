//! `pct start <vmid> [--skiplock] [--debug]` (`vm_start`): apply pending changes, generate the
//! LXC config, start `lxc-start -F` detached and wait for RUNNING.

use super::{apply_pending, check_lock, in_task, run_task, task_check_lock};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, lxcconf, passthrough, store};

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
        let (text, warnings) = lxcconf::generate(sim, vmid, &conf, sim.fails("start"))?;
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
        let devs = passthrough::devices(&conf)?;
        passthrough::prepare(sim, vmid, &conf, unprivileged, &devs)?;
        ct::launch(sim, vmid)
    })
}
