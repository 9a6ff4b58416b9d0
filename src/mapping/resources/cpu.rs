//! `linux.resources.cpu` -> `cpuunits`, `cpulimit` and raw `lxc.cgroup2.cpu*`.

use oci_spec::runtime::LinuxCpu;

use super::super::{invalid, CgroupMode, MapError, Mapper};

/// Proxmox's maximum for `cpulimit`.
const MAX_CPULIMIT: u128 = 8192;

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

pub(super) fn cpu(cpu: &LinuxCpu, m: &mut Mapper) -> Result<(), MapError> {
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

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxResources;

    use super::super::super::testutil::*;
    use super::super::super::{resources_to_ct, MapContext};
    use super::*;

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
        let u = resources_to_ct(&res, true, None, CgroupMode::Legacy).unwrap();
        assert_eq!(
            u.ct.options.get("cpuunits").map(String::as_str),
            Some("512")
        );
        let u = resources_to_ct(&res, true, None, CgroupMode::Unified).unwrap();
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
}
