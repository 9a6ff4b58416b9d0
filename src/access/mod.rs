//! How the runtime reaches the processes of a CT: on this node it enters the CT itself and hands
//! the CT's init the container's process (`local`); on another node everything goes through
//! `pct exec` (`remote`). `of` is the one place that tells the two apart: the commands and the
//! shim call [`CtAccess`] without knowing which it is, so a new way to reach CTs is one impl.

pub mod local;
pub mod pod;
pub mod remote;
mod signal;

use std::collections::BTreeMap;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxSeccomp, Process, Spec};

use crate::backend::Backend;
use crate::config::Config;
use crate::hooks::Point;
use crate::mapping::{MapError, Mapped};
use crate::process::Target;
use crate::procexit::ExitWatch;
use crate::pve::version::NodeCaps;
use crate::pve::Vmid;
use crate::state::{ProcRef, State};

pub use signal::{ct_of, signal, thaw};

/// Where the CT runs, as the mapping needs to know it.
pub struct Placement {
    /// The init's path inside the CT.
    pub init_in_ct: &'static str,
    /// The CT is unprivileged whatever the config says.
    pub force_unprivileged: bool,
    /// What the mapping may take the node to allow.
    pub node: NodeCaps,
    /// The host's device nodes can be looked at (they are the node's).
    pub sees_node_devices: bool,
}

/// What a CT gets beyond its config: bind mounts copied in and the init's setup options
/// (remote CTs).
#[derive(Default)]
pub struct Extras {
    pub copies: Vec<(PathBuf, String)>,
    pub setup: Vec<String>,
}

/// The CT's processes as this node sees them once it runs; none for a CT on another node.
pub struct Running {
    pub init_pid: Option<i32>,
    /// LXC's monitor (the init's parent).
    pub monitor: Option<ProcRef>,
}

/// An `exec` as the command parsed it.
pub struct ExecRequest<'a> {
    pub st: &'a State,
    pub spec: &'a Spec,
    pub process: Process,
    pub state_root: &'a Path,
    pub detach: bool,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: u32,
    pub log_fd: Option<RawFd>,
}

/// How an `exec` ended for its command.
pub enum ExecEnd {
    /// The foreground process's exit code.
    Exited(i32),
    /// An exec shim runs the process: its report pipe and pid.
    Detached { report: OwnedFd, pid: i32 },
}

/// What the shim runs: the container's process and what comes with it.
pub struct Workload<'a> {
    pub vmid: Vmid,
    pub target: &'a Target,
    pub process: &'a Process,
    pub config: &'a Config,
    /// The pty slave the process gets (`process.terminal`).
    pub console: Option<RawFd>,
    /// The init's setup options (remote CTs).
    pub setup: &'a [String],
}

pub trait CtAccess {
    /// Decide and check, before anything exists, what depends on reaching the CT from here:
    /// the AppArmor profile, special files at mount destinations, hooks. Edits `process` and
    /// `spec` as decided.
    fn prepare(
        &self,
        spec: &mut Spec,
        process: &mut Process,
        rootfs: &Path,
        cfg: &Config,
    ) -> anyhow::Result<()>;
    /// The mapping's view of where the CT runs, given what the node's pve-container allows.
    fn placement(&self, node: &NodeCaps) -> Placement;
    /// The mapping turned into what this CT can have, and what it needs besides.
    fn adapt(
        &self,
        spec: &Spec,
        bundle: &Path,
        mapped: Mapped,
        cfg: &Config,
        backend: &dyn Backend,
        node: &NodeCaps,
    ) -> Result<(Mapped, Extras), MapError>;
    /// Whether the CT's template is ours to keep track of (`images --prune`).
    fn tracks_template(&self) -> bool;
    /// Whether `linux.cgroupsPath` is on this host and holds the CT (src/mapping/cgroups.rs).
    fn owns_cgroups_path(&self) -> bool;
    /// Once `pct start` returned: the init's pid from LXC, or the copies shipped in.
    fn started(
        &self,
        backend: &dyn Backend,
        vmid: Vmid,
        extras: &Extras,
        seccomp: Option<&LinuxSeccomp>,
    ) -> anyhow::Result<Running>;
    /// The hook points run at `create` (prestart, createRuntime, createContainer) and at `start`
    /// (startContainer); none where the runtime cannot reach the CT's namespaces.
    fn runs_hooks(&self) -> bool;
    /// A pty for the container's process: (master, slave).
    fn pty(&self, init_pid: i32) -> anyhow::Result<(OwnedFd, OwnedFd)>;
    /// Namespaces config.json names by path, which the container's processes join.
    fn ns_paths(&self, spec: &Spec, state_root: &Path)
        -> anyhow::Result<BTreeMap<String, PathBuf>>;
    /// Run another process in the running container.
    fn exec(&self, req: ExecRequest) -> anyhow::Result<ExecEnd>;
    /// `kill --all`: every process of the CT but `but`.
    fn signal_all(&self, st: &State, sig: nix::sys::signal::Signal, but: i32);

    // The shim's side.
    /// Subscribe to the exit of the CT's init, which becomes the workload; none if it cannot
    /// (the workload is then entered next to it, or runs elsewhere).
    fn watch_exit(&self, target: &Target, vmid: Vmid) -> Option<ExitWatch>;
    /// Join the namespaces the workload's peers find through the shim's pid, and name a joined
    /// UTS namespace.
    fn join_pod(&self, target: &Target, hostname: Option<&str>) -> Result<(), String>;
    /// Run the workload; `pid1`: as the CT's init (its exit watched). Its pid.
    fn launch(&self, w: &Workload, pid1: bool) -> Result<i32, String>;
}

/// How to reach the CTs of `backend`.
pub fn of(backend: &dyn Backend) -> Box<dyn CtAccess> {
    if backend.is_remote() {
        Box::new(remote::Remote)
    } else {
        Box::new(local::Local)
    }
}

/// The hook points `create` runs, in order, where the CT's namespaces can be reached.
pub const CREATE_HOOKS: [Point; 3] = [
    Point::Prestart,
    Point::CreateRuntime,
    Point::CreateContainer,
];
