//! A running CT's init pid from LXC itself rather than from `pct status` (a Perl start-up of half
//! a second on a node): `lxc-info -P <lxcpath> -n <vmid> -p` asks the CT's monitor over its
//! command socket, as Proxmox's own `find_lxc_pid` does (pve-container src/PVE/LXC.pm). The
//! lxcpath is configured (`pct.lxc_path`), never taken from the socket list: anyone may bind an
//! abstract socket of a matching name elsewhere. The pid is used only if the process sits in the
//! CT's cgroup, which only root can arrange: the `lxc.cgroup.dir.container` of the LXC config
//! Proxmox generated for the CT (`<lxcpath>/<vmid>/config`, the last value counts, as in LXC),
//! `lxc/<vmid>` unless a `linux.cgroupsPath` moved it (src/mapping/cgroups.rs).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::run::run;
use crate::pve::Vmid;

/// The init pid of the running CT `vmid` under `lxc_path`; `None` when LXC does not say (not
/// running, `lxc-info` missing or failing, or a pid outside the CT's cgroup): ask Proxmox then.
pub fn init_pid(vmid: Vmid, lxc_path: &Path, timeout: Duration) -> Option<i32> {
    let mut cmd = Command::new("lxc-info");
    cmd.arg("-P")
        .arg(lxc_path)
        .args(["-n", &vmid.to_string(), "-p", "-H"]);
    let out = run(cmd, timeout, "lxc-info").ok()?;
    if out.status != 0 {
        return None;
    }
    let pid = out.stdout.trim().parse::<i32>().ok().filter(|p| *p > 0)?;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let config =
        std::fs::read_to_string(lxc_path.join(vmid.to_string()).join("config")).unwrap_or_default();
    in_ct_cgroup(&cgroups, &container_dir(&config, vmid)).then_some(pid)
}

/// The CT's cgroup directory as LXC takes it from the CT's LXC config: the last
/// `lxc.cgroup.dir.container`, else Proxmox's `lxc/<vmid>`.
pub fn container_dir(lxc_config: &str, vmid: Vmid) -> String {
    lxc_config
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "lxc.cgroup.dir.container").then(|| v.trim().to_string())
        })
        .next_back()
        .unwrap_or_else(|| format!("lxc/{vmid}"))
}

/// Whether `/proc/<pid>/cgroup` text puts the process in the CT's cgroup `dir` (relative to the
/// hierarchy's root) or below it, such as Proxmox's `lxc/<vmid>/ns`, in any hierarchy.
pub fn in_ct_cgroup(cgroups: &str, dir: &str) -> bool {
    let dir = format!("/{}", dir.trim_matches('/'));
    cgroups.lines().any(|l| {
        let path = l.splitn(3, ':').nth(2).unwrap_or("");
        path == dir || path.starts_with(&format!("{dir}/"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_process_in_the_cts_cgroup_is_its_init() {
        let v = &container_dir("", Vmid::new(100123).unwrap());
        assert!(in_ct_cgroup("0::/lxc/100123/ns\n", v));
        assert!(in_ct_cgroup(
            "12:pids:/lxc/100123/ns\n1:name=systemd:/lxc/100123/ns\n",
            v
        ));
        assert!(in_ct_cgroup("0::/lxc/100123\n", v));
        assert!(!in_ct_cgroup("0::/lxc/1001234/ns\n", v), "another CT");
        assert!(!in_ct_cgroup("0::/user.slice/session-1.scope\n", v));
        assert!(!in_ct_cgroup("0::/x/lxc/100123\n", v), "not LXC's tree");
        assert!(!in_ct_cgroup("", v));
    }

    #[test]
    fn the_cgroup_the_lxc_config_names() {
        let v = Vmid::new(100123).unwrap();
        let config = "lxc.cgroup.relative = 0\nlxc.cgroup.dir.container = lxc/100123\n\
                      lxc.cgroup.dir.container.inner = ns\nlxc.arch = amd64\n\
                      lxc.cgroup.dir.container = kubepods/pod1/crio-x\n";
        let dir = container_dir(config, v);
        assert_eq!(dir, "kubepods/pod1/crio-x");
        assert!(in_ct_cgroup("4:memory:/kubepods/pod1/crio-x/ns\n", &dir));
        assert!(!in_ct_cgroup("4:memory:/lxc/100123/ns\n", &dir));
        assert!(!in_ct_cgroup("4:memory:/kubepods/pod1/crio-xy/ns\n", &dir));
    }
}
