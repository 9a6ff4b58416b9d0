//! What makes a CT fail to start on a node before its init runs, although its config is valid:
//! a symlink on the way to a host path Proxmox bind-mounts, and a raw AppArmor profile that a
//! confined `lxc-start` may not switch to. The sim decides here and lets LXC fail through a
//! pre-start hook that writes the node's message to the CT's stderr log, so `pct start` fails
//! like any other start failure (see README.md, "What pve-sim refuses").

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;
use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use crate::sim::shell_quote;

/// pve-container src/PVE/LXC.pm `walk_tree_nofollow` from `/`, as `bindmount` runs it for a
/// host path: every component is opened with `O_NOFOLLOW | O_DIRECTORY`, so a symlink (ELOOP)
/// or a non-directory (ENOTDIR) anywhere on the way is refused. The path in the message is
/// Proxmox's: the start directory `/` plus `/<component>` each, hence the leading `//`.
/// Other errors (a missing directory) are left to the sim's own checks.
pub fn symlink_walk(path: &str) -> Result<(), String> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(raw) = open("/", flags, Mode::empty()) else {
        return Ok(());
    };
    // SAFETY: open returned a new descriptor that nothing else owns.
    let mut fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut shown = String::from("/");
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        shown.push('/');
        shown.push_str(comp);
        match openat(
            Some(std::os::fd::AsRawFd::as_raw_fd(&fd)),
            comp,
            flags | OFlag::O_NOFOLLOW,
            Mode::empty(),
        ) {
            // SAFETY: openat returned a new descriptor that nothing else owns.
            Ok(next) => fd = unsafe { std::os::fd::FromRawFd::from_raw_fd(next) },
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                return Err(format!("symlink encountered at: {shown}"))
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Whether a confined `lxc-start` may switch the CT to AppArmor profile `label`: lxc's
/// `abstractions/start-container` (config/apparmor in lxc) allows `change_profile` only to
/// `unconfined` and `lxc-*`; `generated` makes lxc generate an `lxc-…` profile itself.
pub fn apparmor_allowed(label: &str) -> bool {
    label == "generated" || label == "unconfined" || label.starts_with("lxc-")
}

/// The first reason CT `vmid` (config `conf`) cannot start on a node: what its stderr log
/// would say.
pub fn failure(vmid: u32, conf: &CtConfig) -> Option<String> {
    let mut host_paths = Vec::new();
    if let Some(v) = conf.options.get("rootfs") {
        if let Ok(p) = ROOTFS_FORMAT.parse(v) {
            host_paths.push(p["volume"].clone());
        }
    }
    for (_, v) in conf.options.iter().filter(|(k, _)| k.starts_with("mp")) {
        if let Ok(p) = MP_FORMAT.parse(v) {
            host_paths.push(p["volume"].clone());
        }
    }
    // Device mount points (`/dev/...`) are mounted, not bind-mounted.
    for p in host_paths
        .iter()
        .filter(|p| p.starts_with('/') && !p.starts_with("/dev/"))
    {
        if let Err(e) = symlink_walk(p) {
            return Some(e);
        }
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
