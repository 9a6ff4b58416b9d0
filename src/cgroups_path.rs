//! `linux.cgroupsPath` on this host. For a local CT it is the CT's own cgroup: LXC makes it there
//! (`lxc.cgroup.dir.container`, src/mapping/cgroups.rs) with the CT's limits, and its processes in
//! LXC's inner `ns` below. The shim joins it too: conmon watches the cgroup of the pid it is
//! given for OOM events, and podman reads a container's statistics from that pid's cgroup. For a
//! CT on another node the directory holds the shim and its stand-in only.

use std::path::{Path, PathBuf};

/// Directories of `cgroups_path` in every mounted hierarchy, with the hierarchy's controllers.
fn dirs(cgroups_path: &str) -> Vec<(Vec<String>, PathBuf)> {
    let rel = crate::mapping::expand_cgroups_path(cgroups_path);
    let mounts = crate::sys::cgroupfs::cgroup_mounts(
        &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
    );
    mounts.into_iter().map(|(c, m)| (c, m.join(&rel))).collect()
}

/// Move `pid` into `cgroups_path` everywhere it can; returns what could not be done. Not in the
/// v1 freezer: `pause` freezes the CT's cgroup, and the shim must stay awake to supervise (and
/// out of what `kill --all` signals).
pub fn enter(cgroups_path: &str, pid: i32) -> Vec<String> {
    let mut problems = Vec::new();
    for (ctrls, dir) in dirs(cgroups_path) {
        if ctrls.iter().any(|c| c == "freezer") {
            continue;
        }
        // cgroup v2 takes no process into a cgroup that hands controllers to children, as the
        // CT's does to LXC's `ns`: the shim stays where it is there.
        let delegates = std::fs::read_to_string(dir.join("cgroup.subtree_control"))
            .is_ok_and(|c| !c.trim().is_empty());
        if ctrls.is_empty() && delegates {
            log::debug!("{}: not entered (controllers delegated)", dir.display());
            continue;
        }
        if let Err(e) =
            make(&dir).and_then(|_| std::fs::write(dir.join("cgroup.procs"), pid.to_string()))
        {
            problems.push(format!("{}: {e}", dir.display()));
        }
    }
    problems
}

/// Ready the caller's parents of `cgroups_path` for LXC, which makes the CT's cgroup below them
/// at `start` and refuses one that exists: an empty leaf left by a killed create goes (the kernel
/// keeps one that holds processes). LXC readies a v1 cpuset only in the top directory it makes
/// (`lxc/`); below a caller's parent the new cgroup would get no cpus and take no process, so
/// the parents get their parent's cpus and mems where they have none, and the direct parent hands
/// them to new children (`cgroup.clone_children`), as `lxc/` does. Returns what failed.
pub fn prepare(cgroups_path: &str) -> Vec<String> {
    remove(cgroups_path);
    let mut problems = Vec::new();
    for (ctrls, dir) in dirs(cgroups_path) {
        let Some(parent) = dir.parent() else { continue };
        let mut res = make(parent);
        if res.is_ok() && ctrls.iter().any(|c| c == "cpuset") {
            res = std::fs::write(parent.join("cgroup.clone_children"), "1");
        }
        if let Err(e) = res {
            problems.push(format!("{}: {e}", parent.display()));
        }
    }
    problems
}

/// Create `dir` and its parents; a v1 cpuset needs cpus and mems before it takes processes, so
/// every directory on the way without them gets its parent's.
fn make(dir: &Path) -> std::io::Result<()> {
    // Up to `/`: above the hierarchy's root every directory exists and has no cpuset files.
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
                std::fs::write(&mine, v.trim())?;
            }
        }
    }
    Ok(())
}

/// Remove the container's own directory (and LXC's `ns` in it, should LXC have left it) once
/// nothing runs in it; parents belong to the caller (the pod, the slice). A directory that still
/// holds processes stays: the kernel refuses.
pub fn remove(cgroups_path: &str) {
    for (_, dir) in dirs(cgroups_path) {
        let _ = std::fs::remove_dir(dir.join("ns"));
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_and_cgroupfs_forms() {
        assert_eq!(
            crate::mapping::expand_cgroups_path("/libpod_parent/pod1/libpod-abc"),
            PathBuf::from("libpod_parent/pod1/libpod-abc")
        );
        assert_eq!(
            crate::mapping::expand_cgroups_path("/kubepods/burstable/podX/crio-abc"),
            PathBuf::from("kubepods/burstable/podX/crio-abc")
        );
        assert_eq!(
            crate::mapping::expand_cgroups_path("machine-libpod_pod_p1.slice:libpod:abc"),
            PathBuf::from("machine.slice/machine-libpod_pod_p1.slice/libpod-abc.scope")
        );
        assert_eq!(
            crate::mapping::expand_cgroups_path("kubepods-burstable-podX.slice:crio:abc"),
            PathBuf::from("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podX.slice/crio-abc.scope")
        );
        assert_eq!(
            crate::mapping::expand_cgroups_path(":crio:abc"),
            PathBuf::from("system.slice/crio-abc.scope")
        );
    }
}
