//! Entering a CT the way `nsenter` does (docs/architecture.md): join the cgroups of the CT's init, then
//! `setns` into its cgroup, ipc, uts, net, pid and mount namespaces, and the user namespace last
//! (everything else is entered while the host's capabilities still apply). Namespaces that
//! config.json names by path (a pod's net/ipc/uts) replace the CT's own. [`join`] opens and
//! joins them, here and for the container hooks.
//!
//! `launch` forks a helper that enters the namespaces and clones the workload with `CLONE_PARENT`,
//! so the workload is a direct child of the caller (the shim) that waits for it, while living in
//! the CT's pid namespace.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::ForkResult;
use oci_spec::runtime::Process;

use crate::process::{exec_workload, Target};
use crate::sys::cgroupfs::{cgroup_mounts, mount_for};

pub mod command;
pub mod join;

use join::Namespaces;

/// Namespace kinds in the order they must be joined.
pub const ORDER: [(&str, CloneFlags); 7] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("user", CloneFlags::CLONE_NEWUSER),
];

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Failed(String),
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
}

/// Start `process` in the CT; returns the workload's host pid once it has exec'd.
pub fn launch(target: &Target, process: &Process) -> Result<i32, LaunchError> {
    let sys = |what: &str| {
        let what = what.to_string();
        move |source| LaunchError::Sys { what, source }
    };
    let (pid_r, pid_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    // SAFETY: the shim is single-threaded; the child only enters namespaces, clones and exits.
    match unsafe { nix::unistd::fork() }.map_err(sys("fork"))? {
        ForkResult::Child => {
            drop(pid_r);
            drop(err_r);
            let code = match enter_and_clone(target, process, err_w) {
                Ok(pid) => {
                    let _ = File::from(pid_w).write_all(&pid.to_ne_bytes());
                    0
                }
                Err(_) => 1,
            };
            // SAFETY: _exit ends this forked child at once; nothing of the parent runs in it again.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(pid_w);
            drop(err_w);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut buf = [0u8; 4];
            let got_pid = File::from(pid_r).read_exact(&mut buf).is_ok();
            let mut msg = String::new();
            let _ = File::from(err_r).read_to_string(&mut msg);
            match (got_pid, msg.is_empty()) {
                (true, true) => Ok(i32::from_ne_bytes(buf)),
                (_, false) => Err(LaunchError::Failed(msg)),
                (false, true) => Err(LaunchError::Failed(
                    "entering the CT failed without a message".into(),
                )),
            }
        }
    }
}

/// Runs in the forked helper: cgroups, namespaces, then the workload via `clone(CLONE_PARENT)`.
fn enter_and_clone(target: &Target, process: &Process, err_w: OwnedFd) -> Result<i32, ()> {
    let mut err = File::from(err_w);
    let fail = |err: &mut File, msg: String| {
        let _ = err.write_all(msg.as_bytes());
    };
    if let Err(msg) = join_cgroups(target.init_pid) {
        fail(&mut err, msg);
        return Err(());
    }
    if let Err(msg) = join_namespaces(target) {
        fail(&mut err, msg);
        return Err(());
    }
    // The workload is the shim's child, which waits for it.
    let pid = join::fork(true);
    match pid {
        Ok(0) => {
            let msg = exec_workload(process, target);
            // Only reached when exec failed; 127 for a missing program, 126 otherwise (as shells do).
            let code = if msg.contains("not found") || msg.contains("no such file") {
                127
            } else {
                126
            };
            fail(&mut err, msg);
            // SAFETY: _exit ends this cloned child at once; nothing of the parent runs in it again.
            unsafe { libc::_exit(code) }
        }
        Ok(p) => Ok(p),
        Err(e) => {
            fail(&mut err, format!("clone: {}", std::io::Error::from(e)));
            Err(())
        }
    }
}

fn join_namespaces(target: &Target) -> Result<(), String> {
    let namespaces =
        Namespaces::open(target.init_pid, &target.ns_paths).map_err(|e| e.to_string())?;
    enter(&namespaces, |ns| {
        if ns.name == "mnt" {
            // Still in the host's mount namespace, where /proc/sys is writable; net, ipc and uts
            // sysctls apply to the namespaces just joined.
            write_sysctls(&target.sysctls)?;
        }
        Ok(())
    })
}

/// Join `namespaces` in order, running `before` ahead of each.
fn enter(
    namespaces: &Namespaces,
    mut before: impl FnMut(&join::Namespace) -> Result<(), String>,
) -> Result<(), String> {
    for ns in namespaces.iter() {
        before(ns)?;
        ns.join()
            .map_err(|e| format!("setns {} {}: {e}", ns.name, ns.path.display()))?;
    }
    Ok(())
}

pub fn write_sysctls(sysctls: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in sysctls {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| format!("linux.sysctl {key}: {e}"))?;
    }
    Ok(())
}

/// Move this process into the cgroups of `init_pid` (v1 hierarchies and v2), so the CT's limits
/// apply to everything it starts.
fn join_cgroups(init_pid: i32) -> Result<(), String> {
    let cgroups = std::fs::read_to_string(format!("/proc/{init_pid}/cgroup"))
        .map_err(|e| format!("read /proc/{init_pid}/cgroup: {e}"))?;
    let mounts =
        cgroup_mounts(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    let me = std::process::id().to_string();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Some(mount) = mount_for(&mounts, ctrls) else {
            continue; // hierarchy not mounted here: nothing to join
        };
        let procs = mount
            .join(path.trim_start_matches('/'))
            .join("cgroup.procs");
        std::fs::write(&procs, &me).map_err(|e| format!("join cgroup {}: {e}", procs.display()))?;
    }
    Ok(())
}

/// Move the calling process (the shim) into the network, IPC and UTS namespaces its workload
/// uses, so that `/proc/<shim>/ns/*` — which podman and CRI-O hand to a pod's other containers —
/// name the pod's namespaces.
pub fn join_pod_namespaces(target: &Target) -> Result<(), String> {
    let pod = |name: &str| matches!(name, "ipc" | "uts" | "net");
    let namespaces =
        Namespaces::open_some(target.init_pid, &target.ns_paths, pod).map_err(|e| e.to_string())?;
    enter(&namespaces, |_| Ok(()))
}

/// A pid's namespace file, e.g. for `state` consumers and pod lookups.
/// The namespace file to join: the one config.json names, else that of `pid` (the CT's init).
pub fn ns_file(paths: &BTreeMap<String, PathBuf>, pid: i32, name: &str) -> PathBuf {
    paths
        .get(name)
        .cloned()
        .unwrap_or_else(|| ns_path(pid, name))
}

pub fn ns_path(pid: i32, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
32 25 0:28 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
33 25 0:29 / /sys/fs/cgroup/systemd rw,relatime shared:12 - cgroup cgroup rw,name=systemd
34 25 0:30 / /sys/fs/cgroup/unified rw,relatime shared:13 - cgroup2 cgroup2 rw
35 25 0:31 /lxc /mnt/inner rw - cgroup cgroup rw,pids
";

    #[test]
    fn finds_each_hierarchy_by_controller() {
        let m = cgroup_mounts(V1);
        assert_eq!(mount_for(&m, "cpu"), Some(Path::new("/sys/fs/cgroup/cpu")));
        assert_eq!(
            mount_for(&m, "memory"),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            mount_for(&m, "name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd"))
        );
        assert_eq!(mount_for(&m, ""), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(
            mount_for(&m, "pids"),
            None,
            "sub-tree binds are not hierarchy roots"
        );
        assert_eq!(
            mount_for(&m, "cpu,cpuacct"),
            None,
            "separately mounted controllers"
        );
    }

    #[test]
    fn combined_controllers_match_their_mount() {
        let m = cgroup_mounts(
            "40 25 0:40 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        assert_eq!(
            mount_for(&m, "cpu,cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct"))
        );
    }
}
