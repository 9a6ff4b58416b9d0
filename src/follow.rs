//! Following a CT to another node. A remote container's workload runs through a local stand-in
//! (`pct exec` over SSH, src/remote/proxy.rs); when its CT moves (`migrate`'s restart migration,
//! or HA recovering it after its node failed), the CT restarts there and the stand-in ends. The
//! shim then relaunches the workload in the CT on its new node, as a restart policy would:
//! same shim, same pid for the caller, a fresh process.
//!
//! The API, for the shim and for whatever moved the CT:
//! * [`mark`] / [`mark_over`] / [`unmark`]: a container whose CT is moving (a file in its state
//!   dir, set before the CT stops, emptied once the state names the node the CT runs on, and
//!   removed by the shim once it started the workload again: until then a signal goes to the
//!   shim, which relays it to the new process, not to the stand-in that is gone);
//! * [`after_exit`]: the shim's question when its stand-in ended: relaunched (the new stand-in's
//!   pid) or not (the container ends with the status it had);
//! * [`relaunch`]: the workload started again in the CT on the node a config names, once the CT
//!   runs there; it records the new stand-in (and one more restart) in the state and logs one
//!   line.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::Process;

use crate::access::{CtAccess, Workload};
use crate::backend::{self, CtStatus};
use crate::config::Config;
use crate::process::Target;
use crate::pve::Vmid;
use crate::state::{ContainerDir, ProcRef};

/// The mark of a container whose CT is moving; it holds the target node's name.
pub const MARK: &str = "relocating";

/// How long the shim waits for a move to end (`migrate` unmarks when Proxmox's task ended; a
/// restart migration's shutdown alone may take Proxmox's 180 s).
const MOVE_WAIT: Duration = Duration::from_secs(600);
/// How long the CT may take to run on its new node once the move ended.
const RUN_WAIT: Duration = Duration::from_secs(120);

/// Mark the container in `dir` as moving to `node`.
pub fn mark(dir: &Path, node: &str) -> std::io::Result<()> {
    crate::sys::fs::write_atomic(&dir.join(MARK), node.as_bytes(), 0o600)
}

/// The move is over (done or not): the state names the node the CT is on; the shim starts the
/// workload there next.
pub fn mark_over(dir: &Path) -> std::io::Result<()> {
    crate::sys::fs::write_atomic(&dir.join(MARK), b"", 0o600)
}

/// The shim runs the workload again (or gave up).
pub fn unmark(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(MARK));
}

/// Whether the container in `dir` moves or waits for its workload to start again after a move.
pub fn marked(dir: &Path) -> bool {
    dir.join(MARK).exists()
}

/// The node the container in `dir` is moving to, while the move lasts.
fn moving(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(MARK))
        .ok()
        .filter(|n| !n.is_empty())
}

/// What the shim knows about its workload, to start it again elsewhere.
pub struct Follower<'a> {
    /// The container's state dir.
    pub dir: &'a Path,
    pub vmid: Vmid,
    pub access: &'a dyn CtAccess,
    pub process: &'a Process,
    pub target: &'a Target,
    /// The init's setup options.
    pub setup: &'a [String],
}

impl Follower<'_> {
    fn container(&self) -> Option<ContainerDir> {
        let root = self.dir.parent()?;
        let id = self.dir.file_name()?.to_str()?;
        ContainerDir::new(root, id).ok()
    }

    /// The configuration the state holds now (its node is where the CT is).
    pub fn current_config(&self) -> Option<Config> {
        self.container()?.load().ok().map(|st| st.config)
    }

    /// One audit line of a decision the shim took on its own (docs/audit.md, "The shim's own
    /// decisions"): `operation` on `node`, with the workload's exit `status` where it has one
    /// and `error` when the decision failed. `cfg` names the backend and the audit log.
    pub fn audit(
        &self,
        cfg: &Config,
        operation: &str,
        node: &str,
        status: Option<i32>,
        error: Option<&str>,
    ) {
        let mut e = crate::audit::Entry::by_shim(operation, cfg.backend.name());
        e.id = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        e.vmid = Some(self.vmid.get());
        e.node = Some(node.to_string());
        e.status = status;
        e.outcome(error);
        crate::audit::record(&cfg.audit, &e);
    }
}

/// The shim's stand-in ended with `code`. If the container's CT was moving, wait for the move
/// to end and relaunch the workload on the node the state names then (the old one when the
/// move failed and Proxmox started the CT again there): the new stand-in's pid. `None`: the
/// container ends with `code`.
pub fn after_exit(f: &Follower, code: i32) -> Option<i32> {
    if !marked(f.dir) {
        return None;
    }
    let pid = follow_move(f, code);
    unmark(f.dir);
    pid
}

fn follow_move(f: &Follower, code: i32) -> Option<i32> {
    let to = moving(f.dir).unwrap_or_default();
    log::info!(
        "CT {}: moving to node {to}; the workload ended with {code}",
        f.vmid
    );
    let deadline = Instant::now() + MOVE_WAIT;
    while moving(f.dir).is_some() {
        if Instant::now() > deadline {
            log::error!("CT {}: still moving after {MOVE_WAIT:?}; giving up", f.vmid);
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cfg = f.current_config()?;
    match relaunch(f, &cfg, "restart migration") {
        Ok(pid) => {
            f.audit(&cfg, "migrate-relaunch", &cfg.node_name(), None, None);
            Some(pid)
        }
        Err(e) => {
            log::error!("CT {}: relaunching on node {}: {e}", f.vmid, cfg.node);
            let msg = format!("relaunching on node {}: {e}", cfg.node_name());
            f.audit(&cfg, "migrate-relaunch", &cfg.node_name(), None, Some(&msg));
            None
        }
    }
}

/// The state's configuration when it names another node than `cfg` (the CT moved since).
pub fn moved(f: &Follower, cfg: &Config) -> Option<Config> {
    f.current_config().filter(|c| c.node != cfg.node)
}

/// Wait until the CT runs on `cfg`'s node and put back what a CT start loses (the seccomp
/// filter lives on the CT's `/dev` tmpfs).
pub fn ready_on(f: &Follower, cfg: &Config) -> Result<(), String> {
    let backend = backend::from_config(cfg);
    let deadline = Instant::now() + RUN_WAIT;
    loop {
        match backend.status(f.vmid) {
            Ok(CtStatus::Running { .. }) => break,
            Ok(CtStatus::Stopped) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500))
            }
            Ok(CtStatus::Stopped) => return Err(format!("CT {} is not running", f.vmid)),
            Err(e) => return Err(e.to_string()),
        }
    }
    if let Some(profile) = &f.target.seccomp {
        crate::remote::copies::ship_filter(backend.as_ref(), f.vmid, profile)
            .map_err(|e| format!("copying the seccomp filter: {e}"))?;
    }
    Ok(())
}

/// [`ready_on`], then launch the workload on `cfg`'s node; record the new stand-in as the
/// container's workload (under the container lock) and log one line naming the node and
/// `why`. Returns its pid.
pub fn relaunch(f: &Follower, cfg: &Config, why: &str) -> Result<i32, String> {
    ready_on(f, cfg)?;
    let pid = f.access.launch(
        &Workload {
            vmid: f.vmid,
            target: f.target,
            process: f.process,
            config: cfg,
            console: None,
            setup: f.setup,
        },
        false,
    )?;
    if let Some(c) = f.container() {
        let saved = c.lock().and_then(|_lock| {
            let mut st = c.load()?;
            st.workload = ProcRef::of(pid);
            st.restarts += 1;
            c.save(&st)
        });
        if let Err(e) = saved {
            log::warn!("{}: recording the relaunched workload: {e}", c.id);
        }
    }
    // The shim lives as long as its container: what it asked the nodes so far is counted now.
    crate::opstats::flush();
    log::warn!(
        "CT {}: workload restarted on node {} after {why}",
        f.vmid,
        cfg.node
    );
    Ok(pid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mark_names_the_target_then_stays_empty_until_removed() {
        let d = tempfile::tempdir().unwrap();
        assert!(!super::marked(d.path()));
        super::mark(d.path(), "n2").unwrap();
        assert_eq!(super::moving(d.path()).as_deref(), Some("n2"));
        super::mark_over(d.path()).unwrap();
        assert!(super::marked(d.path()));
        assert_eq!(super::moving(d.path()), None);
        super::unmark(d.path());
        super::unmark(d.path());
        assert!(!super::marked(d.path()));
    }
}
