//! What makes a CT fail to start on a node before its init runs, although its config is valid:
//! a symlink on the way to a host path Proxmox bind-mounts, and a raw AppArmor profile that a
//! confined `lxc-start` may not switch to. The sim decides here and lets LXC fail through a
//! pre-start hook that writes the node's message to the CT's stderr log, so `pct start` fails
//! like any other start failure (see README.md, "What pve-sim refuses").

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;
use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use crate::sim::{shell_quote, Sim};

/// pve-container src/PVE/LXC.pm `walk_tree_nofollow` from `/`, as `bindmount` runs it for a
/// host path: every component is opened with `O_NOFOLLOW | O_DIRECTORY`, so a symlink (ELOOP)
/// or a non-directory (ENOTDIR) anywhere on the way is refused. The path in the message is
/// Proxmox's: the start directory `/` plus `/<component>` each, hence the leading `//`.
/// Other errors (a missing directory) are left to the sim's own checks.
pub fn symlink_walk(path: &str) -> Result<(), String> {
    walk_from(Path::new("/"), "/", path)
}

/// `walk_tree_nofollow` from `start` (opened normally) through `sub`; `shown` is how the
/// message spells `start`.
fn walk_from(start: &Path, shown: &str, sub: &str) -> Result<(), String> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(raw) = open(start, flags, Mode::empty()) else {
        return Ok(());
    };
    // SAFETY: open returned a new descriptor that nothing else owns.
    let mut fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut shown = shown.to_string();
    for comp in sub.split('/').filter(|c| !c.is_empty()) {
        shown.push('/');
        shown.push_str(comp);
        match openat(
            Some(fd.as_raw_fd()),
            comp,
            flags | OFlag::O_NOFOLLOW,
            Mode::empty(),
        ) {
            // SAFETY: openat returned a new descriptor that nothing else owns.
            Ok(next) => fd = unsafe { OwnedFd::from_raw_fd(next) },
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                return Err(format!("symlink encountered at: {shown}"))
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// `__mount_prepare_rootdir`: a mount point's destination `mp` is walked the same way from the
/// CT's mounted rootfs (missing directories are created then, by LXC here). On a node the
/// rootfs is mounted at `/var/lib/lxc/<vmid>/rootfs`; the sim names its own LXC directory.
pub fn destination_walk(sim: &Sim, vmid: u32, rootfs: &Path, mp: &str) -> Result<(), String> {
    let shown = sim.ct_dir(vmid).join("rootfs");
    walk_from(rootfs, &shown.to_string_lossy(), mp)
}

/// The host directory holding CT `conf`'s rootfs: a bind path or a volume's data.
fn rootfs_dir(sim: &Sim, conf: &CtConfig) -> Option<PathBuf> {
    let vol = ROOTFS_FORMAT.parse(conf.options.get("rootfs")?).ok()?["volume"].clone();
    if vol.starts_with('/') {
        Some(PathBuf::from(vol))
    } else {
        crate::storage::data_path(sim, &vol).ok()
    }
}

/// Whether a confined `lxc-start` may switch the CT to AppArmor profile `label`: lxc's
/// `abstractions/start-container` (config/apparmor in lxc) allows `change_profile` only to
/// `unconfined` and `lxc-*`; `generated` makes lxc generate an `lxc-…` profile itself.
pub fn apparmor_allowed(label: &str) -> bool {
    label == "generated" || label == "unconfined" || label.starts_with("lxc-")
}

/// The mount walks of CT `vmid` (config `conf`) as `mount_all` does them: the rootfs, then each
/// mount point sorted by destination, its destination and then its bind source. Device mount
/// points (`/dev/...`) are mounted, not bind-mounted.
pub fn mount_walks(sim: &Sim, vmid: u32, conf: &CtConfig) -> Result<(), String> {
    let is_bind = |v: &str| v.starts_with('/') && !v.starts_with("/dev/");
    if let Some(v) = conf.options.get("rootfs") {
        if let Ok(p) = ROOTFS_FORMAT.parse(v) {
            if is_bind(&p["volume"]) {
                symlink_walk(&p["volume"])?;
            }
        }
    }
    let mut mps: Vec<(String, String)> = conf
        .options
        .iter()
        .filter(|(k, _)| k.starts_with("mp"))
        // An older node skips mount points it cannot parse.
        .filter(|(k, v)| crate::cli::check_new_options(&sim.version, k, v).is_ok())
        .filter_map(|(_, v)| MP_FORMAT.parse(v).ok())
        .map(|p| (p["mp"].clone(), p["volume"].clone()))
        .collect();
    mps.sort();
    let root = rootfs_dir(sim, conf);
    for (dest, vol) in mps {
        if let Some(root) = &root {
            destination_walk(sim, vmid, root, &dest)?;
        }
        if is_bind(&vol) {
            symlink_walk(&vol)?;
        }
    }
    Ok(())
}

/// The first reason CT `vmid` (config `conf`) cannot start on a node: what its stderr log
/// would say.
pub fn failure(sim: &Sim, vmid: u32, conf: &CtConfig) -> Option<String> {
    if let Err(e) = mount_walks(sim, vmid, conf) {
        return Some(e);
    }
    let label = conf.lxc_values("lxc.apparmor.profile").last().copied()?;
    (!apparmor_allowed(label)).then(|| {
        // lxc's own log line (lsm/apparmor.c `apparmor_process_label_set`), without the
        // source line number a real build prints.
        format!(
            "lxc-start: {vmid}: ../src/lxc/lsm/apparmor.c: apparmor_process_label_set: \
             Invalid argument - Failed to change AppArmor profile to {label}"
        )
    })
}

/// An `lxc.hook.pre-start` command that appends `msg` to the CT's stderr log `log` (LXC keeps
/// a hook's own output for its debug log) and fails. LXC appends the CT name and hook
/// arguments, which the shell takes as `$2`…; `$0` is the message, `$1` the log.
pub fn failing_hook(msg: &str, log: &Path) -> String {
    format!(
        "/bin/sh -c {} {} {}",
        shell_quote("printf '%s\\n' \"$0\" >>\"$1\"; exit 1"),
        shell_quote(msg),
        shell_quote(&log.to_string_lossy())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_refuses_symlinks_and_files_on_the_way() {
        let d = std::env::temp_dir().join(format!("pve-sim-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("real", d.join("link")).unwrap();
        std::fs::write(d.join("file"), "").unwrap();
        let s = d.to_str().unwrap();
        assert_eq!(symlink_walk(&format!("{s}/real/sub")), Ok(()));
        assert_eq!(
            symlink_walk(&format!("{s}/link/sub")),
            Err(format!("symlink encountered at: /{s}/link"))
        );
        assert_eq!(
            symlink_walk(&format!("{s}/file")),
            Err(format!("symlink encountered at: /{s}/file"))
        );
        // Missing paths are someone else's error.
        assert_eq!(symlink_walk(&format!("{s}/nope/x")), Ok(()));
        // From another start directory, as for a destination in the CT's rootfs.
        assert_eq!(
            walk_from(&d, "/ct/rootfs", "/link/sub"),
            Err("symlink encountered at: /ct/rootfs/link".into())
        );
        assert_eq!(walk_from(&d, "/ct/rootfs", "real//sub/new"), Ok(()));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn apparmor_labels_a_confined_lxc_start_may_use() {
        for ok in [
            "generated",
            "unconfined",
            "lxc-container-default-cgns",
            "lxc-foo",
        ] {
            assert!(apparmor_allowed(ok), "{ok}");
        }
        for bad in [
            "containers-default-0.50.1",
            "crio-default",
            "docker-default",
            "",
        ] {
            assert!(!apparmor_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn hook_logs_the_message() {
        let log = std::env::temp_dir().join(format!("pve-sim-hook-{}", std::process::id()));
        std::fs::write(&log, "before\n").unwrap();
        let hook = failing_hook("it's broken", &log);
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("{hook} 100 lxc pre-start")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "before\nit's broken\n"
        );
        std::fs::remove_file(&log).unwrap();
    }
}
