//! `start ID`: release the shim, which runs the workload in the CT; returns once it has exec'd.

use std::time::Duration;

use anyhow::bail;

use super::Ctx;
use crate::shim;
use crate::state::Status;

pub fn run(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let dir = ctx.dir(id)?;
    let _lock = dir.lock()?;
    let mut st = dir.load()?;
    let status = st.status();
    if status != Status::Created {
        bail!("cannot start a container that is {status}: {id}");
    }
    let workload = shim::request_start(&dir.path, Duration::from_secs(60))?;
    st.started = true;
    st.workload = Some(workload);
    dir.save(&st)?;
    Ok(())
}
