//! Namespaces config.json names by path: which files, checked as runc checks them, and a pod's
//! pid namespace given as one of our shims'.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::state::ContainerDir;

/// Namespaces config.json names by path, which the workload joins instead of the CT's.
/// Namespaces config.json names by path, which the workload joins instead of the CT's.
/// `/proc/<pid>/ns/pid` of one of our shims (a pod's infra container, as podman and CRI-O name
/// it) means that container's CT: the shim itself cannot sit in a CT's pid namespace.
pub fn ns_paths(spec: &Spec, root: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for (i, ns) in nss.iter().enumerate() {
        let Some(path) = ns.path() else { continue };
        let field = format!("config.json: linux.namespaces[{i}].path");
        let name = match ns.typ() {
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::Pid => "pid",
            other => bail!("{field}: joining a {other:?} namespace by path is not supported"),
        };
        // As runc: the file must be a namespace of the declared type, checked before any CT.
        match crate::nsfile::ns_type(path) {
            Ok(t) if t == name => {}
            Ok(t) => bail!("{field}: {} is a {t} namespace, not {name}", path.display()),
            Err(e) => bail!("{field}: {}: {e}", path.display()),
        }
        let path = if name == "pid" {
            pod_pid_ns(path, root)?
        } else {
            path.clone()
        };
        out.insert(name.to_string(), path);
    }
    Ok(out)
}

fn pod_pid_ns(path: &Path, root: &Path) -> anyhow::Result<PathBuf> {
    let pid = path
        .strip_prefix("/proc")
        .ok()
        .and_then(|p| p.iter().next())
        .and_then(|p| p.to_str()?.parse::<i32>().ok());
    if let Some(pid) = pid {
        for id in crate::state::list_ids(root)? {
            let Ok(st) = ContainerDir::new(root, &id).and_then(|d| d.load()) else {
                continue;
            };
            if let (Some(shim), Some(init)) = (st.shim, st.init_pid) {
                if shim.pid == pid && shim.is_alive() {
                    return Ok(crate::nsenter::ns_path(init, "pid"));
                }
            }
        }
    }
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => {
            std::os::unix::fs::MetadataExt::ino(&x) == std::os::unix::fs::MetadataExt::ino(&y)
        }
        _ => false,
    };
    if same(path, Path::new("/proc/self/ns/pid")) {
        bail!(
            "config.json: linux.namespaces (pid): {} is the host's pid namespace; a CT cannot join it",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}
