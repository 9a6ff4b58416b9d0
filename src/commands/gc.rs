//! `gc [--dry-run]`: what a killed `create` or a `delete` that could not reach its node left
//! behind (docs/cluster.md, "Orphans"). In this order:
//!
//! 1. destroys recorded by `delete` whose destroyer is gone (src/pending.rs);
//! 2. state dirs nobody works on (the container lock is free): a `create` that died (no shim
//!    yet) has its CT destroyed and its state removed; a stopped container whose CT is gone has
//!    its state removed; a container whose shim lives is never touched;
//! 3. CTs whose description names this host and state root (`mapping::description_owner`)
//!    and a container with no state that records that CT, destroyed.
//!
//! CTs are listed before the state dirs are read: a `create` records its VMID before the CT
//! exists, so a CT in the listing whose container's state does not name it is not being made.
//! Every destroy is preceded by the usual check that the CT names the container.

use anyhow::bail;

use super::{out, Ctx};
use crate::backend::{BackendError, TaggedCt};
use crate::cli::GcArgs;
use crate::config::Config;
use crate::mapping::{description_owner, Owner};
use crate::pve::Vmid;
use crate::state::{ContainerDir, State, StateError};

pub fn run(ctx: &Ctx, args: &GcArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    let owner = ctx.owner(&cfg);
    let mut gc = Gc {
        ctx,
        dry_run: args.dry_run,
        failed: 0,
        handled: Vec::new(),
    };
    for s in crate::pending::sweep_records(&ctx.root, args.dry_run) {
        let what = format!("CT {} (container {}, left by delete)", s.vmid, s.id);
        let action = match s.held {
            true => Action::Hold(what.clone()),
            false => Action::Destroy(what.clone()),
        };
        gc.report(s.result.map(|()| action), &what);
    }
    // Listed first: see the module comment.
    let listed = ctx.backend(&cfg).tagged_cts();
    for id in crate::state::list_ids(&ctx.root)? {
        gc.state(&id);
    }
    match listed {
        Ok(cts) => gc.cts(&cfg, &owner, &cts),
        Err(e) => gc.fail(format!("listing CTs: {e}")),
    }
    if gc.failed > 0 {
        bail!("gc: {} action(s) failed", gc.failed);
    }
    Ok(())
}

enum Action {
    Destroy(String),
    /// Stopped and kept as the holder of its kept volumes.
    Hold(String),
    Remove(String),
}

struct Gc<'a> {
    ctx: &'a Ctx,
    dry_run: bool,
    failed: usize,
    /// CTs step 2 took care of (the listing was made before).
    handled: Vec<Vmid>,
}

impl Gc<'_> {
    /// One line per action on stdout (`destroyed CT 123 (container x)`, `removed state x`, or
    /// `would ...` in a dry run); one per failure on stderr.
    fn report(&mut self, r: Result<Action, String>, what: &str) {
        let line = match (r, self.dry_run) {
            (Ok(Action::Destroy(w)), false) => format!("destroyed {w}"),
            (Ok(Action::Destroy(w)), true) => format!("would destroy {w}"),
            (Ok(Action::Hold(w)), false) => format!("kept {w} as the holder of its volumes"),
            (Ok(Action::Hold(w)), true) => format!("would keep {w} as the holder of its volumes"),
            (Ok(Action::Remove(w)), false) => format!("removed state {w}"),
            (Ok(Action::Remove(w)), true) => format!("would remove state {w}"),
            (Err(e), _) => return self.fail(format!("{what}: {e}")),
        };
        log::info!("gc: {line}");
        let _ = out(line);
    }

    fn fail(&mut self, msg: String) {
        log::error!("gc: {msg}");
        eprintln!("gc: {msg}");
        self.failed += 1;
    }

    /// Destroy CT `vmid` of container `id` on the node of `cfg` if it still names the
    /// container; false when it is gone already. A dry run only looks.
    fn destroy(&self, cfg: &Config, vmid: Vmid, id: &str) -> Result<bool, BackendError> {
        let backend = self.ctx.backend(cfg);
        if !backend.is_ours(vmid, id)? {
            return Ok(false);
        }
        if !self.dry_run {
            backend.destroy(vmid)?;
        }
        Ok(true)
    }

    /// Step 2 for one state dir.
    fn state(&mut self, id: &str) {
        let Ok(dir) = self.ctx.dir(id) else {
            return;
        };
        let _lock = match dir.try_lock() {
            Ok(Some(l)) => l,
            Ok(None) => return, // a command (a create in progress) works on it
            Err(StateError::NotFound(_)) => return,
            Err(e) => return self.fail(format!("state {id}: {e}")),
        };
        let st = match dir.load() {
            Ok(st) => st,
            Err(StateError::NotFound(_)) => return,
            Err(e) => return self.fail(format!("state {id}: {e}")),
        };
        if st.shim.is_some_and(|s| s.is_alive()) {
            return;
        }
        let died_creating = st.shim.is_none();
        let what = format!("state {id}");
        if let Some(vmid) = st.vmid {
            let backend = self.ctx.backend(&st.config);
            match backend.is_ours(vmid, id) {
                // A stopped container: its caller deletes it.
                Ok(true) if !died_creating => return,
                Ok(true) => {
                    let ct = format!("CT {vmid} (container {id})");
                    self.handled.push(vmid);
                    match self.destroy(&st.config, vmid, id) {
                        Ok(true) => self.report(Ok(Action::Destroy(ct)), ""),
                        Ok(false) => {}
                        // The state keeps the VMID for the next run.
                        Err(e) => return self.fail(format!("{ct}: {e}")),
                    }
                }
                Ok(false) => {}
                Err(e) => return self.fail(format!("{what}: CT {vmid}: {e}")),
            }
        }
        let r = self.remove(&dir, &st);
        self.report(r.map(|()| Action::Remove(id.to_string())), &what);
    }

    fn remove(&self, dir: &ContainerDir, st: &State) -> Result<(), String> {
        if self.dry_run {
            return Ok(());
        }
        // The CT's own cgroup at `linux.cgroupsPath`, empty once the CT is gone.
        if let Some(cp) = &st.cgroups_path {
            crate::cgroups_path::remove(cp);
        }
        dir.remove().map_err(|e| e.to_string())
    }

    /// Step 3: this runtime's CTs whose container has no state recording them.
    fn cts(&mut self, cfg: &Config, owner: &Owner, cts: &[TaggedCt]) {
        let pending = crate::pending::recorded(&self.ctx.root);
        for ct in cts {
            let Some((id, o)) = description_owner(&ct.description) else {
                continue; // not made by this runtime, or before CTs named their host
            };
            if &o != owner || pending.contains(&ct.vmid) || self.handled.contains(&ct.vmid) {
                continue;
            }
            let Ok(dir) = self.ctx.dir(&id) else {
                continue;
            };
            // Held while the CT is destroyed: no command starts on the container meanwhile.
            let _lock = match dir.try_lock() {
                Ok(Some(lock)) => match dir.load() {
                    Ok(st) if st.vmid == Some(ct.vmid) => continue,
                    Ok(_) | Err(StateError::NotFound(_)) => Some(lock),
                    Err(e) => {
                        self.fail(format!("state {id}: {e}"));
                        continue;
                    }
                },
                Ok(None) => continue, // being created, or worked on
                Err(StateError::NotFound(_)) => None,
                Err(e) => {
                    self.fail(format!("state {id}: {e}"));
                    continue;
                }
            };
            let on_node = Config {
                node: ct.node.clone(),
                ..cfg.clone()
            };
            let what = format!("CT {} (container {id})", ct.vmid);
            match self.destroy(&on_node, ct.vmid, &id) {
                Ok(true) => self.report(Ok(Action::Destroy(what)), ""),
                Ok(false) => {} // gone since the listing
                Err(e) => self.fail(format!("{what}: {e}")),
            }
        }
    }
}
