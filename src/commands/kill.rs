//! `kill [--all] ID [SIGNAL]`: signal the workload directly (it is a local process in the CT's pid
//! namespace). Before `start` the shim stands for the container. SIGKILL must end the container
//! even if the shim is stuck: a shim that does not end the CT within seconds, or that SIGKILL hit
//! itself, is killed and the CT hard-stopped with `pct stop`.
//!
//! A paused container can be signalled. A frozen process acts on a signal only once thawed, so
//! SIGKILL thaws the CT right after it is sent (the workload dies before running another
//! instruction, and the shim can end the CT); other signals stay pending until `resume`, as with
//! runc.

use anyhow::bail;
use nix::sys::signal::Signal;

use super::{parse_signal, Ctx};
use crate::cli::KillArgs;
use crate::state::Status;

pub fn run(ctx: &Ctx, args: &KillArgs) -> anyhow::Result<()> {
    let sig = parse_signal(&args.signal)?;
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let mut st = dir.load()?;
    match st.status() {
        Status::Created | Status::Running | Status::Paused => {}
        _ => bail!("container not running: {}", args.id),
    }
    let shim = st.shim.filter(|s| s.is_alive());
    if let (true, Some(shim), false) = (
        crate::follow::marked(&dir.path),
        shim,
        sig == Signal::SIGKILL,
    ) {
        // Its CT moved and the shim starts the workload again (src/follow.rs): the stand-in
        // recorded is gone, the next one not there yet. The shim holds the signal and relays it
        // to the new process.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim.pid), sig)?;
        return Ok(());
    }
    crate::access::signal(&st, sig, args.all)?;
    if st.paused && sig == Signal::SIGKILL {
        st.paused = false;
        dir.save(&st)?;
    }
    Ok(())
}
