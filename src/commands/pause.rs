//! `pause ID` / `resume ID`: freeze and thaw every process of the CT (init, workload, exec'd
//! processes) through the backend; `State::paused` records it under the container lock so that
//! `state` reports `paused` without asking the node.

use anyhow::bail;

use super::Ctx;
use crate::state::Status;

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
    let (vmid, init) = crate::access::ct_of(&st)?;
    let backend = ctx.backend(&st.config);
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
