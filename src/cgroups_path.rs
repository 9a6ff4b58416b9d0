//! The shim in `linux.cgroupsPath`: conmon watches the cgroup of the pid it is given for OOM
//! events, and CRI-O and podman read container statistics from there. The CT's processes live in
//! Proxmox's `lxc/<vmid>`; the shim stands for the container in the caller's cgroup tree.

use std::path::{Path, PathBuf};

/// `cgroupsPath` as a path below each hierarchy's root: cgroupfs paths as they are, systemd's
/// `slice:prefix:name` as systemd lays it out (`a-b.slice` lives in `a.slice/a-b.slice`).
pub fn expand(cgroups_path: &str) -> PathBuf {
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return PathBuf::from(cgroups_path.trim_start_matches('/'));
    };
    let mut path = PathBuf::new();
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    if slice != "-.slice" {
        let stem = slice.trim_end_matches(".slice");
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            path.push(format!("{acc}.slice"));
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.join(unit)
}

/// Directories of `cgroups_path` in every mounted hierarchy.
fn dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = expand(cgroups_path);
    let mounts = crate::nsenter::cgroup_mounts(
        &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
    );
    mounts.into_iter().map(|(_, m)| m.join(&rel)).collect()
}

/// Move `pid` into `cgroups_path` everywhere it can; returns what could not be done.
pub fn enter(cgroups_path: &str, pid: i32) -> Vec<String> {
    let mut problems = Vec::new();
    for dir in dirs(cgroups_path) {
        if let Err(e) =
            make(&dir).and_then(|_| std::fs::write(dir.join("cgroup.procs"), pid.to_string()))
        {
            problems.push(format!("{}: {e}", dir.display()));
        }
    }
    problems
}

/// Create `dir` and its parents; a new v1 cpuset needs cpus and mems before it takes processes.
fn make(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make(parent)?;
    }
    std::fs::create_dir(dir).or_else(|e| if dir.is_dir() { Ok(()) } else { Err(e) })?;
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = dir.join(f);
        if std::fs::read_to_string(&mine).is_ok_and(|v| v.trim().is_empty()) {
            if let Some(v) = dir
                .parent()
                .and_then(|p| std::fs::read_to_string(p.join(f)).ok())
            {
                let _ = std::fs::write(&mine, v.trim());
            }
        }
    }
    Ok(())
}

/// Remove the container's own (leaf) directories once the shim is gone; parents belong to the
/// caller (the pod, the slice).
pub fn remove(cgroups_path: &str) {
    for dir in dirs(cgroups_path) {
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_and_cgroupfs_forms() {
        assert_eq!(
            expand("/libpod_parent/pod1/libpod-abc"),
            PathBuf::from("libpod_parent/pod1/libpod-abc")
        );
        assert_eq!(
            expand("/kubepods/burstable/podX/crio-abc"),
            PathBuf::from("kubepods/burstable/podX/crio-abc")
        );
        assert_eq!(
            expand("machine-libpod_pod_p1.slice:libpod:abc"),
            PathBuf::from("machine.slice/machine-libpod_pod_p1.slice/libpod-abc.scope")
        );
        assert_eq!(
            expand("kubepods-burstable-podX.slice:crio:abc"),
            PathBuf::from("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podX.slice/crio-abc.scope")
        );
        assert_eq!(
            expand(":crio:abc"),
            PathBuf::from("system.slice/crio-abc.scope")
        );
    }
}
