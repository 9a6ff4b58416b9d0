//! `kill [--all] ID [SIGNAL]`: signal the workload directly (it is a local process in the CT's pid
//! namespace). Before `start` the shim stands for the container. SIGKILL must end the container
//! even if the shim is stuck: a shim that does not end the CT within seconds, or that SIGKILL hit
//! itself, is killed and the CT hard-stopped with `pct stop`.
//!
//! A paused container can be signalled. A frozen process acts on a signal only once thawed, so
//! SIGKILL thaws the CT right after it is sent (the workload dies before running another
//! instruction, and the shim can end the CT); other signals stay pending until `resume`, as with
//! runc.

use std::time::Duration;

use anyhow::bail;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{parse_signal, Ctx};
use crate::cli::KillArgs;
use crate::state::{State, Status};

pub fn run(ctx: &Ctx, args: &KillArgs) -> anyhow::Result<()> {
    let sig = parse_signal(&args.signal)?;
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let mut st = dir.load()?;
    match st.status() {
        Status::Created | Status::Running | Status::Paused => {}
        _ => bail!("container not running: {}", args.id),
    }
    signal(&st, sig, args.all)?;
    if st.paused && sig == Signal::SIGKILL {
        st.paused = false;
        dir.save(&st)?;
    }
    Ok(())
}

/// Deliver `sig` to the container of `st`; shared with `delete --force`.
pub fn signal(st: &State, sig: Signal, all: bool) -> anyhow::Result<()> {
    let shim = st.shim.expect("created or running has a shim");
    let workload = st.workload.filter(|w| w.is_alive());
    // Started, and the workload is gone: the shim is ending the CT and will exit with the
    // workload's own status; signalling it would replace that status.
    let finishing = st.started && workload.is_none();
    let target = workload.unwrap_or(shim);
    if all {
        for pid in ct_pids(st).into_iter().filter(|p| *p != target.pid) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
        remote_all(st, sig);
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
            let backend = crate::backend::from_config(&st.config);
            if backend.is_ours(vmid, &st.id)? {
                backend.stop(vmid)?;
            }
        }
    }
    Ok(())
}

/// `--all` for a CT on another node: the init signals every process of the CT but itself.
fn remote_all(st: &State, sig: Signal) {
    let (Some(vmid), None) = (st.vmid, st.init_pid) else {
        return;
    };
    let backend = crate::backend::from_config(&st.config);
    let argv = [
        crate::spec::remote::INIT_SHIPPED,
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
    if let Ok((vmid, init)) = super::pause::ct_of(st) {
        if let Err(e) = crate::backend::from_config(&st.config).thaw(vmid, init) {
            log::warn!("thaw {}: {e}", st.id);
        }
    }
}

/// Every process of the CT except its init, from the CT's cgroup tree.
fn ct_pids(st: &State) -> Vec<i32> {
    let (Some(vmid), Some(init)) = (st.vmid, st.init_pid) else {
        return Vec::new();
    };
    crate::backend::cgroup::CtCgroup::of(vmid, init)
        .map(|cg| cg.procs().into_iter().filter(|p| *p != init).collect())
        .unwrap_or_default()
}
