//! `PVE::LXC::vmstatus` of one CT as far as `pct status`/`pct list` and the API server report
//! the same: read from the config, LXC and /proc rather than by running `pct`, so the API's
//! reads do not show up in `pct.calls`. Each caller formats it (pct as text, the API as JSON).

use proxmox_lxcri::pve::confkeys::{self, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use crate::ct;
use crate::host::{self, MIB};
use crate::sim::Sim;

/// The usage counters `vmstatus` reports, 0 unless measured (the API adds `cpu`).
pub const COUNTERS: [&str; 8] = [
    "disk",
    "diskread",
    "diskwrite",
    "mem",
    "netin",
    "netout",
    "swap",
    "uptime",
];

pub struct VmStatus {
    pub running: bool,
    pub name: String,
    pub lock: Option<String>,
    pub tags: Option<String>,
    pub template: bool,
    /// `cores`, else a `cpulimit` other than `0`, as written; `None`: the host's count.
    pub cpus: Option<String>,
    /// `memory` in bytes (512 MiB when unset).
    pub maxmem: u64,
    /// `swap` in MiB, if set: pct and the API server default it differently.
    pub swap: Option<u64>,
    /// The rootfs `size` in bytes (4 GiB when unset).
    pub maxdisk: u64,
    /// The init's host pid and its uptime in seconds, while running.
    pub init: Option<(u32, u64)>,
}

impl VmStatus {
    pub fn status(&self) -> &'static str {
        if self.running {
            "running"
        } else {
            "stopped"
        }
    }
}

/// `hostname` or `CT<vmid>`.
pub fn name(conf: &CtConfig, vmid: u32) -> String {
    conf.options
        .get("hostname")
        .cloned()
        .unwrap_or_else(|| format!("CT{vmid}"))
}

/// The CT's memory cgroup (v1), where its usage counters are: Proxmox reads them where LXC put
/// the CT (`PVE::LXC::CGroup`, via LXC's command socket).
pub fn memory_cgroup(sim: &Sim, vmid: u32) -> String {
    crate::ct::limit_cgroup(sim, vmid, "memory")
}

pub fn vmstatus(sim: &Sim, vmid: u32, conf: &CtConfig) -> VmStatus {
    let opt = |k: &str| conf.options.get(k).map(String::as_str);
    let running = ct::is_running(sim, vmid);
    let init = running
        .then(|| ct::pid(sim, vmid))
        .flatten()
        .map(|pid| (pid, host::uptime_of(pid)));
    VmStatus {
        running,
        name: name(conf, vmid),
        lock: opt("lock").map(str::to_string),
        tags: opt("tags").map(str::to_string),
        template: opt("template") == Some("1"),
        cpus: opt("cores")
            .or_else(|| opt("cpulimit").filter(|c| *c != "0"))
            .map(str::to_string),
        maxmem: opt("memory").and_then(|m| m.parse().ok()).unwrap_or(512) * MIB,
        swap: opt("swap").and_then(|m| m.parse().ok()),
        maxdisk: opt("rootfs")
            .and_then(|r| ROOTFS_FORMAT.parse(r).ok())
            .and_then(|m| m.get("size").and_then(|s| confkeys::parse_size(s)))
            .filter(|s| *s > 0)
            .unwrap_or(4 << 30),
        init,
    }
}
