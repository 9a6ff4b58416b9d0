//! `linux.resources.memory` -> `memory`, `swap` and raw `lxc.cgroup2.memory.*`.
//!
//! Proxmox applies `memory`/`swap` defaults (512 MiB each) to every CT that lacks the keys, so
//! both are always written: from the limit, else the runtime's configured default, else (OCI
//! "no limit") the node's whole RAM and swap. Only when the node's size is unknown does "no
//! limit" become raw `lxc.cgroup2.memory.{max,high,swap.max} = max`, which LXC writes after
//! Proxmox's own values.

use oci_spec::runtime::LinuxMemory;

use super::super::{invalid, MapError, Mapper, MemoryDefaults};

const MIB: i64 = 1 << 20;

/// Proxmox's minimum for `memory`.
const MIN_MEMORY_MIB: i64 = 16;

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

pub(super) fn memory(mem: Option<&LinuxMemory>, m: &mut Mapper) -> Result<(), MapError> {
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
fn unlimited_swap(defaults: MemoryDefaults, m: &mut Mapper) {
    match defaults.node {
        Some((_, sw)) => m.set("swap", sw.to_string()),
        None => m.lxc("lxc.cgroup2.memory.swap.max", "max"),
    }
}

/// The parts of `linux.resources.memory` besides limit and swap.
pub(super) fn memory_extras(mem: &LinuxMemory, m: &mut Mapper) -> Result<(), MapError> {
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

#[cfg(test)]
mod tests {
    use super::super::super::testutil::*;
    use super::super::super::MapContext;
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
}
