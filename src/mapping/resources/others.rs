//! The rest of `linux.resources`: `rdma` and `unified` as raw `lxc.cgroup2.*` keys; `blockIO`,
//! `hugepageLimits` and `network`, which have no CT key, unsupported.

use std::collections::BTreeMap;

use oci_spec::runtime::LinuxResources;

use super::super::text::{has_ctl, is_outer_quoted};
use super::super::{invalid, MapError, Mapper};

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

pub(super) fn others(res: &LinuxResources, m: &mut Mapper) -> Result<(), MapError> {
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

#[cfg(test)]
mod tests {
    use super::super::super::testutil::*;

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
}
