//! `pause ID` / `resume ID`: freeze and thaw every process of the CT (init, workload, exec'd
//! processes) through the backend; `State::paused` records it under the container lock so that
//! `state` reports `paused` without asking the node.

use anyhow::{anyhow, bail};

use super::Ctx;
use crate::state::{State, Status};

pub fn run(ctx: &Ctx, id: &str, pause: bool) -> anyhow::Result<()> {
    let dir = ctx.dir(id)?;
    let _lock = dir.lock()?;
    let mut st = dir.load()?;
    let status = st.status();
    // runc pauses created containers too: their CT runs, only the workload is not started yet.
    if pause && !matches!(status, Status::Created | Status::Running) {
        bail!("container not running: {id}");
    }
    if !pause && status != Status::Paused {
        bail!("container not paused: {id}");
    }
    let (vmid, init) = ct_of(&st)?;
    let backend = crate::backend::from_config(&st.config);
    if pause {
        backend.freeze(vmid, init)?;
    } else {
        backend.thaw(vmid, init)?;
    }
    st.paused = pause;
    if let Err(e) = dir.save(&st) {
        // Keep the CT as the state says it is.
        let _ = if pause {
            backend.thaw(vmid, init)
        } else {
            backend.freeze(vmid, init)
        };
        return Err(e.into());
    }
    Ok(())
}

pub fn ct_of(st: &State) -> anyhow::Result<(crate::pve::Vmid, i32)> {
    let vmid = st
        .vmid
        .ok_or_else(|| anyhow!("container {} has no CT", st.id))?;
    // A CT on another node has no local init pid; its backend does not need one.
    let remote = st.config.backend != crate::config::BackendKind::Pct;
    let init = match st.init_pid {
        Some(p) => p,
        None if remote => 0,
        None => bail!("container {} has no init pid", st.id),
    };
    Ok((vmid, init))
}
