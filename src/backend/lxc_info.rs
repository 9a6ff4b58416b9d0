//! A running CT's init pid from LXC itself rather than from `pct status` (a Perl start-up of half
//! a second on a node): `lxc-info` asks the CT's monitor over its command socket, an abstract unix
//! socket `@<lxcpath>/<vmid>/command` (LXC's `lxc_make_abstract_socket_name`) that exists only
//! while the CT runs. The socket's name also gives the lxcpath, which differs between a node
//! (`/var/lib/lxc`) and pve-sim.

use std::process::Command;
use std::time::Duration;

use super::run::run;
use super::BackendError;
use crate::pve::Vmid;

/// The lxcpath of the running CT `vmid`, from `/proc/net/unix` (socket paths in the last column).
pub fn lxc_path_of(vmid: Vmid, proc_net_unix: &str) -> Option<String> {
    let tail = format!("/{vmid}/command");
    proc_net_unix.lines().skip(1).find_map(|l| {
        let name = l.split_whitespace().nth(7)?;
        let path = name.strip_prefix('@')?.strip_suffix(&tail)?;
        path.starts_with('/').then(|| path.to_string())
    })
}

/// The init pid of the running CT `vmid`; `None` when LXC does not know it here (not running,
/// or a socket name LXC hashed because the path was too long): ask Proxmox then.
pub fn init_pid(vmid: Vmid, timeout: Duration) -> Result<Option<i32>, BackendError> {
    // The CT's monitor lives in the host's network namespace, as the runtime does.
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let Some(lxcpath) = lxc_path_of(vmid, &unix) else {
        return Ok(None);
    };
    let mut cmd = Command::new("lxc-info");
    cmd.args(["-P", &lxcpath, "-n", &vmid.to_string(), "-p", "-H"]);
    let out = run(cmd, timeout)?;
    if out.status != 0 {
        return Ok(None);
    }
    Ok(out.stdout.trim().parse::<i32>().ok().filter(|p| *p > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIX: &str = "\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 43563 @lxc/ad055575fe28ddd5//var/lib/lxc
0000000000000000: 00000002 00000000 00010000 0001 01 90211 @/var/lib/lxc/100123/command
0000000000000000: 00000002 00000000 00010000 0001 01 90212 @/tmp/plx-x/sim/lxc/100124/command
0000000000000000: 00000003 00000000 00000000 0001 03 90213 /run/systemd/journal/stdout
";

    #[test]
    fn the_lxcpath_comes_from_the_monitor_socket() {
        let v = |n| Vmid::new(n).unwrap();
        assert_eq!(
            lxc_path_of(v(100123), UNIX).as_deref(),
            Some("/var/lib/lxc")
        );
        assert_eq!(
            lxc_path_of(v(100124), UNIX).as_deref(),
            Some("/tmp/plx-x/sim/lxc")
        );
        assert_eq!(lxc_path_of(v(10012), UNIX), None, "no prefix match");
        assert_eq!(lxc_path_of(v(100125), UNIX), None, "not running");
    }
}
