//! config.json -> CT config, without side effects (docs/mapping.md).
//!
//! `map(spec, ctx)` reads only its arguments: no filesystem, no clock, no environment. Every field it
//! cannot express is either an error naming the field (strict) or a warning in `Mapped::warnings`.
//! What the mapping cannot know without the filesystem — whether a bind-mount source is a file or
//! a directory, and what a device path is on the host — comes in through `MapContext::bind_kinds`
//! and `MapContext::host_devices`, which the caller fills with [`bind_kinds`] and
//! [`host_devices`] (the only functions in this module that touch the filesystem).
//!
//! One file per part of config.json: `annotations` (description), `rootfs`, `namespaces`,
//! `process`, `hostname`, `mounts` (plus masked/read-only paths), `devices`, `resources`,
//! `sysctl`, `seccomp`, `propagation` (`rootfsPropagation`), `unmapped` (fields with no CT
//! equivalent). Options and raw keys that only some pve-container versions accept are gated on
//! `MapContext::node`; `cpuunits` depends on `MapContext::cgroup`. `text` and `paths` hold the
//! quoting and path rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::pve::version::NodeCaps;
use crate::pve::CtConfig;

mod annotations;
mod bindkinds;
pub mod cgroups;
mod devices;
pub mod firewall;
mod ha;
mod hostname;
pub mod net;
pub use cgroups::expand as expand_cgroups_path;
pub use hostname::joined_uts_hostname;
pub mod init_args;
mod mounts;
mod namespaces;
mod paths;
mod process;
mod propagation;
pub mod remote;
mod resources;
mod rootfs;
mod seccomp;
mod sysctl;
mod text;
mod unmapped;
mod volumes;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod node_tests;
#[cfg(test)]
mod testutil;

pub use bindkinds::{bind_kinds, bind_sources, host_paths};
pub use devices::{host_devices, HostDevice};
pub use ha::{ha_request, HaRequest, HA_ANNOTATION};
pub use volumes::{
    parse_volume_line, replaces as volume_replaces, volume_line, volume_requests, VolumeRequest,
    Volumes, ROOTFS_SIZE_ANNOTATION, VOLUME_LINE_PREFIX, VOLUME_PREFIX,
};

/// The tag every CT we create carries (`list` and garbage collection look for it).
pub const TAG: &str = "proxmox-lxcri";
/// First line of the description of every CT we create: `proxmox-lxcri id: <id>`.
pub const DESCRIPTION_ID_PREFIX: &str = "proxmox-lxcri id: ";

/// The line after it: the host whose runtime made the CT (`proxmox-lxcri host: <machine-id>`).
pub const DESCRIPTION_HOST_PREFIX: &str = "proxmox-lxcri host: ";
/// Then the state root that holds the container (`proxmox-lxcri root: <dir>`): two runtimes on
/// one host with different `--root`s (CRI-O and podman) do not know each other's containers.
pub const DESCRIPTION_ROOT_PREFIX: &str = "proxmox-lxcri root: ";

/// Whether a CT description (as Proxmox stores it, lines joined by `\n`) names container `id`:
/// the mark of a CT this runtime made for that container.
pub fn description_names(description: &str, id: &str) -> bool {
    let want = format!("{DESCRIPTION_ID_PREFIX}{id}");
    description.lines().any(|l| l == want)
}

/// The runtime that made a CT: this host and the state root its container lives in. `gc` only
/// touches CTs whose description names exactly its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    /// The host's identity (`/etc/machine-id`, or the configured `host_id`).
    pub host: String,
    /// The absolute state root (`--root`).
    pub root: String,
}

/// The container id, host and root a description names; `None` when any of them is missing
/// (a CT made by hand, or by a runtime before the host line).
pub fn description_owner(description: &str) -> Option<(String, Owner)> {
    let field = |prefix: &str| {
        description
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some((
        field(DESCRIPTION_ID_PREFIX)?,
        Owner {
            host: field(DESCRIPTION_HOST_PREFIX)?,
            root: field(DESCRIPTION_ROOT_PREFIX)?,
        },
    ))
}

/// Whether a CT's `tags` (Proxmox joins them with `;`, older configs with `,` or spaces)
/// carry [`TAG`].
pub fn tagged(tags: &str) -> bool {
    tags.split([';', ',', ' ']).any(|t| t == TAG)
}

/// How the CT's pid 1 is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// pid 1 is our idle init, bind-mounted read-only from `host_path` to `ct_path` (absolute inside
    /// the CT); the workload is started later by the shim, which applies `process` itself.
    Init { host_path: PathBuf, ct_path: String },
    /// pid 1 is `process.args` itself (backends without a local shim, e.g. the REST API).
    Entrypoint,
}

/// What a bind-mount source is, as `stat(2)` (following symlinks) saw it before mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKind {
    Dir,
    /// Anything that is not a directory: regular file, socket, device node, fifo.
    File,
}

/// Everything the mapping needs besides config.json.
#[derive(Debug, Clone)]
pub struct MapContext {
    /// The OCI container id.
    pub id: String,
    /// Who makes the CT, written into its description; empty fields are left out.
    pub owner: Owner,
    /// Absolute bundle directory; a relative `root.path` is resolved against it.
    pub bundle: PathBuf,
    pub launch: Launch,
    pub strict: bool,
    pub unprivileged: bool,
    /// `arch` of the CT (`amd64`, `arm64`, ...).
    pub arch: String,
    /// Kind of every bind-mount source, keyed by the path [`bind_sources`] lists (absolute as in
    /// config.json, or joined to `bundle` when relative). Fill it with [`bind_kinds`]. A bind whose
    /// source is missing here is `MapError::Invalid` naming `mounts[i].source`.
    pub bind_kinds: BTreeMap<PathBuf, BindKind>,
    /// What the node's pve-container allows (options and raw keys that came with a version);
    /// the backend learns it, see `backend::nodever`.
    pub node: NodeCaps,
    /// `linux.devices[].path` as `stat(2)` saw it on the node; fill it with [`host_devices`].
    /// `None` when the node's devices cannot be looked at from here (a remote node): `devN`
    /// entries are then written unchecked and Proxmox checks that the path is a device.
    pub host_devices: Option<BTreeMap<PathBuf, HostDevice>>,
    /// The rootfs and bind sources with every symlink resolved (Proxmox refuses a host path
    /// with a symlink on the way), keyed by the lexically resolved rootfs and the paths
    /// [`bind_sources`] lists. Fill it with [`host_paths`]; a path missing here is written as it is.
    pub canonical: BTreeMap<PathBuf, PathBuf>,
    /// What `memory`/`swap` become when config.json sets no limit (docs/mapping.md, memory).
    pub memory: MemoryDefaults,
    /// The node's cgroup layout: `cpuunits` is in its unit. The backend learns it.
    pub cgroup: CgroupMode,
}

/// How the node mounts cgroups, as pve-common src/PVE/CGroup.pm (`cgroup_mode`) tells them apart
/// by the file system type at `/sys/fs/cgroup`. Proxmox writes `cpuunits` as it is: to
/// `cpu.shares` on v1/hybrid (`change_cpu_shares`, `clamp_cpu_shares`: at least 2), to
/// `cpu.weight` on unified v2 (1..10000).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupMode {
    /// v1 or hybrid (`/sys/fs/cgroup` is a tmpfs of v1 hierarchies).
    Legacy,
    /// Unified v2 (`/sys/fs/cgroup` is cgroup2), the default of Proxmox VE 7 and later.
    #[default]
    Unified,
}

/// Memory and swap for a CT whose config.json sets no limit. Proxmox writes `memory: 512` and
/// `swap: 512` into a CT config without the keys (pve-container src/PVE/API2/LXC.pm), so the
/// mapping always writes both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryDefaults {
    /// The node's RAM and swap in MiB (`MemTotal`, `SwapTotal`): "no limit" is written as the
    /// whole node, which is what the CT may use and what the Proxmox UI then shows. `None`
    /// (unknown, e.g. a remote node) falls back to raw `lxc.cgroup2.memory.* = max` keys.
    pub node: Option<(u64, u64)>,
    /// The runtime config's `default_memory`/`default_swap` in MiB, for containers without a
    /// limit; `None` (`default_memory = 0`) means no limit.
    pub fallback: Option<(u64, u64)>,
}

/// The result: the CT config to create, plus what was not expressed (non-strict mode).
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub ct: CtConfig,
    pub warnings: Vec<String>,
    /// `linux.seccomp` as an LXC seccomp policy (version 2 text). The backend writes it to a file
    /// on the node and adds `lxc.seccomp.profile = <file>` to `ct.lxc`.
    pub seccomp: Option<String>,
    /// `root.readonly` under [`Launch::Init`]: the rootfs is mounted read-write so that LXC can
    /// create mount targets in it; the init must remount `/` read-only (bind, remount, ro) before
    /// the workload starts. Always false under [`Launch::Entrypoint`] (there `rootfs` gets `ro=1`).
    pub readonly_root: bool,
    /// Namespaced sysctls that no CT key can carry (`net.*`, `fs.mqueue.*`, IPC sysctls of a joined
    /// IPC namespace): under [`Launch::Init`] the shim writes them under `/proc/sys` after joining
    /// the workload's namespaces and before the workload runs. Always empty under `Entrypoint`.
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// `field` is the config.json path, e.g. `linux.resources.memory.limit`.
    #[error("config.json: {field}: {reason}")]
    Unsupported { field: String, reason: String },
    #[error("config.json: {field}: {reason}")]
    Invalid { field: String, reason: String },
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> MapError {
    MapError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// What the namespace list says, for the parts that depend on it (mounts, sysctls, idmap).
#[derive(Debug, Clone, Default)]
pub(crate) struct NsInfo {
    /// `network` / `ipc` / `uts` / `pid` given by path (joined by the shim).
    pub net_joined: bool,
    pub ipc_joined: bool,
    /// `linux.uidMappings`/`gidMappings` are present: raw `lxc.idmap`, rootfs already shifted.
    pub idmapped: bool,
}

/// The mapping in progress: the CT config being built plus what the parts share.
pub(crate) struct Mapper<'a> {
    pub ctx: &'a MapContext,
    pub out: Mapped,
    pub ns: NsInfo,
    /// `lxc.mount.entry` values, in the order LXC must apply them; appended last to `ct.lxc`.
    pub mount_entries: Vec<String>,
    /// Raw keys about the mount table (`lxc.pty.max`, hooks), written after the mount entries.
    pub mount_keys: Vec<(String, String)>,
}

impl<'a> Mapper<'a> {
    fn new(ctx: &'a MapContext) -> Self {
        Mapper {
            ctx,
            out: Mapped::default(),
            ns: NsInfo::default(),
            mount_entries: Vec::new(),
            mount_keys: Vec::new(),
        }
    }

    /// A field Proxmox cannot express: an error in strict mode, a warning otherwise.
    pub fn unsupported(
        &mut self,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<(), MapError> {
        let e = MapError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        };
        if self.ctx.strict {
            return Err(e);
        }
        self.out.warnings.push(e.to_string());
        Ok(())
    }

    /// A note that is not an error in either mode (something was expressed differently).
    pub fn warn(&mut self, field: &str, reason: impl std::fmt::Display) {
        self.out
            .warnings
            .push(format!("config.json: {field}: {reason}"));
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.out.ct.options.insert(key.to_string(), value.into());
    }

    pub fn lxc(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.out.ct.lxc.push((key.into(), value.into()));
    }

    pub fn is_init(&self) -> bool {
        matches!(self.ctx.launch, Launch::Init { .. })
    }
}

/// Map config.json to the CT config Proxmox gets (see docs/mapping.md for the table).
pub fn map(spec: &Spec, ctx: &MapContext) -> Result<Mapped, MapError> {
    let mut m = Mapper::new(ctx);

    m.set("arch", ctx.arch.clone());
    m.set("ostype", "unmanaged");
    m.set("tags", TAG);
    // OCI containers have no getty: no /dev/ttyN, `pct console` attaches to /dev/console.
    m.set("cmode", "console");
    m.set("tty", "0");
    annotations::map(spec, &mut m)?;

    namespaces::map(spec, &mut m)?;
    let unprivileged = ctx.unprivileged || m.ns.idmapped;
    m.set("unprivileged", if unprivileged { "1" } else { "0" });

    rootfs::map(spec, &mut m)?;
    process::map(spec, &mut m)?;
    hostname::map(spec, &mut m)?;
    resources::map(spec, &mut m)?;
    sysctl::map(spec, &mut m)?;
    seccomp::map(spec, &mut m)?;
    mounts::map(spec, &mut m)?;
    devices::map(spec, &mut m)?;
    propagation::map(spec, &mut m)?;
    unmapped::map(spec, &mut m)?;
    cgroups::map(spec, &mut m)?;

    let entries = std::mem::take(&mut m.mount_entries);
    for e in entries {
        m.lxc("lxc.mount.entry", e);
    }
    let keys = std::mem::take(&mut m.mount_keys);
    m.out.ct.lxc.extend(keys);
    Ok(m.out)
}

/// What `update` changes on a CT, from [`resources_to_ct`].
#[derive(Debug, Clone, Default)]
pub struct ResourcesUpdate {
    /// API keys in `options`; raw `lxc.cgroup2.*` keys in `lxc`, each replacing every line of
    /// that key in the CT config.
    pub ct: CtConfig,
    /// Raw keys to drop from the CT config: a new memory limit ends the raw memory keys an
    /// earlier limit needed.
    pub unset: Vec<String>,
    pub warnings: Vec<String>,
}

/// `update --resources`: the CT keys for new `LinuxResources`, by the rules `map` uses for
/// `linux.resources`; only what is given changes (see docs/mapping.md). `node_memory` is the
/// node's RAM and swap in MiB when known (`MemoryDefaults::node`): "no limit" becomes them;
/// `cgroup` is the node's layout (`MapContext::cgroup`).
pub fn resources_to_ct(
    res: &oci_spec::runtime::LinuxResources,
    strict: bool,
    node_memory: Option<(u64, u64)>,
    cgroup: CgroupMode,
) -> Result<ResourcesUpdate, MapError> {
    let ctx = MapContext {
        id: String::new(),
        owner: Owner::default(),
        bundle: PathBuf::new(),
        launch: Launch::Entrypoint,
        strict,
        unprivileged: false,
        arch: String::new(),
        bind_kinds: BTreeMap::new(),
        // `update` touches only resources, which no version gates.
        node: NodeCaps::oldest(),
        host_devices: None,
        canonical: BTreeMap::new(),
        // An update's "no limit" is explicit: the configured default does not apply.
        memory: MemoryDefaults {
            node: node_memory,
            fallback: None,
        },
        cgroup,
    };
    let mut m = Mapper::new(&ctx);
    resources::map_update(res, &mut m)?;
    Ok(ResourcesUpdate {
        ct: m.out.ct,
        unset: resources::update_unsets(res),
        warnings: m.out.warnings,
    })
}
