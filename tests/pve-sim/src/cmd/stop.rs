//! `pct stop` (hard: `lxc-stop --kill`) and `pct shutdown [--timeout N] [--forceStop B]`.

use super::{check_lock, run_task};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, store};

/// Running first, as pve-container's vm_stop/vm_shutdown (src/PVE/API2/LXC/Status.pm) check: a
/// missing CT is "not running" too.
fn precheck(sim: &Sim, p: &Params, skiplock: bool) -> Result<()> {
    if !ct::is_running(sim, p.vmid) {
        return Err(Failure::die(format!("CT {} not running", p.vmid)));
    }
    let conf = store::load(sim, p.vmid)?;
    if !skiplock {
        check_lock(&conf)?;
    }
    Ok(())
}

/// `PVE_SIM_FAIL=stop`: the stop command fails and the CT keeps running.
fn injected(sim: &Sim, vmid: u32, args: &str) -> std::result::Result<(), String> {
    if sim.fails("stop") {
        return Err(format!(
            "command 'lxc-stop -n {vmid} {args}' failed: exit code 1"
        ));
    }
    Ok(())
}

pub fn stop(sim: &Sim, p: &Params) -> Result<()> {
    precheck(sim, p, p.flag("skiplock"))?;
    if let Some(r) = crate::ha::delegate(sim, p.vmid, "stop") {
        return r.map_err(Failure::task);
    }
    run_task(|_| {
        injected(sim, p.vmid, "--kill")?;
        let r = ct::hard_stop(sim, p.vmid);
        // Its ports are gone: so are their rules (src/firewall.rs).
        crate::firewall::sync(sim);
        r
    })
}

pub fn shutdown(sim: &Sim, p: &Params) -> Result<()> {
    precheck(sim, p, false)?;
    if let Some(r) = crate::ha::delegate(sim, p.vmid, "stop") {
        return r.map_err(Failure::task);
    }
    let timeout: u64 = p.get("timeout").and_then(|t| t.parse().ok()).unwrap_or(60);
    let force = p.flag("forceStop");
    run_task(|_| {
        injected(sim, p.vmid, &format!("--timeout {timeout}"))?;
        let r = ct::shutdown(sim, p.vmid, timeout, force);
        crate::firewall::sync(sim);
        r
    })
}
