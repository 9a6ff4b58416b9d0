//! A running CT's init pid from LXC itself rather than from `pct status` (a Perl start-up of half
//! a second on a node): `lxc-info -P <lxcpath> -n <vmid> -p` asks the CT's monitor over its
//! command socket, as Proxmox's own `find_lxc_pid` does (pve-container src/PVE/LXC.pm). The
//! lxcpath is configured (`pct.lxc_path`), never taken from the socket list: anyone may bind an
//! abstract socket of a matching name elsewhere. The pid is used only if the process sits in the
//! CT's cgroup (`lxc/<vmid>`), which only root can arrange.

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
    let out = run(cmd, timeout).ok()?;
    if out.status != 0 {
        return None;
    }
    let pid = out.stdout.trim().parse::<i32>().ok().filter(|p| *p > 0)?;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    in_ct_cgroup(&cgroups, vmid).then_some(pid)
}

/// Whether `/proc/<pid>/cgroup` text puts the process in CT `vmid`'s cgroup (`.../lxc/<vmid>` or
/// below it, such as Proxmox's `lxc/<vmid>/ns`), in any hierarchy.
pub fn in_ct_cgroup(cgroups: &str, vmid: Vmid) -> bool {
    let dir = format!("/lxc/{vmid}");
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
        let v = Vmid::new(100123).unwrap();
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
}
