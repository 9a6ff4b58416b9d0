//! `update`'s `linux.resources`: new limits for a CT that exists.

use oci_spec::runtime::{LinuxMemory, LinuxResources};

use super::super::{invalid, MapError, Mapper};
use super::cpu::cpu;
use super::memory::{memory, memory_extras};
use super::PIDS_MAX;

/// `update`: new limits for a CT that exists, by the rules of `map`, except that only what the
/// update gives changes: an absent section, a zero limit and an empty CPU list leave the current
/// value alone, while a negative limit means "no limit" (runc's rules for `update`). Only memory,
/// cpu and pids can be updated; every other section is unsupported.
pub fn map_update(res: &LinuxResources, m: &mut Mapper) -> Result<(), MapError> {
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
pub fn update_unsets(res: &LinuxResources) -> Vec<String> {
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
    use super::super::super::testutil::*;
    use super::super::super::{resources_to_ct, CgroupMode, Mapped};
    use super::*;

    fn update(json: &str, strict: bool) -> Result<Mapped, MapError> {
        let res: LinuxResources = serde_json::from_str(json).unwrap();
        let u = resources_to_ct(&res, strict, None, CgroupMode::Unified)?;
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
            resources_to_ct(&res, true, None, CgroupMode::Unified)
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
        let u = resources_to_ct(&res, true, Some((64000, 8192)), CgroupMode::Unified).unwrap();
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
        let u = resources_to_ct(&res, true, Some((64000, 8192)), CgroupMode::Unified).unwrap();
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
