//! Backends: every side effect on a Proxmox node goes through `Backend`.

pub mod api;
pub mod backups;
pub mod bridges;
pub mod cgroup;
pub mod firewall;
pub mod lxc_info;
#[cfg(test)]
pub mod memory;
pub mod migrate;
pub mod node_addr;
pub mod node_health;
pub mod node_shell;
pub mod nodever;
pub mod pct;
pub mod quorum;
pub mod run;
mod ship;
pub mod ssh;
pub mod storages;

use std::path::Path;

use crate::config::{BackendKind, Config};
use crate::mapping::CgroupMode;
use crate::pve::{CtConfig, Vmid};
use crate::transport::ssh::{AttachedIo, RemoteExit, RemoteOutput};
use crate::vztmpl::Origin;

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
    /// The cluster is not quorate (asked before, or Proxmox's own refusal); `node` is empty
    /// when only Proxmox's words are known.
    #[error("{}", quorum::refusal(node, cluster.as_deref()))]
    NoQuorum {
        node: String,
        cluster: Option<String>,
    },
    /// The node stopped answering during an attached command (`cluster.node_timeout`).
    #[error("node {node} did not answer for {after:?}")]
    NodeLost {
        node: String,
        after: std::time::Duration,
    },
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// A refusal for want of quorum names `node` (errors read from Proxmox's words do not).
    pub(crate) fn on_node(self, node: &str) -> BackendError {
        match self {
            BackendError::NoQuorum { node: n, cluster } if n.is_empty() => BackendError::NoQuorum {
                node: node.to_string(),
                cluster,
            },
            e => e,
        }
    }
}

/// One of our CTs somewhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterCt {
    pub vmid: u32,
    pub node: String,
    pub status: String,
    pub name: String,
}

/// A CT tagged `proxmox-lxcri`, with what its description says (`gc` decides from it whose it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedCt {
    pub vmid: Vmid,
    /// The node the CT is on.
    pub node: String,
    pub description: String,
}

/// The tagged CTs among CT config files, each given as (node, vmid, file text).
pub(crate) fn tagged_in_confs<'a>(
    files: impl IntoIterator<Item = (&'a str, Vmid, &'a str)>,
) -> Vec<TaggedCt> {
    let mut cts: Vec<TaggedCt> = files
        .into_iter()
        .filter_map(|(node, vmid, text)| {
            let (conf, _) = CtConfig::parse_lenient(text, vmid.get());
            let tags = conf.options.get("tags")?;
            crate::mapping::tagged(tags).then(|| TaggedCt {
                vmid,
                node: node.to_string(),
                description: conf.description,
            })
        })
        .collect();
    cts.sort_by_key(|c| c.vmid.get());
    cts
}

/// What a CT is doing, as the node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtStatus {
    Running { init_pid: i32 },
    Stopped,
}

/// One Proxmox node (or cluster) as the runtime sees it.
pub trait Backend {
    /// Whether CTs live on another node: the runtime cannot enter them and runs processes in
    /// them with `pct exec` (`run_in_ct`, `attach_in_ct`).
    fn is_remote(&self) -> bool {
        self.shell().is_some()
    }
    /// The SSH connection to a remote node, for `pct exec`; none for a local node.
    fn shell(&self) -> Option<&node_shell::NodeShell> {
        None
    }
    /// The node's pve-container version, asked of the node (see `nodever::learn`, which caches
    /// it).
    fn node_version(&self) -> Result<nodever::Detected, BackendError>;
    /// Whether raw `lxc.*` keys can be written into the CT's config (root on the node: `pct`,
    /// `ssh`); an API token cannot.
    fn writes_raw_keys(&self) -> bool {
        true
    }
    /// Refuse storages without the content types the runtime needs (remote backends: templates
    /// and CT volumes; the local one binds the rootfs and uses none). `create` asks through
    /// `nodever::checked`, which trusts a pass for a minute.
    /// `extra`: what else this container needs (its volumes' storages, docs/storage.md).
    fn check_storages(&self, _extra: &[storages::Need]) -> Result<(), BackendError> {
        Ok(())
    }
    /// Refuse `netN` bridges that are neither a bridge of the node nor an SDN vnet (remote
    /// backends; a local CT joins the pod's network instead). `wanted`: (annotation, bridge).
    fn check_bridges(&self, _wanted: &[(String, String)]) -> Result<(), BackendError> {
        Ok(())
    }
    /// Refuse security groups the cluster does not have (`GET /cluster/firewall/groups`).
    /// `annotation`: the one naming them, for the message.
    fn check_firewall_groups(
        &self,
        _annotation: &str,
        _groups: &[String],
    ) -> Result<(), BackendError> {
        Ok(())
    }
    /// Write CT `vmid`'s firewall options and rules (`/nodes/{node}/lxc/{vmid}/firewall/...`,
    /// docs/network.md "Firewall"); remote backends only.
    fn set_firewall(
        &self,
        vmid: Vmid,
        _fw: &crate::mapping::firewall::FirewallRequest,
    ) -> Result<(), BackendError> {
        Err(BackendError::Other(format!(
            "CT {vmid}: the Proxmox firewall is set only by the ssh and api backends"
        )))
    }
    /// The `ostemplate` to create a CT for `rootfs` from: locally an empty archive (the rootfs is
    /// bound in); for a remote node `rootfs` plus `init` packed, uploaded unless the storage has
    /// that template already. `from` says which key finds a digest packed before.
    fn template(&self, rootfs: &Path, init: &Path, from: Origin) -> Result<String, BackendError>;
    /// The template of image `id` with `init` that this host imported before, if the storage
    /// still has it (`images import` then unpacks nothing); never for the local backend.
    fn image_template(&self, _id: &str, _init: &Path) -> Result<Option<String>, BackendError> {
        Ok(None)
    }
    /// The node's RAM and swap in MiB (`/proc/meminfo`'s totals), which "no memory limit" is
    /// written as; `None` when unknown (the mapping then falls back to raw keys).
    fn node_memory(&self) -> Option<(u64, u64)> {
        None
    }
    /// The node's cgroup layout, which `cpuunits` is written in (pve-common src/PVE/CGroup.pm,
    /// `cgroup_mode`). Unified unless the backend can look.
    fn cgroup_mode(&self) -> CgroupMode {
        CgroupMode::Unified
    }
    /// Create the CT from `template`; `VmidTaken` if the VMID is in use. Nothing is left behind
    /// on error.
    fn create(&self, vmid: Vmid, template: &str, ct: &CtConfig) -> Result<(), BackendError>;
    fn start(&self, vmid: Vmid) -> Result<(), BackendError>;
    /// Status plus the host pid of the CT's init while running.
    fn status(&self, vmid: Vmid) -> Result<CtStatus, BackendError>;
    /// Hard stop; a stopped CT is not an error.
    fn stop(&self, vmid: Vmid) -> Result<(), BackendError>;
    /// Stop if needed and destroy with purge; a missing CT is not an error.
    fn destroy(&self, vmid: Vmid) -> Result<(), BackendError>;
    /// Instead of a destroy: stop CT `vmid` and let it hold its kept volumes, `description`
    /// saying so (docs/storage.md, "Kept volumes").
    fn hold(&self, vmid: Vmid, description: &str) -> Result<(), BackendError> {
        self.stop(vmid)?;
        self.set_description(vmid, description)
    }
    fn set_description(&self, vmid: Vmid, text: &str) -> Result<(), BackendError> {
        let mut ct = CtConfig::default();
        ct.options.insert("description".into(), text.to_string());
        self.update(vmid, 0, &ct, &[]).map(drop)
    }
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
    /// Freeze every process of the running CT; returns once all are frozen. Only where the
    /// CT's cgroup is on this host: Proxmox's own suspend is a CRIU checkpoint, not a freeze.
    fn freeze(&self, vmid: Vmid, _init_pid: i32) -> Result<(), BackendError> {
        Err(no_freeze(vmid))
    }
    /// Undo `freeze`; thawing a CT that is not frozen is not an error.
    fn thaw(&self, vmid: Vmid, _init_pid: i32) -> Result<(), BackendError> {
        Err(no_freeze(vmid))
    }
    /// Whether the cluster is quorate, asked of it (`quorum::require` caches a pass); `None`
    /// when this backend does not ask (the node's own refusal is read by `known_error`).
    fn quorum(&self) -> Result<Option<quorum::Quorum>, BackendError> {
        Ok(None)
    }
    /// CTs tagged as ours on every node of the cluster.
    fn cluster_cts(&self) -> Result<Vec<ClusterCt>, BackendError> {
        Err(BackendError::Other(
            "listing the cluster needs the api or ssh backend".into(),
        ))
    }
    /// Every CT tagged `proxmox-lxcri` this backend can reach (this node for `pct`, the cluster
    /// for `ssh` and `api`), with its node and description, for `gc`.
    fn tagged_cts(&self) -> Result<Vec<TaggedCt>, BackendError> {
        Err(BackendError::Other(
            "this backend cannot list its CTs; gc needs the pct, ssh or api backend".into(),
        ))
    }
    /// Register CT `vmid` with Proxmox's HA stack (requested state `started`), in HA group
    /// `group` if given.
    fn ha_add(&self, vmid: Vmid, _group: Option<&str>) -> Result<(), BackendError> {
        Err(no_ha(vmid))
    }
    /// Unregister CT `vmid` from the HA stack; one that is not registered is not an error.
    fn ha_remove(&self, vmid: Vmid) -> Result<(), BackendError> {
        Err(no_ha(vmid))
    }
    /// Set the requested HA state of CT `vmid` (`stopped` before the runtime ends it, so that
    /// the LRM does not start it again).
    fn ha_state(&self, vmid: Vmid, _state: &str) -> Result<(), BackendError> {
        Err(no_ha(vmid))
    }
    /// Move the CT to another node with Proxmox's migration (a restart migration for a running
    /// CT when `m.restart`); returns once the task ended. Remote backends only.
    fn migrate(&self, _vmid: Vmid, _m: migrate::Move) -> Result<(), BackendError> {
        Err(migrate::refused())
    }
    /// Reassign mount point `key` of stopped CT `vmid` to CT `target` (same node) as its `tkey`
    /// (`pct move-volume --target-vmid`, docs/storage.md); returns once done. Remote backends.
    fn move_volume(
        &self,
        vmid: Vmid,
        _key: &str,
        _target: Vmid,
        _tkey: &str,
    ) -> Result<(), BackendError> {
        Err(BackendError::Other(format!(
            "CT {vmid}: moving volumes needs the ssh or api backend"
        )))
    }
    /// The cluster's nodes and guests, for `evacuate` and `rebalance`. Remote backends only.
    fn cluster_load(&self) -> Result<migrate::ClusterLoad, BackendError> {
        Err(migrate::refused())
    }
    /// Templates this runtime uploaded to the configured storage: (volid, size in bytes).
    fn templates(&self) -> Result<Vec<(String, u64)>, BackendError> {
        Ok(Vec::new())
    }
    /// Remove one of `templates`.
    fn remove_template(&self, volid: &str) -> Result<(), BackendError> {
        Err(BackendError::Other(format!(
            "{volid}: the local backend uploads no templates"
        )))
    }
    /// Back CT `vmid` up with Proxmox's vzdump to `storage` in `mode` (`backups::MODES`),
    /// zstd-compressed; returns once the backup ended, with the archive's volid.
    fn backup(&self, vmid: Vmid, _storage: &str, _mode: &str) -> Result<String, BackendError> {
        Err(backups::refused(Some(vmid)))
    }
    /// The CT backups on `storage`.
    fn backups(&self, _storage: &str) -> Result<Vec<backups::Backup>, BackendError> {
        Err(backups::refused(None))
    }
    /// Remove one of `backups`.
    fn remove_backup(&self, _volid: &str) -> Result<(), BackendError> {
        Err(backups::refused(None))
    }
    /// Create CT `vmid` from the backup `archive` (Proxmox's restore: new volumes on the
    /// rootfs storage with the archive's sizes, its data; `ct`'s keys win over the archive's
    /// config). `VmidTaken` as `create`; nothing is left behind on error.
    fn restore(&self, vmid: Vmid, _archive: &str, _ct: &CtConfig) -> Result<(), BackendError> {
        Err(backups::refused(Some(vmid)))
    }
    /// Proxmox's view of CT `vmid`'s resource use (`GET /nodes/{node}/lxc/{vmid}/status/current`,
    /// pve-container src/PVE/API2/LXC/Status.pm), for `events` on a CT this node cannot look
    /// into; remote backends only.
    fn status_current(&self, vmid: Vmid) -> Result<serde_json::Value, BackendError> {
        Err(BackendError::Other(format!(
            "CT {vmid}: status/current is asked only of a remote node"
        )))
    }
    /// Node `node`'s storages with their use (`GET /nodes/{node}/storage`, pve-storage
    /// src/PVE/API2/Storage/Status.pm `index`), for `metrics`; remote backends only.
    fn node_storages(&self, node: &str) -> Result<Vec<serde_json::Value>, BackendError> {
        Err(BackendError::Other(format!(
            "node {node}: storages are asked only of a remote node"
        )))
    }
    /// Run `argv` in the running CT with `stdin`; an error unless it exits 0.
    fn run_in_ct(
        &self,
        vmid: Vmid,
        argv: &[String],
        stdin: &[u8],
    ) -> Result<RemoteOutput, BackendError> {
        match self.shell() {
            Some(s) => s.exec_checked(vmid, argv, stdin),
            None => Err(enters_itself(vmid)),
        }
    }
    /// Run `argv` in the running CT with its stdio wired to local fds, until it ends.
    fn attach_in_ct(
        &self,
        vmid: Vmid,
        argv: &[String],
        io: AttachedIo,
    ) -> Result<RemoteExit, BackendError> {
        match self.shell() {
            Some(s) => s.exec_attached(vmid, argv, io),
            None => Err(enters_itself(vmid)),
        }
    }
}

fn enters_itself(vmid: Vmid) -> BackendError {
    BackendError::Other(format!("CT {vmid}: the local backend enters CTs itself"))
}

/// pve-cluster src/PVE/Cluster.pm `check_cfs_quorum`'s refusal, before any CT create or start.
const NO_QUORUM: &str = "cluster not ready - no quorum?";

/// Proxmox's own wording (docs/proxmox-facts.md, "Error wording") for what a caller acts on;
/// "already exists" only means a taken VMID when `creating`.
pub(crate) fn known_error(vmid: Vmid, msg: &str, creating: bool) -> Option<BackendError> {
    if creating && msg.contains("already exists") {
        Some(BackendError::VmidTaken(vmid))
    } else if msg.contains(&format!("lxc/{vmid}.conf' does not exist")) {
        Some(BackendError::NoSuchCt(vmid))
    } else if msg.contains(&format!("CT {vmid} not running")) {
        Some(BackendError::NotRunning(vmid))
    } else if msg.contains(NO_QUORUM) {
        Some(BackendError::NoQuorum {
            node: String::new(),
            cluster: None,
        })
    } else {
        None
    }
}

/// `MemTotal` and `SwapTotal` of a `/proc/meminfo` text, in MiB (rounded down).
pub(crate) fn meminfo_totals(text: &str) -> Option<(u64, u64)> {
    let kib = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some((kib("MemTotal")? / 1024, kib("SwapTotal")? / 1024))
}

/// The layout of a node whose `/sys/fs/cgroup` has file system type `fstype` (`stat -f -c %T`'s
/// name): `cgroup2fs` is unified, anything else (a tmpfs of v1 hierarchies) legacy or hybrid.
pub(crate) fn cgroup_mode_of(fstype: &str) -> CgroupMode {
    if fstype.trim() == "cgroup2fs" {
        CgroupMode::Unified
    } else {
        CgroupMode::Legacy
    }
}

/// `update`'s notes for the raw keys a remote backend cannot set or drop.
pub(crate) fn raw_keys_left_out(ct: &CtConfig, unset: &[String], why: &str) -> Vec<String> {
    ct.lxc
        .iter()
        .map(|(k, _)| k)
        .chain(unset)
        .map(|k| format!("{k}: {why}"))
        .collect()
}

/// HA on the `pct` backend, next to CRI-O, where Kubernetes owns rescheduling.
fn no_ha(vmid: Vmid) -> BackendError {
    BackendError::Other(format!(
        "CT {vmid}: HA needs the ssh or api backend; with the pct backend Kubernetes reschedules"
    ))
}

/// The HA resource id of a CT (pve-ha-manager src/PVE/HA/Config.pm `parse_sid`).
pub(crate) fn ha_sid(vmid: Vmid) -> String {
    format!("ct:{vmid}")
}

/// `pause`/`resume` of a CT on another node.
fn no_freeze(vmid: Vmid) -> BackendError {
    BackendError::Other(format!(
        "CT {vmid}: pause and resume need the pct backend (Proxmox's suspend is a CRIU checkpoint, not a freeze)"
    ))
}

pub fn from_config(cfg: &Config) -> Box<dyn Backend> {
    match cfg.backend {
        BackendKind::Pct => Box::new(pct::Pct::new(cfg)),
        BackendKind::Ssh => Box::new(ssh::Ssh::new(cfg)),
        BackendKind::Api => Box::new(api::Api::new(cfg)),
    }
}

#[cfg(test)]
mod tests {
    use crate::mapping::CgroupMode;

    #[test]
    fn cgroup_mode_from_the_file_system_type() {
        assert_eq!(super::cgroup_mode_of("cgroup2fs\n"), CgroupMode::Unified);
        assert_eq!(super::cgroup_mode_of("tmpfs\n"), CgroupMode::Legacy);
    }

    #[test]
    fn meminfo_totals_in_mib() {
        let text = "MemTotal:       16318480 kB\nMemFree:   1 kB\nSwapCached: 0 kB\nSwapTotal:       1048572 kB\n";
        assert_eq!(super::meminfo_totals(text), Some((15936, 1023)));
        assert_eq!(super::meminfo_totals("MemTotal: 2048 kB\n"), None);
        assert_eq!(
            super::meminfo_totals("MemTotal: x kB\nSwapTotal: 0 kB\n"),
            None
        );
    }
}
