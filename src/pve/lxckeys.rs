//! Which raw `lxc.*` keys a CT config may carry (pve-container src/PVE/LXC/Config.pm,
//! `is_valid_lxc_conf_key`). Proxmox appends the accepted ones verbatim to the generated LXC
//! config; the others are dropped with a warning when the config is read.

/// The verdict on one raw key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LxcKey {
    Allowed,
    /// Accepted and passed through, but Proxmox warns: the text after `vm <vmid> - `.
    Warn(String),
    /// Refused with Proxmox's reason, shown as `vm <vmid> - <key>: <reason>`.
    Rejected(&'static str),
    /// Not a key Proxmox knows: `vm <vmid> - unable to parse config: <line>`.
    Unknown,
}

impl LxcKey {
    pub fn is_accepted(&self) -> bool {
        matches!(self, LxcKey::Allowed | LxcKey::Warn(_))
    }

    /// The warning Proxmox prints for this key on `line` of CT `vmid`'s config, if any.
    pub fn message(&self, vmid: u32, key: &str, line: &str) -> Option<String> {
        match self {
            LxcKey::Allowed => None,
            LxcKey::Warn(w) => Some(format!("vm {vmid} - {w}")),
            LxcKey::Rejected(r) => Some(format!("vm {vmid} - {key}: {r}")),
            LxcKey::Unknown => Some(format!("vm {vmid} - unable to parse config: {line}")),
        }
    }
}

const ALLOWED: &[&str] = &[
    "lxc.apparmor.profile",
    "lxc.apparmor.allow_incomplete",
    "lxc.apparmor.allow_nesting",
    "lxc.apparmor.raw",
    "lxc.selinux.context",
    "lxc.include",
    "lxc.arch",
    "lxc.uts.name",
    "lxc.signal.halt",
    "lxc.signal.reboot",
    "lxc.signal.stop",
    "lxc.init.cmd",
    "lxc.init.cwd",
    "lxc.init.uid",
    "lxc.init.gid",
    "lxc.init.groups",
    "lxc.pty.max",
    "lxc.console.logfile",
    "lxc.console.path",
    "lxc.tty.max",
    "lxc.devtty.dir",
    "lxc.hook.autodev",
    "lxc.autodev",
    "lxc.kmsg",
    "lxc.mount.fstab",
    "lxc.mount.entry",
    "lxc.mount.auto",
    "lxc.rootfs.mount",
    "lxc.cap.drop",
    "lxc.cap.keep",
    "lxc.seccomp.profile",
    "lxc.seccomp.notify.proxy",
    "lxc.seccomp.notify.cookie",
    "lxc.idmap",
    "lxc.hook.pre-start",
    "lxc.hook.pre-mount",
    "lxc.hook.mount",
    "lxc.hook.start",
    "lxc.hook.stop",
    "lxc.hook.post-stop",
    "lxc.hook.clone",
    "lxc.hook.destroy",
    "lxc.hook.version",
    "lxc.log.level",
    "lxc.log.file",
    "lxc.start.auto",
    "lxc.start.delay",
    "lxc.start.order",
    "lxc.group",
    "lxc.environment",
    "lxc.environment.runtime",
    "lxc.environment.hooks",
    // IPC sysctls only: these are namespaced by CLONE_NEWIPC.
    "lxc.sysctl.fs.mqueue",
    "lxc.sysctl.kernel.msgmax",
    "lxc.sysctl.kernel.msgmnb",
    "lxc.sysctl.kernel.msgmni",
    "lxc.sysctl.kernel.sem",
    "lxc.sysctl.kernel.shmall",
    "lxc.sysctl.kernel.shmmax",
    "lxc.sysctl.kernel.shmmni",
    "lxc.sysctl.kernel.shm_rmid_forced",
];

const REJECTED: &[(&str, &str)] = &[
    (
        "lxc.rootfs.path",
        "lxc.rootfs.path is auto generated from rootfs",
    ),
    (
        "lxc.rootfs.options",
        "lxc.rootfs.options is not supported, please use mount point options in the \"rootfs\" key",
    ),
];

/// Pre-3.0 LXC names and what they became.
const DEPRECATED: &[(&str, &str)] = &[
    ("lxc.aa_profile", "lxc.apparmor.profile"),
    ("lxc.aa_allow_incomplete", "lxc.apparmor.allow_incomplete"),
    ("lxc.console", "lxc.console.path"),
    ("lxc.devttydir", "lxc.tty.dir"),
    ("lxc.haltsignal", "lxc.signal.halt"),
    ("lxc.rebootsignal", "lxc.signal.reboot"),
    ("lxc.stopsignal", "lxc.signal.stop"),
    ("lxc.id_map", "lxc.idmap"),
    ("lxc.init_cmd", "lxc.init.cmd"),
    ("lxc.loglevel", "lxc.log.level"),
    ("lxc.logfile", "lxc.log.file"),
    ("lxc.mount", "lxc.mount.fstab"),
    ("lxc.network.type", "lxc.net.INDEX.type"),
    ("lxc.network.flags", "lxc.net.INDEX.flags"),
    ("lxc.network.link", "lxc.net.INDEX.link"),
    ("lxc.network.mtu", "lxc.net.INDEX.mtu"),
    ("lxc.network.name", "lxc.net.INDEX.name"),
    ("lxc.network.hwaddr", "lxc.net.INDEX.hwaddr"),
    ("lxc.network.ipv4", "lxc.net.INDEX.ipv4.address"),
    ("lxc.network.ipv4.gateway", "lxc.net.INDEX.ipv4.gateway"),
    ("lxc.network.ipv6", "lxc.net.INDEX.ipv6.address"),
    ("lxc.network.ipv6.gateway", "lxc.net.INDEX.ipv6.gateway"),
    ("lxc.network.script.up", "lxc.net.INDEX.script.up"),
    ("lxc.network.script.down", "lxc.net.INDEX.script.down"),
    ("lxc.pts", "lxc.pty.max"),
    ("lxc.se_context", "lxc.selinux.context"),
    ("lxc.seccomp", "lxc.seccomp.profile"),
    ("lxc.tty", "lxc.tty.max"),
    ("lxc.utsname", "lxc.uts.name"),
];

/// The config parser's key pattern `lxc\.[a-z0-9_\-\.]+`; anything else is not a raw key.
pub fn is_raw_key_syntax(key: &str) -> bool {
    key.strip_prefix("lxc.").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
    })
}

/// Classifies a raw key the way Proxmox does when it reads a CT config.
pub fn check(key: &str) -> LxcKey {
    if !is_raw_key_syntax(key) {
        return LxcKey::Unknown;
    }
    if key.starts_with("lxc.limit.") {
        return LxcKey::Warn(format!("{key}: lxc.limit.* was renamed to lxc.prlimit.*"));
    }
    if let Some((_, new)) = DEPRECATED.iter().find(|(old, _)| *old == key) {
        return LxcKey::Warn(format!("{key} is deprecated and was renamed to {new}"));
    }
    if ALLOWED.contains(&key) {
        return LxcKey::Allowed;
    }
    if let Some((_, reason)) = REJECTED.iter().find(|(k, _)| *k == key) {
        return LxcKey::Rejected(reason);
    }
    if key.starts_with("lxc.cgroup.") {
        // cgroup v1 keys are accepted with a warning (pve-container src/PVE/LXC/Config.pm,
        // `parse_pct_config`): LXC 7 ignores them.
        return LxcKey::Warn(format!(
            "{key} is deprecated, this will be a hard error in the future!"
        ));
    }
    if key.starts_with("lxc.cgroup2.")
        || key.starts_with("lxc.prlimit.")
        || key.starts_with("lxc.net.")
    {
        return LxcKey::Allowed;
    }
    LxcKey::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_keys() {
        for k in [
            "lxc.init.cmd",
            "lxc.mount.entry",
            "lxc.environment.runtime",
            "lxc.sysctl.kernel.shmmax",
        ] {
            assert_eq!(check(k), LxcKey::Allowed, "{k}");
        }
        for k in [
            "lxc.cgroup2.memory.max",
            "lxc.prlimit.nofile",
            "lxc.net.0.type",
        ] {
            assert_eq!(check(k), LxcKey::Allowed, "{k}");
        }
    }

    #[test]
    fn accepted_with_warning() {
        assert_eq!(
            check("lxc.utsname"),
            LxcKey::Warn("lxc.utsname is deprecated and was renamed to lxc.uts.name".into())
        );
        assert_eq!(
            check("lxc.limit.nofile"),
            LxcKey::Warn("lxc.limit.nofile: lxc.limit.* was renamed to lxc.prlimit.*".into())
        );
        let v1 = check("lxc.cgroup.memory.limit_in_bytes");
        assert!(matches!(v1, LxcKey::Warn(_)) && v1.is_accepted());
        assert_eq!(
            check("lxc.init_cmd").message(100, "lxc.init_cmd", "lxc.init_cmd: /x"),
            Some("vm 100 - lxc.init_cmd is deprecated and was renamed to lxc.init.cmd".into())
        );
    }

    #[test]
    fn rejected_with_proxmox_reason() {
        let r = check("lxc.rootfs.path");
        assert_eq!(
            r,
            LxcKey::Rejected("lxc.rootfs.path is auto generated from rootfs")
        );
        assert!(!r.is_accepted());
        assert_eq!(
            r.message(100, "lxc.rootfs.path", "lxc.rootfs.path: /x"),
            Some("vm 100 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs".into())
        );
        assert!(
            matches!(check("lxc.rootfs.options"), LxcKey::Rejected(m) if m.contains("mount point options"))
        );
    }

    #[test]
    fn unknown_keys() {
        for k in [
            "lxc.environment.foo",
            "lxc.rootfs.backend",
            "lxc.start.foo",
            "lxc.uts.x",
            "lxc.namespace.share.net",
            "lxc.sysctl.net.ipv4.ip_forward",
            "lxc.Init.cmd",
            "lxc.",
            "foo",
        ] {
            assert_eq!(check(k), LxcKey::Unknown, "{k}");
        }
        assert_eq!(
            LxcKey::Unknown.message(7, "lxc.foo", "lxc.foo = 1"),
            Some("vm 7 - unable to parse config: lxc.foo = 1".into())
        );
    }
}
