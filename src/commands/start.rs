//! `start ID`: release the shim, which runs the workload in the CT; returns once it has exec'd.
//! startContainer hooks run in the CT before, poststart hooks after (a failing one stops the
//! container and fails `start`).

use std::time::Duration;

use anyhow::{anyhow, bail};
use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;

use super::Ctx;
use crate::hooks::{self, Point};
use crate::shim;
use crate::state::{Status, SPEC_COPY};

pub fn run(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let dir = ctx.dir(id)?;
    let _lock = dir.lock()?;
    let mut st = dir.load()?;
    let status = st.status();
    if status != Status::Created {
        bail!("cannot start a container that is {status}: {id}");
    }
    let spec_path = dir.file(SPEC_COPY);
    let spec = Spec::load(&spec_path).map_err(|e| anyhow!("{}: {e}", spec_path.display()))?;
    let init_pid = st.init_pid.unwrap_or(0);
    let hook_state = |status| {
        hooks::state_json(
            &st.oci_version,
            id,
            status,
            init_pid,
            &st.bundle,
            &st.annotations,
        )
    };
    let backend = ctx.backend(&st.config);
    let access = crate::access::of(backend.as_ref());
    let paths = access.ns_paths(&spec, &ctx.root)?;
    if let Err(e) = hooks::run_with_paths(
        &spec,
        Point::StartContainer,
        &hook_state(Status::Created),
        Some(init_pid),
        &paths,
    ) {
        // OCI: a failing startContainer hook stops the container; the shim ends the CT.
        crate::access::signal(&st, Signal::SIGTERM, false)?;
        return Err(e.into());
    }
    let workload = shim::request_start(&dir.path, Duration::from_secs(60))?;
    st.started = true;
    st.workload = Some(workload);
    dir.save(&st)?;
    if let Err(e) = hooks::run(&spec, Point::Poststart, &hook_state(Status::Running), None) {
        crate::access::signal(&st, Signal::SIGKILL, false)?;
        return Err(e.into());
    }
    Ok(())
}
