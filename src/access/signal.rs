//! Signals to a container, and the CT behind it.

use std::time::Duration;

use anyhow::{anyhow, bail};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::state::State;

/// Deliver `sig` to the container of `st`; shared with `delete --force`.
pub fn signal(st: &State, sig: Signal, all: bool) -> anyhow::Result<()> {
    let shim = st.shim.expect("created or running has a shim");
    let workload = st.workload.filter(|w| w.is_alive());
    // Started, and the workload is gone: the shim is ending the CT and will exit with the
    // workload's own status; signalling it would replace that status.
    let finishing = st.started && workload.is_none();
    let target = workload.unwrap_or(shim);
    let backend = crate::backend::from_config(&st.config);
    if all {
        super::of(backend.as_ref()).signal_all(st, sig, target.pid);
    }
    if !finishing {
        kill(Pid::from_raw(target.pid), sig).or_else(|e| {
            if e == nix::Error::ESRCH {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    }
    if sig == Signal::SIGKILL && st.paused {
        thaw(st);
    }
    if sig != Signal::SIGKILL {
        return Ok(());
    }
    // A SIGKILLed shim cannot end the CT, nor can one that is stuck: do its work. The shim's own
    // ending takes at most a few seconds (init, then LXC's monitor).
    let shim_killed = !finishing && target == shim;
    if shim_killed || !shim.wait_gone(Duration::from_secs(15)) {
        let _ = kill(Pid::from_raw(shim.pid), Signal::SIGKILL);
        // A workload that is the CT's pid 1 takes the CT down with it: nothing to stop.
        let pid1 = workload.filter(|w| Some(w.pid) == st.init_pid);
        if pid1.is_some_and(|w| w.wait_gone(Duration::from_secs(5))) {
            return Ok(());
        }
        if let Some(vmid) = st.vmid {
            if backend.is_ours(vmid, &st.id)? {
                backend.stop(vmid)?;
            }
        }
    }
    Ok(())
}

/// `--all` for a CT on another node: the init signals every process of the CT but itself.
pub(super) fn remote_all(st: &State, sig: Signal) {
    let (Some(vmid), None) = (st.vmid, st.init_pid) else {
        return;
    };
    let backend = crate::backend::from_config(&st.config);
    let argv = [
        crate::mapping::remote::INIT_SHIPPED,
        "kill",
        &(sig as i32).to_string(),
        "all",
    ]
    .map(String::from);
    if let Err(e) = backend.run_in_ct(vmid, &argv, b"") {
        log::warn!("kill --all {}: {e}", st.id);
    }
}

/// Thaw a paused CT; a CT that is already gone is not an error.
pub fn thaw(st: &State) {
    if let Ok((vmid, init)) = ct_of(st) {
        if let Err(e) = crate::backend::from_config(&st.config).thaw(vmid, init) {
            log::warn!("thaw {}: {e}", st.id);
        }
    }
}

/// Every process of the CT except its init, from the CT's cgroup tree.
pub(super) fn ct_pids(st: &State) -> Vec<i32> {
    let (Some(vmid), Some(init)) = (st.vmid, st.init_pid) else {
        return Vec::new();
    };
    crate::backend::cgroup::CtCgroup::of(vmid, init)
        .map(|cg| cg.procs().into_iter().filter(|p| *p != init).collect())
        .unwrap_or_default()
}

pub fn ct_of(st: &State) -> anyhow::Result<(crate::pve::Vmid, i32)> {
    let vmid = st
        .vmid
        .ok_or_else(|| anyhow!("container {} has no CT", st.id))?;
    // A CT on another node has no local init pid; its backend does not need one.
    let init = match st.init_pid {
        Some(p) => p,
        None if crate::backend::from_config(&st.config).is_remote() => 0,
        None => bail!("container {} has no init pid", st.id),
    };
    Ok((vmid, init))
}
