//! Backends: every side effect on a Proxmox node goes through `Backend`.

pub mod cgroup;
pub mod credentials;
pub mod pct;
pub mod run;
pub mod shell;

use crate::config::{BackendKind, Config};
use crate::pve::{CtConfig, Vmid};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The VMID is taken (by anyone): the allocator picks another.
    #[error("CT {0} already exists")]
    VmidTaken(Vmid),
    #[error("CT {0} does not exist")]
    NoSuchCt(Vmid),
    #[error("CT {0} not running")]
    NotRunning(Vmid),
    /// A command failed; `msg` is its cleaned-up stderr.
    #[error("{cmd}: {msg}")]
    Command { cmd: String, msg: String },
    #[error("{cmd}: timed out after {secs} s")]
    Timeout { cmd: String, secs: u64 },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// What a CT is doing, as the node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtStatus {
    Running { init_pid: i32 },
    Stopped,
}

/// One Proxmox node (or cluster) as the runtime sees it.
pub trait Backend {
    /// Create the CT; `VmidTaken` if the VMID is in use. Nothing is left behind on error.
    fn create(&self, vmid: Vmid, ct: &CtConfig) -> Result<(), BackendError>;
    fn start(&self, vmid: Vmid) -> Result<(), BackendError>;
    /// Status plus the host pid of the CT's init while running.
    fn status(&self, vmid: Vmid) -> Result<CtStatus, BackendError>;
    /// Hard stop; a stopped CT is not an error.
    fn stop(&self, vmid: Vmid) -> Result<(), BackendError>;
    /// Stop if needed and destroy with purge; a missing CT is not an error.
    fn destroy(&self, vmid: Vmid) -> Result<(), BackendError>;
    /// Whether the CT `vmid` exists and was made by us for container `id` (its description
    /// names it): nothing else is ever stopped or destroyed.
    fn is_ours(&self, vmid: Vmid, id: &str) -> Result<bool, BackendError>;
    /// New limits for a running CT whose init is `init_pid`: API keys in `ct.options` are applied
    /// live (Proxmox hot-plugs them); raw keys in `ct.lxc` replace the CT config's values of the
    /// same keys and are written to the CT's cgroup; raw keys in `unset` are dropped from the
    /// config. Returns notes on what only takes effect at the next start.
    fn update(
        &self,
        vmid: Vmid,
        init_pid: i32,
        ct: &CtConfig,
        unset: &[String],
    ) -> Result<Vec<String>, BackendError>;
    /// Freeze every process of the running CT; returns once all are frozen.
    fn freeze(&self, vmid: Vmid, init_pid: i32) -> Result<(), BackendError>;
    /// Undo `freeze`; thawing a CT that is not frozen is not an error.
    fn thaw(&self, vmid: Vmid, init_pid: i32) -> Result<(), BackendError>;
}

pub fn from_config(cfg: &Config) -> Box<dyn Backend> {
    match cfg.backend {
        BackendKind::Pct => Box::new(pct::Pct::new(cfg)),
        // Wired up as issue 4 lands; until then a remote backend is refused at load.
        BackendKind::Ssh | BackendKind::Api => Box::new(pct::Pct::new(cfg)),
    }
}
