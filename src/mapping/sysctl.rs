//! `linux.sysctl` -> raw `lxc.sysctl.<key>` for the IPC sysctls Proxmox allows, or
//! `Mapped::sysctls` for namespaced sysctls the shim writes (Init only).

use std::collections::BTreeMap;

use oci_spec::runtime::Spec;

use super::text::{has_ctl, is_outer_quoted};
use super::{invalid, MapError, Mapper};

/// The sysctls Proxmox accepts as raw keys (`lxc.sysctl.<name>`, `is_valid_lxc_conf_key`).
/// (`lxc.sysctl.fs.mqueue` is on the list too, but names no sysctl.)
pub const PVE_IPC: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The sysctls that belong to a namespace other than the IPC ones above.
fn namespaced(key: &str) -> Option<&'static str> {
    if key.starts_with("net.") {
        Some("network")
    } else if key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else {
        None
    }
}

fn is_sysctl_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with('.')
        && !k.ends_with('.')
        && !k.contains("..")
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let sorted: BTreeMap<_, _> = sysctl.iter().collect();
    for (k, v) in sorted {
        let f = format!("linux.sysctl[\"{k}\"]");
        if !is_sysctl_name(k) {
            return Err(invalid(f, "not a sysctl name"));
        }
        if has_ctl(v) || is_outer_quoted(v) {
            return Err(invalid(
                f,
                "control characters or surrounding quotes are not allowed",
            ));
        }
        let ipc = PVE_IPC.contains(&k.as_str());
        if ipc && !m.ns.ipc_joined {
            m.lxc(format!("lxc.sysctl.{k}"), v.as_str());
            continue;
        }
        let ns = if ipc { Some("ipc") } else { namespaced(k) };
        let Some(ns) = ns else {
            m.unsupported(f, "not a namespaced sysctl: it would change the whole host")?;
            continue;
        };
        if m.is_init() {
            m.out.sysctls.insert(k.clone(), v.clone());
        } else {
            let why = if ipc {
                "LXC would set it in the CT's own IPC namespace, not the joined one".to_string()
            } else {
                format!("Proxmox allows no raw lxc.sysctl key for the {ns} namespace and there is no shim to set it")
            };
            m.unsupported(f, why)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn ipc_sysctls_are_raw_keys() {
        let spec = spec_with(
            r#"{"linux": {"sysctl": {"kernel.shmmax": "68719476736", "kernel.msgmax": "65536"}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(lxc(&m, "lxc.sysctl.kernel.shmmax"), ["68719476736"]);
        assert_eq!(lxc(&m, "lxc.sysctl.kernel.msgmax"), ["65536"]);
        assert!(m.sysctls.is_empty());
    }

    #[test]
    fn net_sysctls_go_to_the_shim() {
        // podman always sends this one.
        let spec = spec_with(r#"{"linux": {"sysctl": {"net.ipv4.ping_group_range": "0 0"}}}"#);
        let m = map_ok(&spec, &ctx());
        assert_eq!(
            m.sysctls
                .get("net.ipv4.ping_group_range")
                .map(String::as_str),
            Some("0 0")
        );
        assert!(m.ct.lxc.iter().all(|(k, _)| !k.starts_with("lxc.sysctl")));
        let m = assert_unsupported(
            &spec,
            &entry_ctx(),
            "linux.sysctl[\"net.ipv4.ping_group_range\"]",
        );
        assert!(m.sysctls.is_empty());
    }

    #[test]
    fn ipc_sysctl_of_joined_namespace_goes_to_the_shim() {
        let spec = spec_with(
            r#"{"linux": {"sysctl": {"kernel.shmmax": "1", "fs.mqueue.msg_max": "20"},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc", "path": "/var/run/ipcns/x"}, {"type": "uts"}, {"type": "mount"}]}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert!(lxc(&m, "lxc.sysctl.kernel.shmmax").is_empty());
        assert_eq!(m.sysctls.len(), 2);
    }

    #[test]
    fn host_sysctls_are_unsupported() {
        let spec = spec_with(r#"{"linux": {"sysctl": {"vm.swappiness": "10"}}}"#);
        let m = assert_unsupported(&spec, &ctx(), "linux.sysctl[\"vm.swappiness\"]");
        assert!(m.sysctls.is_empty());
        let spec = spec_with(r#"{"linux": {"sysctl": {"kernel.shm max": "1"}}}"#);
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.sysctl[\"kernel.shm max\"]"
        ));
    }
}
