//! `linux.resources` -> `memory`, `swap`, `cpulimit`, `cpuunits` and raw `lxc.cgroup2.*`.
//!
//! Proxmox applies `memory`/`swap` defaults (512 MiB each) to every CT that lacks the keys, so
//! both are always written: from the limit, else the runtime's configured default, else (OCI
//! "no limit") the node's whole RAM and swap. Only when the node's size is unknown does "no
//! limit" become raw `lxc.cgroup2.memory.{max,high,swap.max} = max`, which LXC writes after
//! Proxmox's own values.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxResources, Spec,
};

use super::text::{has_ctl, is_outer_quoted};
use super::{invalid, CgroupMode, MapError, Mapper};

const MIB: i64 = 1 << 20;
/// Proxmox's minimum for `memory`.
const MIN_MEMORY_MIB: i64 = 16;
/// Proxmox's maximum for `cpulimit`.
const MAX_CPULIMIT: u128 = 8192;

const PIDS_MAX: &str = "lxc.cgroup2.pids.max";

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    memory(res.and_then(|r| r.memory().as_ref()), m)?;
    let Some(res) = res else { return Ok(()) };
    if let Some(cpu) = res.cpu() {
        self::cpu(cpu, m)?;
    }
    if let Some(pids) = res.pids() {
        if pids.limit() > 0 {
            m.lxc(PIDS_MAX, pids.limit().to_string());
        }
    }
    devices(res.devices().as_deref().unwrap_or_default(), m)?;
    others(res, m)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

fn memory(mem: Option<&LinuxMemory>, m: &mut Mapper) -> Result<(), MapError> {
    const F: &str = "linux.resources.memory";
    let limit = mem.and_then(|x| x.limit()).filter(|l| *l > 0);
    // OCI swap is memory+swap; -1 is unlimited; 0 (or unset) leaves it alone (= unlimited).
    let swap = mem.and_then(|x| x.swap()).filter(|s| *s != 0);
    let defaults = m.ctx.memory;
    match limit {
        Some(limit) => {
            let mib = ceil_div(limit, MIB).max(MIN_MEMORY_MIB);
            m.set("memory", mib.to_string());
            if limit < MIN_MEMORY_MIB * MIB {
                // Below Proxmox's minimum: keep the exact limit in the cgroup.
                m.lxc("lxc.cgroup2.memory.max", limit.to_string());
            }
            match swap {
                None | Some(-1) => unlimited_swap(defaults, m),
                Some(s) if s < limit => {
                    return Err(invalid(
                        format!("{F}.swap"),
                        "memory+swap limit is below the memory limit",
                    ));
                }
                Some(s) => m.set("swap", ceil_div(s - limit, MIB).to_string()),
            }
        }
        None => {
            if swap.is_some_and(|s| s > 0) {
                return Err(invalid(
                    format!("{F}.swap"),
                    "a swap limit needs a memory limit",
                ));
            }
            match (defaults.fallback, defaults.node) {
                (Some((mem, sw)), _) => {
                    m.set("memory", (mem as i64).max(MIN_MEMORY_MIB).to_string());
                    if swap == Some(-1) {
                        unlimited_swap(defaults, m);
                    } else {
                        m.set("swap", sw.to_string());
                    }
                }
                // No limit: the whole node, so `pct config` and the UI show what the CT may use.
                (None, Some((ram, sw))) => {
                    m.set("memory", (ram as i64).max(MIN_MEMORY_MIB).to_string());
                    m.set("swap", sw.to_string());
                }
                (None, None) => {
                    m.lxc("lxc.cgroup2.memory.max", "max");
                    m.lxc("lxc.cgroup2.memory.high", "max");
                    m.lxc("lxc.cgroup2.memory.swap.max", "max");
                }
            }
        }
    }
    match mem {
        Some(mem) => memory_extras(mem, m),
        None => Ok(()),
    }
}

/// Swap without a limit next to a memory limit: the node's whole swap when known, else raw `max`.
fn unlimited_swap(defaults: super::MemoryDefaults, m: &mut Mapper) {
    match defaults.node {
        Some((_, sw)) => m.set("swap", sw.to_string()),
        None => m.lxc("lxc.cgroup2.memory.swap.max", "max"),
    }
}

/// The parts of `linux.resources.memory` besides limit and swap.
fn memory_extras(mem: &LinuxMemory, m: &mut Mapper) -> Result<(), MapError> {
    const F: &str = "linux.resources.memory";
    if let Some(r) = mem.reservation().filter(|r| *r > 0) {
        m.lxc("lxc.cgroup2.memory.low", r.to_string());
    }
    if mem.kernel().is_some() {
        m.unsupported(
            format!("{F}.kernel"),
            "kernel memory limits exist only in cgroup v1",
        )?;
    }
    if mem.kernel_tcp().is_some() {
        m.unsupported(
            format!("{F}.kernelTCP"),
            "kernel TCP memory limits exist only in cgroup v1",
        )?;
    }
    if mem.swappiness().is_some() {
        m.unsupported(
            format!("{F}.swappiness"),
            "per-cgroup swappiness exists only in cgroup v1",
        )?;
    }
    if mem.disable_oom_killer() == Some(true) {
        m.unsupported(
            format!("{F}.disableOOMKiller"),
            "cgroup v2 cannot disable the OOM killer",
        )?;
    }
    Ok(())
}

/// cgroup v1 shares (2..262144) -> cgroup v2 weight (1..10000), as runc/crun convert them.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262144);
    (1 + ((s - 2) * 9999) / 262142).clamp(1, 10000)
}

/// `quota/period` as a Proxmox number with at most 5 decimals (Proxmox writes
/// `int(100000 * cpulimit)` as the quota over a 100000 period), rounded up.
pub fn cpulimit(quota: u64, period: u64) -> Option<String> {
    let q5 = (u128::from(quota) * 100_000).div_ceil(u128::from(period));
    if q5 > MAX_CPULIMIT * 100_000 {
        return None;
    }
    let (int, frac) = (q5 / 100_000, q5 % 100_000);
    if frac == 0 {
        return Some(int.to_string());
    }
    let frac = format!("{frac:05}");
    Some(format!("{int}.{}", frac.trim_end_matches('0')))
}

fn is_cpu_list(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b',' || b == b'-')
}

fn cpu(cpu: &LinuxCpu, m: &mut Mapper) -> Result<(), MapError> {
    const F: &str = "linux.resources.cpu";
    if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
        let units = match m.ctx.cgroup {
            // Proxmox writes cpuunits to cpu.shares as it is; the kernel's range is 2..262144.
            CgroupMode::Legacy => shares.clamp(2, 262_144),
            CgroupMode::Unified => shares_to_weight(shares),
        };
        m.set("cpuunits", units.to_string());
    }
    if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
        let period = cpu.period().unwrap_or(100_000);
        if period == 0 {
            return Err(invalid(format!("{F}.period"), "must be positive"));
        }
        match cpulimit(quota as u64, period) {
            Some(v) => m.set("cpulimit", v),
            None => m.unsupported(
                format!("{F}.quota"),
                "more than the 8192 CPUs Proxmox's cpulimit allows",
            )?,
        }
    }
    for (name, val) in [("cpus", cpu.cpus()), ("mems", cpu.mems())] {
        if let Some(v) = val.as_deref().filter(|v| !v.is_empty()) {
            if !is_cpu_list(v) {
                return Err(invalid(format!("{F}.{name}"), "must be a list like 0-3,6"));
            }
            m.lxc(format!("lxc.cgroup2.cpuset.{name}"), v);
        }
    }
    if let Some(idle) = cpu.idle().filter(|i| *i != 0) {
        m.lxc("lxc.cgroup2.cpu.idle", idle.to_string());
    }
    if let Some(burst) = cpu.burst() {
        m.lxc("lxc.cgroup2.cpu.max.burst", burst.to_string());
    }
    if cpu.realtime_runtime().is_some_and(|v| v != 0) {
        m.unsupported(
            format!("{F}.realtimeRuntime"),
            "real-time CPU limits exist only in cgroup v1",
        )?;
    }
    if cpu.realtime_period().is_some_and(|v| v != 0) {
        m.unsupported(
            format!("{F}.realtimePeriod"),
            "real-time CPU limits exist only in cgroup v1",
        )?;
    }
    Ok(())
}

/// Device cgroup rules. LXC (common.conf) already denies every device but its own allow list
/// (null, zero, full, random, urandom, tty, console, ptmx, pts, fuse, mknod of any): a deny-all
/// rule is therefore that default and writes nothing (writing it would also drop LXC's list).
/// Other rules become `lxc.cgroup2.devices.allow`/`deny` lines in order; a later deny-all drops
/// the rules before it, as it does in the OCI list.
fn devices(rules: &[LinuxDeviceCgroup], m: &mut Mapper) -> Result<(), MapError> {
    let mut lines: Vec<(&str, String)> = Vec::new();
    for (i, d) in rules.iter().enumerate() {
        let f = format!("linux.resources.devices[{i}]");
        let access = d.access().as_deref().unwrap_or("rwm");
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(invalid(
                format!("{f}.access"),
                "must be a combination of r, w and m",
            ));
        }
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => "a",
            LinuxDeviceType::B => "b",
            LinuxDeviceType::C | LinuxDeviceType::U => "c",
            LinuxDeviceType::P => {
                m.unsupported(
                    format!("{f}.type"),
                    "the device cgroup has no rules for FIFOs",
                )?;
                continue;
            }
        };
        let num = |n: Option<i64>| {
            n.filter(|n| *n >= 0)
                .map_or("*".to_string(), |n| n.to_string())
        };
        let (major, minor) = (num(d.major()), num(d.minor()));
        let everything = typ == "a" && major == "*" && minor == "*";
        if !d.allow() && everything {
            if ['r', 'w', 'm'].iter().all(|c| access.contains(*c)) {
                lines.clear();
                continue;
            }
            m.unsupported(
                f,
                "a partial deny-all cannot be combined with LXC's device allow list",
            )?;
            continue;
        }
        let key = if d.allow() {
            "lxc.cgroup2.devices.allow"
        } else {
            "lxc.cgroup2.devices.deny"
        };
        let value = if typ == "a" {
            format!("a *:* {access}")
        } else {
            format!("{typ} {major}:{minor} {access}")
        };
        lines.push((key, value));
    }
    for (k, v) in lines {
        m.lxc(k, v);
    }
    Ok(())
}

/// Whether a cgroup file name can be a raw key: Proxmox only parses `lxc\.[a-z0-9_\-\.]+`.
fn is_cgroup_file(k: &str) -> bool {
    k.contains('.')
        && !k.starts_with('.')
        && !k.ends_with('.')
        && !k.contains("..")
        && k.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

fn others(res: &LinuxResources, m: &mut Mapper) -> Result<(), MapError> {
    const F: &str = "linux.resources";
    if let Some(b) = res.block_io() {
        let set = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty());
        if set {
            m.unsupported(
                format!("{F}.blockIO"),
                "block I/O limits are not mapped to Proxmox (no key; cgroup v1 semantics)",
            )?;
        }
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        m.unsupported(
            format!("{F}.hugepageLimits"),
            "hugetlb.<size>.max needs an upper-case raw key, which Proxmox cannot parse",
        )?;
    }
    if let Some(n) = res.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|v| !v.is_empty()) {
            m.unsupported(
                format!("{F}.network"),
                "net_cls/net_prio exist only in cgroup v1",
            )?;
        }
    }
    if let Some(rdma) = res.rdma() {
        let sorted: BTreeMap<_, _> = rdma.iter().collect();
        for (dev, r) in sorted {
            if dev.is_empty() || has_ctl(dev) || dev.contains(char::is_whitespace) {
                return Err(invalid(
                    format!("{F}.rdma"),
                    format!("bad device name {dev:?}"),
                ));
            }
            let v = |x: Option<u32>| x.map_or("max".to_string(), |n| n.to_string());
            m.lxc(
                "lxc.cgroup2.rdma.max",
                format!(
                    "{dev} hca_handle={} hca_object={}",
                    v(r.hca_handles()),
                    v(r.hca_objects())
                ),
            );
        }
    }
    if let Some(unified) = res.unified() {
        let sorted: BTreeMap<_, _> = unified.iter().collect();
        for (k, v) in sorted {
            let f = format!("{F}.unified[\"{k}\"]");
            if !is_cgroup_file(k) {
                m.unsupported(
                    f,
                    "not a cgroup file name Proxmox can carry as a raw lxc.cgroup2.* key",
                )?;
                continue;
            }
            if has_ctl(v) || is_outer_quoted(v) {
                return Err(invalid(
                    f,
                    "control characters or surrounding quotes are not allowed",
                ));
            }
            m.lxc(format!("lxc.cgroup2.{k}"), v.as_str());
        }
    }
    Ok(())
}

/// `update`: new limits for a CT that exists, by the rules of `map`, except that only what the
/// update gives changes: an absent section, a zero limit and an empty CPU list leave the current
/// value alone, while a negative limit means "no limit" (runc's rules for `update`). Only memory,
/// cpu and pids can be updated; every other section is unsupported.
pub(super) fn map_update(res: &LinuxResources, m: &mut Mapper) -> Result<(), MapError> {
    const F: &str = "linux.resources";
    if let Some(mem) = res.memory() {
        update_memory(mem, m)?;
    }
    if let Some(c) = res.cpu() {
        cpu(c, m)?;
        if c.quota().is_some_and(|q| q < 0) {
            // Proxmox's "no limit".
            m.set("cpulimit", "0");
        }
    }
    if let Some(pids) = res.pids() {
        match pids.limit() {
            0 => {}
            l if l < 0 => m.lxc(PIDS_MAX, "max"),
            l => m.lxc(PIDS_MAX, l.to_string()),
        }
    }
    let others = [
        (
            "devices",
            res.devices().as_ref().is_some_and(|v| !v.is_empty()),
        ),
        ("blockIO", res.block_io().is_some()),
        (
            "hugepageLimits",
            res.hugepage_limits()
                .as_ref()
                .is_some_and(|v| !v.is_empty()),
        ),
        ("network", res.network().is_some()),
        ("rdma", res.rdma().as_ref().is_some_and(|v| !v.is_empty())),
        (
            "unified",
            res.unified().as_ref().is_some_and(|v| !v.is_empty()),
        ),
    ];
    for (name, _) in others.into_iter().filter(|(_, set)| *set) {
        m.unsupported(
            format!("{F}.{name}"),
            "update changes only memory, cpu and pids",
        )?;
    }
    Ok(())
}

/// Raw keys an update leaves out of the CT config: every raw key a memory limit can bring, when
/// the update sets a limit (those it still needs come back through `map_update`).
pub(super) fn update_unsets(res: &LinuxResources) -> Vec<String> {
    let sets_limit = res
        .memory()
        .as_ref()
        .is_some_and(|m| m.limit().unwrap_or(0) != 0);
    if !sets_limit {
        return Vec::new();
    }
    ["memory.max", "memory.high", "memory.swap.max"]
        .map(|k| format!("lxc.cgroup2.{k}"))
        .to_vec()
}

fn update_memory(mem: &LinuxMemory, m: &mut Mapper) -> Result<(), MapError> {
    let limit = mem.limit().unwrap_or(0);
    if limit != 0 {
        // A negative limit is create's "no limit".
        return memory(Some(mem), m);
    }
    match mem.swap().unwrap_or(0) {
        0 => {}
        s if s < 0 => m.lxc("lxc.cgroup2.memory.swap.max", "max"),
        _ => {
            return Err(invalid(
                "linux.resources.memory.swap",
                "a swap limit needs a memory limit",
            ))
        }
    }
    memory_extras(mem, m)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::Mapped;
    use super::super::{MapContext, MemoryDefaults};
    use super::*;

    #[test]
    fn memory_limit_and_swap() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"memory": {"limit": 268435456, "swap": 268435456}}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(opt(&m, "memory"), Some("256"));
        assert_eq!(opt(&m, "swap"), Some("0"));
        assert!(m
            .ct
            .lxc
            .iter()
            .all(|(k, _)| !k.starts_with("lxc.cgroup2.memory")));

        let spec = spec_with(
            r#"{"linux": {"resources": {"memory": {"limit": 100000000, "swap": 200000000}}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(opt(&m, "memory"), Some("96")); // 95.37 MiB, rounded up
        assert_eq!(opt(&m, "swap"), Some("96"));
    }

    #[test]
    fn memory_unlimited_swap() {
        for swap in ["-1", "0", "null"] {
            let spec = spec_with(&format!(
                r#"{{"linux": {{"resources": {{"memory": {{"limit": 1073741824, "swap": {swap}}}}}}}}}"#
            ));
            let m = map_ok(&spec, &ctx());
            assert_eq!(opt(&m, "memory"), Some("1024"));
            assert_eq!(opt(&m, "swap"), None);
            assert_eq!(
                lxc(&m, "lxc.cgroup2.memory.swap.max"),
                ["max"],
                "swap {swap}"
            );
        }
    }

    #[test]
    fn no_memory_limit_overrides_proxmox_defaults() {
        let m = map_ok(&spec_with("{}"), &ctx());
        assert_eq!(opt(&m, "memory"), None);
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.max"), ["max"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.high"), ["max"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.swap.max"), ["max"]);
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"memory": {"limit": -1}}}}"#),
            &ctx(),
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.max"), ["max"]);
    }

    fn with_memory(node: Option<(u64, u64)>, fallback: Option<(u64, u64)>) -> MapContext {
        MapContext {
            memory: MemoryDefaults { node, fallback },
            ..ctx()
        }
    }

    #[test]
    fn no_limit_is_the_whole_node_when_its_size_is_known() {
        let c = with_memory(Some((64000, 8192)), None);
        for mem in ["{}", r#"{"limit": -1}"#, r#"{"limit": 0, "swap": -1}"#] {
            let spec = spec_with(&format!(
                r#"{{"linux": {{"resources": {{"memory": {mem}}}}}}}"#
            ));
            let m = map_ok(&spec, &c);
            assert_eq!(opt(&m, "memory"), Some("64000"), "{mem}");
            assert_eq!(opt(&m, "swap"), Some("8192"), "{mem}");
            assert!(
                m.ct.lxc
                    .iter()
                    .all(|(k, _)| !k.starts_with("lxc.cgroup2.memory")),
                "{mem}"
            );
        }
        // A limit without a swap limit: the node's whole swap.
        let spec = spec_with(r#"{"linux": {"resources": {"memory": {"limit": 268435456}}}}"#);
        let m = map_ok(&spec, &c);
        assert_eq!(opt(&m, "memory"), Some("256"));
        assert_eq!(opt(&m, "swap"), Some("8192"));
        assert!(lxc(&m, "lxc.cgroup2.memory.swap.max").is_empty());
        // A node without swap.
        let m = map_ok(&spec_with("{}"), &with_memory(Some((2048, 0)), None));
        assert_eq!(opt(&m, "swap"), Some("0"));
    }

    #[test]
    fn configured_default_applies_without_a_limit_only() {
        let c = with_memory(Some((64000, 8192)), Some((1024, 256)));
        let m = map_ok(&spec_with("{}"), &c);
        assert_eq!(opt(&m, "memory"), Some("1024"));
        assert_eq!(opt(&m, "swap"), Some("256"));
        assert!(m
            .ct
            .lxc
            .iter()
            .all(|(k, _)| !k.starts_with("lxc.cgroup2.memory")));
        // swap -1 asks for unlimited swap next to the default memory.
        let spec = spec_with(r#"{"linux": {"resources": {"memory": {"swap": -1}}}}"#);
        assert_eq!(opt(&map_ok(&spec, &c), "swap"), Some("8192"));
        let spec = spec_with(
            r#"{"linux": {"resources": {"memory": {"limit": 536870912, "swap": 1073741824}}}}"#,
        );
        let m = map_ok(&spec, &c);
        assert_eq!(opt(&m, "memory"), Some("512"));
        assert_eq!(opt(&m, "swap"), Some("512"));
        // Below Proxmox's minimum the default is raised to it; unknown node size keeps raw max.
        let m = map_ok(&spec_with("{}"), &with_memory(None, Some((8, 0))));
        assert_eq!(opt(&m, "memory"), Some("16"));
        assert_eq!(opt(&m, "swap"), Some("0"));
        let spec = spec_with(r#"{"linux": {"resources": {"memory": {"swap": -1}}}}"#);
        let m = map_ok(&spec, &with_memory(None, Some((1024, 0))));
        assert_eq!(opt(&m, "swap"), None);
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.swap.max"), ["max"]);
    }

    #[test]
    fn tiny_memory_limit() {
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"memory": {"limit": 6291456}}}}"#),
            &ctx(),
        );
        assert_eq!(opt(&m, "memory"), Some("16"));
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.max"), ["6291456"]);
    }

    #[test]
    fn bad_swap() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"memory": {"limit": 268435456, "swap": 1048576}}}}"#,
        );
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.resources.memory.swap"
        ));
        let spec = spec_with(r#"{"linux": {"resources": {"memory": {"swap": 1048576}}}}"#);
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.resources.memory.swap"
        ));
    }

    #[test]
    fn memory_reservation_and_v1_knobs() {
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"memory": {"reservation": 1048576}}}}"#),
            &ctx(),
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.low"), ["1048576"]);
        assert_unsupported(
            &spec_with(r#"{"linux": {"resources": {"memory": {"kernel": 1}}}}"#),
            &ctx(),
            "linux.resources.memory.kernel",
        );
        assert_unsupported(
            &spec_with(r#"{"linux": {"resources": {"memory": {"swappiness": 10}}}}"#),
            &ctx(),
            "linux.resources.memory.swappiness",
        );
        assert_unsupported(
            &spec_with(r#"{"linux": {"resources": {"memory": {"disableOOMKiller": true}}}}"#),
            &ctx(),
            "linux.resources.memory.disableOOMKiller",
        );
    }

    #[test]
    fn cpu_quota_and_shares() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"cpu": {"shares": 512, "quota": 50000, "period": 100000}}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(opt(&m, "cpulimit"), Some("0.5"));
        assert_eq!(opt(&m, "cpuunits"), Some("20"));
        let spec = spec_with(
            r#"{"linux": {"resources": {"cpu": {"quota": -1, "period": 100000, "shares": 0}}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(opt(&m, "cpulimit"), None);
        assert_eq!(opt(&m, "cpuunits"), None);
    }

    #[test]
    fn shares_are_cpuunits_as_they_are_on_cgroup_v1() {
        let v1 = MapContext {
            cgroup: CgroupMode::Legacy,
            ..ctx()
        };
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"cpu": {"shares": 512}}}}"#),
            &v1,
        );
        assert_eq!(opt(&m, "cpuunits"), Some("512"));
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"cpu": {"shares": 1}}}}"#),
            &v1,
        );
        assert_eq!(opt(&m, "cpuunits"), Some("2"));
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"cpu": {"shares": 1000000}}}}"#),
            &v1,
        );
        assert_eq!(opt(&m, "cpuunits"), Some("262144"));
        let res: LinuxResources = serde_json::from_str(r#"{"cpu": {"shares": 512}}"#).unwrap();
        let u = super::super::resources_to_ct(&res, true, None, CgroupMode::Legacy).unwrap();
        assert_eq!(
            u.ct.options.get("cpuunits").map(String::as_str),
            Some("512")
        );
        let u = super::super::resources_to_ct(&res, true, None, CgroupMode::Unified).unwrap();
        assert_eq!(u.ct.options.get("cpuunits").map(String::as_str), Some("20"));
    }

    #[test]
    fn cpulimit_numbers() {
        assert_eq!(cpulimit(200000, 100000).unwrap(), "2");
        assert_eq!(cpulimit(150000, 200000).unwrap(), "0.75");
        assert_eq!(cpulimit(100000, 300000).unwrap(), "0.33334");
        assert_eq!(cpulimit(1000, 100000).unwrap(), "0.01");
        assert_eq!(cpulimit(8192 * 100000, 100000).unwrap(), "8192");
        assert_eq!(cpulimit(8193 * 100000, 100000), None);
    }

    #[test]
    fn shares_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(u64::MAX), 10000);
    }

    #[test]
    fn cpuset_and_v2_extras() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"cpu": {"cpus": "0-3,6", "mems": "0", "idle": 1, "burst": 1000}}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(lxc(&m, "lxc.cgroup2.cpuset.cpus"), ["0-3,6"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.cpuset.mems"), ["0"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.cpu.idle"), ["1"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.cpu.max.burst"), ["1000"]);
        let spec = spec_with(r#"{"linux": {"resources": {"cpu": {"cpus": "0-3 6"}}}}"#);
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.resources.cpu.cpus"
        ));
        assert_unsupported(
            &spec_with(r#"{"linux": {"resources": {"cpu": {"realtimeRuntime": 5}}}}"#),
            &ctx(),
            "linux.resources.cpu.realtimeRuntime",
        );
    }

    #[test]
    fn pids_limit() {
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"pids": {"limit": 2048}}}}"#),
            &ctx(),
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.pids.max"), ["2048"]);
        for l in ["-1", "0"] {
            let m = map_ok(
                &spec_with(&format!(
                    r#"{{"linux": {{"resources": {{"pids": {{"limit": {l}}}}}}}}}"#
                )),
                &ctx(),
            );
            assert!(lxc(&m, "lxc.cgroup2.pids.max").is_empty());
        }
    }

    #[test]
    fn devices_deny_all_is_lxc_default() {
        let m = map_ok(
            &spec_with(
                r#"{"linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}}"#,
            ),
            &ctx(),
        );
        assert!(m
            .ct
            .lxc
            .iter()
            .all(|(k, _)| !k.starts_with("lxc.cgroup2.devices")));
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn device_rules() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"devices": [{"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "access": "r"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(
            lxc(&m, "lxc.cgroup2.devices.allow"),
            ["c 10:200 rwm", "b 8:* r"]
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.devices.deny"), ["c 1:3 w"]);
        // privileged: allow everything.
        let m = map_ok(
            &spec_with(
                r#"{"linux": {"resources": {"devices": [{"allow": true, "access": "rwm"}]}}}"#,
            ),
            &ctx(),
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.devices.allow"), ["a *:* rwm"]);
        // A later deny-all cancels earlier rules.
        let spec = spec_with(
            r#"{"linux": {"resources": {"devices": [{"allow": true, "type": "c", "major": 1, "minor": 1, "access": "r"},
            {"allow": false, "access": "rwm"}]}}}"#,
        );
        assert!(lxc(&map_ok(&spec, &ctx()), "lxc.cgroup2.devices.allow").is_empty());
        let spec = spec_with(
            r#"{"linux": {"resources": {"devices": [{"allow": false, "access": "m"}]}}}"#,
        );
        assert_unsupported(&spec, &ctx(), "linux.resources.devices[0]");
        let spec =
            spec_with(r#"{"linux": {"resources": {"devices": [{"allow": true, "access": "x"}]}}}"#);
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.resources.devices[0].access"
        ));
    }

    #[test]
    fn block_io_hugepages_network_unsupported() {
        assert_unsupported(
            &spec_with(r#"{"linux": {"resources": {"blockIO": {"weight": 100}}}}"#),
            &ctx(),
            "linux.resources.blockIO",
        );
        map_ok(
            &spec_with(r#"{"linux": {"resources": {"blockIO": {}}}}"#),
            &ctx(),
        );
        assert_unsupported(
            &spec_with(
                r#"{"linux": {"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}}}"#,
            ),
            &ctx(),
            "linux.resources.hugepageLimits",
        );
        assert_unsupported(
            &spec_with(r#"{"linux": {"resources": {"network": {"classID": 1}}}}"#),
            &ctx(),
            "linux.resources.network",
        );
    }

    #[test]
    fn rdma_and_unified() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"rdma": {"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}},
            "unified": {"memory.oom.group": "1", "io.weight": "default 100"}}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(
            lxc(&m, "lxc.cgroup2.rdma.max"),
            [
                "mlx4_0 hca_handle=2 hca_object=2000",
                "mlx5_1 hca_handle=3 hca_object=max"
            ]
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.oom.group"), ["1"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.io.weight"), ["default 100"]);
        let spec = spec_with(r#"{"linux": {"resources": {"unified": {"hugetlb.2MB.max": "0"}}}}"#);
        assert_unsupported(
            &spec,
            &ctx(),
            "linux.resources.unified[\"hugetlb.2MB.max\"]",
        );
    }

    fn update(json: &str, strict: bool) -> Result<Mapped, MapError> {
        let res: LinuxResources = serde_json::from_str(json).unwrap();
        let u = super::super::resources_to_ct(&res, strict, None, CgroupMode::Unified)?;
        Ok(Mapped {
            ct: u.ct,
            warnings: u.warnings,
            ..Default::default()
        })
    }

    #[test]
    fn a_new_memory_limit_drops_the_raw_memory_keys() {
        let unsets = |json: &str| {
            let res: LinuxResources = serde_json::from_str(json).unwrap();
            super::super::resources_to_ct(&res, true, None, CgroupMode::Unified)
                .unwrap()
                .unset
        };
        assert_eq!(
            unsets(r#"{"memory": {"limit": 268435456, "swap": 536870912}}"#),
            [
                "lxc.cgroup2.memory.max",
                "lxc.cgroup2.memory.high",
                "lxc.cgroup2.memory.swap.max"
            ]
        );
        assert!(unsets(r#"{"memory": {"swap": -1}, "pids": {"limit": 5}}"#).is_empty());
    }

    fn pairs(m: &Mapped) -> Vec<(&str, &str)> {
        m.ct.lxc
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn update_to_no_limit_is_the_whole_node_when_known() {
        let res: LinuxResources = serde_json::from_str(r#"{"memory": {"limit": -1}}"#).unwrap();
        let u = super::super::resources_to_ct(&res, true, Some((64000, 8192)), CgroupMode::Unified)
            .unwrap();
        assert_eq!(
            u.ct.options.get("memory").map(String::as_str),
            Some("64000")
        );
        assert_eq!(u.ct.options.get("swap").map(String::as_str), Some("8192"));
        assert!(u.ct.lxc.is_empty(), "{:?}", u.ct.lxc);
        // ... and the raw keys an earlier create without the node's size wrote go.
        assert_eq!(u.unset.len(), 3);
        // A limit without swap: the node's whole swap.
        let res: LinuxResources =
            serde_json::from_str(r#"{"memory": {"limit": 268435456}}"#).unwrap();
        let u = super::super::resources_to_ct(&res, true, Some((64000, 8192)), CgroupMode::Unified)
            .unwrap();
        assert_eq!(u.ct.options.get("swap").map(String::as_str), Some("8192"));
    }

    #[test]
    fn update_memory_follows_create_rules() {
        let m = update(r#"{"memory": {"limit": 268435456}}"#, true).unwrap();
        assert_eq!(opt(&m, "memory"), Some("256"));
        assert_eq!(pairs(&m), [("lxc.cgroup2.memory.swap.max", "max")]);
        let m = update(
            r#"{"memory": {"limit": 268435456, "swap": 536870912}}"#,
            true,
        )
        .unwrap();
        assert_eq!(
            (opt(&m, "memory"), opt(&m, "swap")),
            (Some("256"), Some("256"))
        );
        assert!(m.ct.lxc.is_empty());
        let m = update(r#"{"memory": {"limit": -1}}"#, true).unwrap();
        assert_eq!(opt(&m, "memory"), None);
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.max"), ["max"]);
        assert_eq!(lxc(&m, "lxc.cgroup2.memory.swap.max"), ["max"]);
    }

    #[test]
    fn update_without_a_limit_keeps_the_limit() {
        let m = update(r#"{"memory": {"reservation": 1048576}}"#, true).unwrap();
        assert!(m.ct.options.is_empty());
        assert_eq!(pairs(&m), [("lxc.cgroup2.memory.low", "1048576")]);
        let m = update(r#"{"memory": {"limit": 0, "swap": -1}}"#, true).unwrap();
        assert_eq!(pairs(&m), [("lxc.cgroup2.memory.swap.max", "max")]);
        let e = update(r#"{"memory": {"swap": 1048576}}"#, true).unwrap_err();
        assert!(is_invalid(&e, "linux.resources.memory.swap"), "{e:?}");
        let m = update("{}", true).unwrap();
        assert!(m.ct.options.is_empty() && m.ct.lxc.is_empty());
    }

    #[test]
    fn update_cpu_and_pids() {
        let m = update(
            r#"{"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "", "mems": ""},
                "pids": {"limit": 100}}"#,
            true,
        )
        .unwrap();
        assert_eq!(opt(&m, "cpulimit"), Some("0.5"));
        assert_eq!(opt(&m, "cpuunits"), Some("39"));
        assert_eq!(pairs(&m), [("lxc.cgroup2.pids.max", "100")]);
        let m = update(
            r#"{"cpu": {"quota": -1, "cpus": "0-1"}, "pids": {"limit": -1}}"#,
            true,
        )
        .unwrap();
        assert_eq!(opt(&m, "cpulimit"), Some("0"));
        assert_eq!(
            pairs(&m),
            [
                ("lxc.cgroup2.cpuset.cpus", "0-1"),
                ("lxc.cgroup2.pids.max", "max")
            ]
        );
        let m = update(r#"{"pids": {"limit": 0}}"#, true).unwrap();
        assert!(m.ct.lxc.is_empty());
    }

    #[test]
    fn update_of_other_sections_is_unsupported() {
        for (json, field) in [
            (r#"{"blockIO": {"weight": 10}}"#, "linux.resources.blockIO"),
            (
                r#"{"unified": {"io.weight": "10"}}"#,
                "linux.resources.unified",
            ),
            (
                r#"{"devices": [{"allow": true, "access": "rwm"}]}"#,
                "linux.resources.devices",
            ),
            (
                r#"{"memory": {"kernel": 1}}"#,
                "linux.resources.memory.kernel",
            ),
        ] {
            let e = update(json, true).unwrap_err();
            assert!(is_unsupported(&e, field), "{json}: {e:?}");
            let m = update(json, false).unwrap();
            assert!(
                m.warnings.iter().any(|w| w.contains(field)),
                "{json}: {:?}",
                m.warnings
            );
        }
        let m = update(r#"{"unified": {}, "hugepageLimits": []}"#, true).unwrap();
        assert!(m.warnings.is_empty());
    }
}
