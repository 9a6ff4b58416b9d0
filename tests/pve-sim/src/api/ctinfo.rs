//! What the API reports about CTs and nodes (`vmstatus`, node status), read from the config
//! files, LXC and /proc rather than by running `pct`, so reads do not show up in `pct.calls`.

use std::fs;

use proxmox_lxcri::pve::confkeys::{self, Type, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;
use serde_json::{json, Map, Value};

use crate::sim::Sim;
use crate::{ct, store};

const MIB: u64 = 1024 * 1024;

fn read_u64(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn host_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// `(used, total)` bytes of host memory.
pub fn host_mem() -> (u64, u64) {
    let info = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        info.lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024
    };
    let total = kib("MemTotal:");
    (total.saturating_sub(kib("MemAvailable:")), total)
}

pub fn host_uptime() -> u64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split('.').next()?.parse().ok())
        .unwrap_or(0)
}

/// Seconds since process `pid` started.
fn uptime_of(pid: u32) -> u64 {
    let start = super::tasks::pstart(pid);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    host_uptime().saturating_sub(start / hz)
}

/// A config value as Perl's JSON would print it: numbers for numeric keys.
pub fn typed(key: &str, v: &str) -> Value {
    match confkeys::lookup(key) {
        Some(Type::Bool | Type::Int { .. }) => {
            v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))
        }
        Some(Type::Number { .. }) => v.parse::<f64>().map_or_else(|_| json!(v), |n| json!(n)),
        _ => json!(v),
    }
}

/// `vmstatus` of one CT: the keys of `GET /nodes/{node}/lxc` (and `pid` while running).
pub fn vmstatus(sim: &Sim, vmid: u32, conf: &CtConfig) -> Map<String, Value> {
    let opt = |k: &str| conf.options.get(k).map(String::as_str);
    let running = ct::is_running(sim, vmid);
    let mut d = Map::new();
    d.insert("vmid".into(), json!(vmid));
    d.insert("type".into(), json!("lxc"));
    d.insert(
        "status".into(),
        json!(if running { "running" } else { "stopped" }),
    );
    let name = opt("hostname").map_or_else(|| format!("CT{vmid}"), str::to_string);
    d.insert("name".into(), json!(name));
    if let Some(l) = opt("lock") {
        d.insert("lock".into(), json!(l));
    }
    if let Some(t) = opt("tags") {
        d.insert("tags".into(), json!(t));
    }
    if opt("template") == Some("1") {
        d.insert("template".into(), json!(1));
    }
    let cpus = opt("cores")
        .and_then(|c| c.parse::<f64>().ok())
        .or_else(|| {
            opt("cpulimit")
                .and_then(|c| c.parse::<f64>().ok())
                .filter(|c| *c > 0.0)
        })
        .unwrap_or(host_cpus() as f64);
    d.insert("cpus".into(), json!(cpus));
    let memory: u64 = opt("memory").and_then(|m| m.parse().ok()).unwrap_or(512);
    let swap: u64 = opt("swap").and_then(|m| m.parse().ok()).unwrap_or(512);
    d.insert("maxmem".into(), json!(memory * MIB));
    d.insert("maxswap".into(), json!(swap * MIB));
    let disk = opt("rootfs")
        .and_then(|r| ROOTFS_FORMAT.parse(r).ok())
        .and_then(|m| m.get("size").and_then(|s| confkeys::parse_size(s)))
        .filter(|s| *s > 0)
        .unwrap_or(4 << 30);
    d.insert("maxdisk".into(), json!(disk));
    for k in [
        "cpu",
        "disk",
        "diskread",
        "diskwrite",
        "mem",
        "netin",
        "netout",
        "swap",
        "uptime",
    ] {
        d.insert(k.into(), json!(0));
    }
    if let Some(pid) = running.then(|| ct::pid(sim, vmid)).flatten() {
        d.insert("pid".into(), json!(pid));
        d.insert("uptime".into(), json!(uptime_of(pid)));
        if let Some(m) = read_u64(&format!(
            "/sys/fs/cgroup/memory/lxc/{vmid}/memory.usage_in_bytes"
        )) {
            d.insert("mem".into(), json!(m));
        }
    }
    d
}

/// The CTs configured on `node`, with their configs.
pub fn cts(sim: &Sim) -> Vec<(u32, CtConfig)> {
    store::list(sim)
        .into_iter()
        .filter_map(|id| store::load_quiet(sim, id).ok().map(|(c, _)| (id, c)))
        .collect()
}
