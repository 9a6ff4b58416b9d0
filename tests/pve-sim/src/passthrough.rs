//! `devN` device passthrough, as pve-container does it: at start the host's node is looked at
//! (`PVE::LXC::Tools::get_device_mode_and_rdev` in `update_lxc_config`, src/PVE/LXC.pm), the
//! prestart hook makes a node of the same type and number with the configured owner and mode
//! under `/var/lib/lxc/<vmid>/passthrough` (`create_passthrough_device_node`), and the autodev
//! hook bind-mounts it over an empty file at the same path in the CT's `/dev`
//! (src/lxc-pve-autodev-hook); the device cgroup allows it read-write.
//!
//! Machine differences: the passthrough directory is `$PVE_SIM_ROOT/lxc/<vmid>/passthrough`,
//! filled by `pct start` just before `lxc-start` (a fresh directory, where Proxmox mounts a
//! fresh tmpfs in its prestart hook), and the autodev hook is a shell script next to it.

use std::fmt::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use proxmox_lxcri::pve::confkeys::DEV_FORMAT;
use proxmox_lxcri::pve::CtConfig;

use crate::sim::{shell_quote, Sim};

/// One `devN` as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Absolute path, in the CT as on the host.
    pub path: String,
    /// `b` or `c`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The CT's `devN` entries with their host nodes, in key order; `Err` is Proxmox's message.
pub fn devices(conf: &CtConfig) -> Result<Vec<Device>, String> {
    let mut keys: Vec<(u32, &String)> = conf
        .options
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("dev")?.parse().ok()?, v)))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for (i, v) in keys {
        let d = DEV_FORMAT.parse(v).map_err(|e| format!("dev{i}: {e}"))?;
        let path = d
            .get("path")
            .ok_or_else(|| format!("Path is not defined for passthrough device dev{i}"))?
            .clone();
        let md = match std::fs::metadata(&path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("Device {path} does not exist"))
            }
            Err(_) => return Err(format!("Error accessing device {path}")),
        };
        let kind = if md.file_type().is_block_device() {
            'b'
        } else if md.file_type().is_char_device() {
            'c'
        } else {
            return Err(format!("{path} is not a device"));
        };
        let mode = match d.get("mode") {
            Some(m) => u32::from_str_radix(m, 8).map_err(|_| format!("dev{i}: bad mode {m}"))?,
            None => 0o660,
        };
        let num = |k: &str| d.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        let rdev = md.rdev();
        out.push(Device {
            path,
            kind,
            major: nix::sys::stat::major(rdev),
            minor: nix::sys::stat::minor(rdev),
            mode,
            uid: num("uid"),
            gid: num("gid"),
        });
    }
    Ok(out)
}

/// Where CT ids land on the host: the first `lxc.idmap` range holding `id`, or Proxmox's default
/// map (`100000`, 65536 ids) for an unprivileged CT; a privileged CT's ids are the host's.
fn to_host(conf: &CtConfig, unprivileged: bool, kind: &str, id: u32) -> u32 {
    for m in conf.lxc_values("lxc.idmap") {
        let f: Vec<&str> = m.split_whitespace().collect();
        if let [k, ct, host, n] = f[..] {
            let (ct, host, n) = (
                ct.parse::<u32>().unwrap_or(0),
                host.parse::<u32>().unwrap_or(0),
                n.parse::<u32>().unwrap_or(0),
            );
            if k == kind && id >= ct && id - ct < n {
                return host + (id - ct);
            }
        }
    }
    if unprivileged {
        100_000 + id
    } else {
        id
    }
}

/// The prestart hook's part: the nodes under the CT's passthrough directory, and the autodev
/// hook script that binds them into the CT. Returns the script's path; `None` without devices.
pub fn prepare(
    sim: &Sim,
    vmid: u32,
    conf: &CtConfig,
    unprivileged: bool,
    devs: &[Device],
) -> Result<Option<PathBuf>, String> {
    let dir = sim.ct_dir(vmid).join("passthrough");
    let _ = std::fs::remove_dir_all(&dir);
    if devs.is_empty() {
        return Ok(None);
    }
    let mut script =
        String::from("#!/bin/sh\n# lxc-pve-autodev-hook: passthrough devices\nset -e\n");
    for d in devs {
        let node = dir.join(d.path.trim_start_matches('/'));
        std::fs::create_dir_all(node.parent().unwrap_or(&dir))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let kind = if d.kind == 'b' {
            nix::sys::stat::SFlag::S_IFBLK
        } else {
            nix::sys::stat::SFlag::S_IFCHR
        };
        nix::sys::stat::mknod(
            &node,
            kind,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(d.major, d.minor),
        )
        .map_err(|e| format!("failed to mknod {}: {e}", node.display()))?;
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(d.mode))
            .map_err(|e| format!("failed to chmod {:o} {}: {e}", d.mode, node.display()))?;
        let (uid, gid) = (
            to_host(conf, unprivileged, "u", d.uid),
            to_host(conf, unprivileged, "g", d.gid),
        );
        std::os::unix::fs::chown(&node, Some(uid), Some(gid))
            .map_err(|e| format!("failed to chown {uid}:{gid} {}: {e}", node.display()))?;
        let target = format!("\"$LXC_ROOTFS_MOUNT\"{}", shell_quote(&d.path));
        let parent = Path::new(&d.path)
            .parent()
            .map_or("/dev".into(), |p| p.to_string_lossy().into_owned());
        let _ = writeln!(
            script,
            "mkdir -p \"$LXC_ROOTFS_MOUNT\"{}\n\
             if [ -e {target} ]; then echo \"Could not mknod $LXC_ROOTFS_MOUNT{}: File exists\" >&2; exit 1; fi\n\
             : > {target}\n\
             mount --bind {} {target}",
            shell_quote(&parent),
            d.path,
            shell_quote(&node.to_string_lossy()),
        );
    }
    let hook = dir.join("autodev-hook");
    std::fs::write(&hook, script).map_err(|e| format!("{}: {e}", hook.display()))?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", hook.display()))?;
    Ok(Some(hook))
}
