//! `linux.namespaces`, `linux.uidMappings`, `linux.gidMappings`.
//!
//! A CT always has its own pid, mount, ipc, uts, network and cgroup namespaces (and a user
//! namespace when unprivileged). A type missing from the list means "stay in the host's
//! namespace", which a CT cannot do. `network`/`ipc`/`uts` given by path are joined by the shim
//! (Init only); a `pid` path must be `/proc/<pid>/ns/pid`, whose pid the caller checks is one of
//! our shims and maps to that infra CT's PID namespace.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use super::{invalid, MapError, Mapper};

fn type_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// `/proc/<digits>/ns/pid`.
pub fn is_proc_pid_ns(p: &Path) -> bool {
    let Some(s) = p.to_str() else { return false };
    let Some(rest) = s
        .strip_prefix("/proc/")
        .and_then(|r| r.strip_suffix("/ns/pid"))
    else {
        return false;
    };
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let linux = spec.linux().as_ref();
    let list = linux
        .and_then(|l| l.namespaces().as_ref())
        .cloned()
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut has_user = false;
    for (i, ns) in list.iter().enumerate() {
        let t = ns.typ();
        let name = type_name(t);
        let field = format!("linux.namespaces[{i}]");
        if !seen.insert(name) {
            return Err(invalid(
                field,
                format!("namespace type {name} listed twice"),
            ));
        }
        let Some(path) = ns.path().as_ref() else {
            match t {
                LinuxNamespaceType::User => has_user = true,
                // A CT does not get a time namespace; the workload would see the host's clocks
                // offsets (none) instead of its own.
                LinuxNamespaceType::Time => m.unsupported(
                    field,
                    "a CT has no time namespace (lxc.time.* is not allowed by Proxmox)",
                )?,
                _ => {}
            }
            continue;
        };
        let pfield = format!("{field}.path");
        if path.as_os_str().is_empty() {
            return Err(invalid(pfield, "empty path"));
        }
        match t {
            LinuxNamespaceType::Network | LinuxNamespaceType::Ipc | LinuxNamespaceType::Uts => {
                if !m.is_init() {
                    m.unsupported(pfield, format!("joining a {name} namespace needs the local shim (lxc.namespace.share.* is refused by Proxmox)"))?;
                }
                if t == LinuxNamespaceType::Network {
                    m.ns.net_joined = true;
                }
                if t == LinuxNamespaceType::Ipc {
                    m.ns.ipc_joined = true;
                }
            }
            LinuxNamespaceType::Pid => {
                if !is_proc_pid_ns(path) {
                    m.unsupported(pfield, "only /proc/<pid>/ns/pid of a pod's infra container can be mapped to that CT's PID namespace")?;
                } else if !m.is_init() {
                    m.unsupported(pfield, "joining a PID namespace needs the local shim")?;
                }
            }
            _ => m.unsupported(
                pfield,
                format!("a CT cannot join an existing {name} namespace"),
            )?,
        }
    }
    // Missing types = host namespaces. cgroup, user and time may be missing: a CT has its own
    // cgroup (and, unprivileged, user) namespace, which only isolates more.
    for t in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        let name = type_name(t);
        if !seen.contains(name) {
            m.unsupported(
                "linux.namespaces",
                format!("no {name} namespace: a CT cannot share the host's {name} namespace"),
            )?;
        }
    }
    idmaps(spec, m, has_user)
}

fn idmaps(spec: &Spec, m: &mut Mapper, has_user: bool) -> Result<(), MapError> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    if uids.is_empty() && gids.is_empty() {
        if has_user && !m.ctx.unprivileged {
            return Err(invalid(
                "linux.uidMappings",
                "a user namespace is requested but no mappings are given",
            ));
        }
        return Ok(());
    }
    if !has_user {
        return Err(invalid(
            "linux.uidMappings",
            "mappings need a user namespace in linux.namespaces",
        ));
    }
    if uids.is_empty() {
        return Err(invalid(
            "linux.uidMappings",
            "gid mappings without uid mappings",
        ));
    }
    if gids.is_empty() {
        return Err(invalid(
            "linux.gidMappings",
            "uid mappings without gid mappings",
        ));
    }
    let mut lines = Vec::new();
    for (kind, list, field) in [
        ("u", &uids, "linux.uidMappings"),
        ("g", &gids, "linux.gidMappings"),
    ] {
        for (i, map) in list.iter().enumerate() {
            lines.push(
                idmap_line(kind, map)
                    .ok_or_else(|| invalid(format!("{field}[{i}]"), "size must be at least 1"))?,
            );
        }
    }
    for l in lines {
        m.lxc("lxc.idmap", l);
    }
    m.ns.idmapped = true;
    Ok(())
}

fn idmap_line(kind: &str, map: &LinuxIdMapping) -> Option<String> {
    (map.size() > 0).then(|| {
        format!(
            "{kind} {} {} {}",
            map.container_id(),
            map.host_id(),
            map.size()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn default_namespaces_map_silently() {
        let m = map_ok(&spec_with("{}"), &ctx());
        assert!(m.warnings.is_empty());
        assert!(lxc(&m, "lxc.idmap").is_empty());
    }

    #[test]
    fn host_pid_namespace_is_unsupported() {
        // hostPID: no pid entry at all (fixtures/README trap).
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}"#,
        );
        let m = assert_unsupported(&spec, &ctx(), "linux.namespaces");
        assert!(
            m.warnings[0].contains("no pid namespace"),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn every_host_namespace_is_named() {
        for missing in ["network", "ipc", "uts", "mount"] {
            let list: Vec<String> = ["pid", "network", "ipc", "uts", "mount"]
                .iter()
                .filter(|t| **t != missing)
                .map(|t| format!(r#"{{"type": "{t}"}}"#))
                .collect();
            let spec = spec_with(&format!(
                r#"{{"linux": {{"namespaces": [{}]}}}}"#,
                list.join(",")
            ));
            let m = assert_unsupported(&spec, &ctx(), "linux.namespaces");
            assert!(m.warnings[0].contains(&format!("no {missing} namespace")));
        }
    }

    #[test]
    fn joined_namespaces_by_path() {
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid", "path": "/proc/14681/ns/pid"},
            {"type": "network", "path": "/var/run/netns/x"}, {"type": "ipc", "path": "/var/run/ipcns/x"},
            {"type": "uts", "path": "/var/run/utsns/x"}, {"type": "mount"}]}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert!(m.warnings.is_empty());
        // Without the shim nothing can join them.
        let e = map_err(&spec, &entry_ctx());
        assert!(is_unsupported(&e, "linux.namespaces[0].path"), "{e:?}");
    }

    #[test]
    fn pid_path_must_be_proc_pid() {
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid", "path": "/run/pidns/x"},
            {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}"#,
        );
        assert_unsupported(&spec, &ctx(), "linux.namespaces[0].path");
        assert!(is_proc_pid_ns(Path::new("/proc/1/ns/pid")));
        assert!(!is_proc_pid_ns(Path::new("/proc/self/ns/pid")));
        assert!(!is_proc_pid_ns(Path::new("/proc/1/ns/net")));
    }

    #[test]
    fn user_and_mount_paths_are_unsupported() {
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
            {"type": "uts"}, {"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]}}"#,
        );
        assert_unsupported(&spec, &ctx(), "linux.namespaces[5].path");
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
            {"type": "uts"}, {"type": "mount", "path": "/proc/1/ns/mnt"}]}}"#,
        );
        assert_unsupported(&spec, &ctx(), "linux.namespaces[4].path");
    }

    #[test]
    fn time_namespace_is_unsupported() {
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
            {"type": "uts"}, {"type": "mount"}, {"type": "time"}]}}"#,
        );
        assert_unsupported(&spec, &ctx(), "linux.namespaces[5]");
    }

    #[test]
    fn duplicate_type_is_invalid() {
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}, {"type": "network"},
            {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}"#,
        );
        assert!(is_invalid(&map_err(&spec, &ctx()), "linux.namespaces[1]"));
    }

    #[test]
    fn id_mappings_become_lxc_idmap() {
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
            {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}}"#,
        );
        let mut c = ctx();
        c.unprivileged = false;
        let m = map_ok(&spec, &c);
        assert_eq!(
            lxc(&m, "lxc.idmap"),
            ["u 0 200000 65536", "g 0 200000 65536"]
        );
        assert_eq!(opt(&m, "unprivileged"), Some("1"));
        // The rootfs is already shifted for these mappings: no passthrough.
        assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs"));
    }

    #[test]
    fn id_mappings_need_user_namespace_and_both_lists() {
        let spec = spec_with(
            r#"{"linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}"#,
        );
        assert!(is_invalid(&map_err(&spec, &ctx()), "linux.uidMappings"));
        let spec = spec_with(
            r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
            {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}"#,
        );
        assert!(is_invalid(&map_err(&spec, &ctx()), "linux.gidMappings"));
    }
}
