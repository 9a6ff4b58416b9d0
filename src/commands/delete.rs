//! `delete [--force] ID`: destroy the CT (purge) and remove the state dir. Only what `create` made
//! is removed: the bundle's rootfs and every bind source stay untouched. An unknown ID is not an
//! error with `--force`, and a half-created container is cleaned up.

use std::time::Duration;

use anyhow::bail;
use nix::sys::signal::Signal;

use super::Ctx;
use crate::cli::DeleteArgs;
use crate::hooks::{self, Point};
use crate::state::{StateError, Status};

pub fn run(ctx: &Ctx, args: &DeleteArgs) -> anyhow::Result<()> {
    crate::pending::sweep(&ctx.root);
    let dir = ctx.dir(&args.id)?;
    let lock = match dir.lock() {
        Ok(l) => l,
        Err(StateError::NotFound(_)) if args.force => {
            // A create killed between making the directory and its lock file left only that.
            if dir.path.is_dir() && !dir.file("lock").exists() && !dir.file("state.json").exists() {
                dir.remove()?;
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let st = match dir.load() {
        Ok(st) => st,
        // Killed before it wrote any state: nothing on the node can be ours.
        Err(StateError::NotFound(_)) if args.force => {
            dir.remove()?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    match st.status() {
        Status::Stopped | Status::Created | Status::Creating => {}
        Status::Running | Status::Paused if args.force => {}
        s => bail!(
            "cannot delete container {} that is {s}; use --force",
            args.id
        ),
    }
    if matches!(
        st.status(),
        Status::Created | Status::Running | Status::Paused
    ) {
        // Thaws a paused CT too.
        crate::access::signal(&st, Signal::SIGKILL, false)?;
        if let Some(shim) = st.shim {
            shim.wait_gone(Duration::from_secs(10));
        }
    }
    if st.paused && st.status() == Status::Stopped {
        // The shim died while the CT was frozen: a frozen CT cannot be stopped.
        crate::access::thaw(&st);
    }
    let spec = oci_spec::runtime::Spec::load(dir.file(crate::state::SPEC_COPY)).ok();
    let poststop = spec
        .as_ref()
        .and_then(|s| s.hooks().as_ref())
        .is_some_and(|h| h.poststop().as_ref().is_some_and(|p| !p.is_empty()));
    let mut later = false;
    let node = st.config.node_name();
    // A CT with kept volumes becomes their holder instead of being destroyed (docs/storage.md).
    let holder = crate::commands::create_volumes::holder(&st.annotations, || ctx.owner(&st.config));
    if let (Some(vmid), true) = (st.vmid, lost_node(ctx, &st, &node)) {
        // The node failed: nothing there answers now. The CT dies with the node (or was
        // recovered elsewhere by HA, which this container did not ask for); `gc` destroys it,
        // or makes it the holder, once the node is back.
        crate::pending::finish_when_back(&ctx.root, &st, vmid, holder.as_deref())?;
        let then = match holder {
            Some(_) => "makes it the holder of its kept volumes",
            None => "destroys it",
        };
        log::warn!(
            "{}: node {node} is down; CT {vmid} is left to gc, which {then} once the node is back",
            args.id
        );
        later = true;
    } else if let Some(vmid) = st.vmid {
        let backend = ctx.backend(&st.config);
        if backend.is_ours(vmid, &args.id)? {
            // A destroy without quorum fails half-way on the node (volumes freed, config kept):
            // refuse before, keeping the state for a later delete.
            crate::backend::quorum::require_now(backend.as_ref(), &st.config)?;
            // Unregistered first: a destroy of an HA-managed CT goes through the HA stack.
            if st.config.cluster.ha {
                backend.ha_remove(vmid)?;
            }
            // A CT still going down after its pid 1 exited is destroyed once it is down, without
            // holding up the caller; poststop hooks must run after the destroy, so not then.
            later = holder.is_none() && !poststop && crate::pending::going_down(&st);
            if let Some(description) = &holder {
                backend.hold(vmid, description)?;
            } else if later {
                crate::pending::destroy_later(&ctx.root, &st, vmid)?;
            } else {
                backend.destroy(vmid)?;
            }
        } else {
            log::warn!("{}: CT {vmid} is not this container's; left alone", args.id);
        }
    }
    // After the destroy: the path is the CT's own cgroup, which empties when the CT is down (a
    // destroy left for later removes it itself).
    if let (Some(cp), false) = (&st.cgroups_path, later) {
        crate::cgroups_path::remove(cp);
    }
    // poststop hooks: after the CT is gone; a failure is only a warning (OCI).
    if let Some(spec) = spec {
        let state = hooks::state_json(
            &st.oci_version,
            &args.id,
            Status::Stopped,
            0,
            &st.bundle,
            &st.annotations,
        );
        if let Err(e) = hooks::run(&spec, Point::Poststop, &state, None) {
            log::warn!("{}: {e}", args.id);
        }
    }
    dir.remove()?;
    drop(lock);
    Ok(())
}

/// Whether the container's remote node was found failed (src/backend/node_health.rs).
fn lost_node(ctx: &Ctx, st: &crate::state::State, node: &str) -> bool {
    st.config.backend != crate::config::BackendKind::Pct
        && crate::backend::node_health::is_lost(&ctx.root, node)
}
