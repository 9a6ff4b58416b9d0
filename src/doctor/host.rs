//! Checks of this host: the init binary, the state root, and for the `pct` backend (where this
//! host is the node) subuid/subgid, AppArmor and lxcfs.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Check;
use crate::config::Config;

/// The range an unprivileged Proxmox CT maps its ids to (pve-container src/PVE/LXC.pm: the
/// default `lxc.idmap` is `u 0 100000 65536` and `g 0 100000 65536`).
pub const SUBID_FIRST: u64 = 100_000;
pub const SUBID_COUNT: u64 = 65_536;

/// Whether `text` (an `/etc/subuid` or `/etc/subgid`) gives `user` the whole default range.
pub fn subid_covers(text: &str, user: &str) -> bool {
    text.lines().any(|l| {
        let mut f = l.trim().split(':');
        let (Some(name), Some(first), Some(count)) = (f.next(), f.next(), f.next()) else {
            return false;
        };
        let (Ok(first), Ok(count)) = (first.parse::<u64>(), count.parse::<u64>()) else {
            return false;
        };
        name == user && first <= SUBID_FIRST && first + count >= SUBID_FIRST + SUBID_COUNT
    })
}

/// `root:100000:65536` in `/etc/subuid` and `/etc/subgid` when CTs are unprivileged.
pub fn subids(cfg: &Config) -> Vec<Check> {
    if !cfg.unprivileged {
        return vec![Check::ok(
            "subuid/subgid",
            "not needed: unprivileged = false",
        )];
    }
    ["/etc/subuid", "/etc/subgid"]
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            subid_check(file, &text)
        })
        .collect()
}

fn subid_check(file: &str, text: &str) -> Check {
    let name = file.trim_start_matches("/etc/");
    if subid_covers(text, "root") {
        Check::ok(
            name,
            format!("{file} maps root to {SUBID_FIRST}+{SUBID_COUNT}"),
        )
    } else {
        Check::fail(
            name,
            format!("{file} has no root:{SUBID_FIRST}:{SUBID_COUNT} entry for unprivileged CTs"),
            format!("append the line 'root:{SUBID_FIRST}:{SUBID_COUNT}' to {file}"),
        )
    }
}

/// The profile `lxc-start` itself runs under on a node (lxc's own AppArmor profiles). It lets
/// `lxc-start` switch a CT only to `lxc-*` profiles or `unconfined`; Proxmox gives every CT the
/// profile LXC generates at start (`lxc.apparmor.profile = generated`, pve-container
/// src/PVE/LXC.pm), so nothing else needs to be loaded for CTs to start.
const LXC_START_PROFILE: &str = "/usr/bin/lxc-start";

/// The AppArmor line for the host's state as `crate::apparmor::host_state` reads it (`profiles`:
/// the loaded profiles' list, `None` if unreadable). Information only: no AppArmor state keeps a
/// CT from starting; `create` decides about the OCI profile.
pub fn apparmor(on: bool, profiles: Option<&str>) -> Check {
    if !on {
        return Check::info(
            "apparmor",
            "not enabled on this host: CTs and workloads run without AppArmor confinement and process.apparmorProfile is not applied",
        );
    }
    let confined = profiles.map(|p| {
        p.lines()
            .any(|l| l.split_whitespace().next() == Some(LXC_START_PROFILE))
    });
    match confined {
        Some(true) => Check::ok(
            "apparmor",
            format!("enabled; lxc-start confined ({LXC_START_PROFILE}): CTs get Proxmox's generated profile, an OCI profile applies to the workload"),
        ),
        Some(false) => Check::info(
            "apparmor",
            format!("enabled; lxc-start's profile {LXC_START_PROFILE} is not loaded, so it runs unconfined"),
        ),
        None => Check::info(
            "apparmor",
            "enabled; the loaded profiles cannot be read (/sys/kernel/security/apparmor/profiles)",
        ),
    }
}

pub fn apparmor_here() -> Check {
    let (on, profiles) = crate::apparmor::host_state();
    apparmor(on, profiles.as_deref())
}

/// lxcfs's include for every CT; its post-stop hook only sleeps.
const LXCFS_CONF: &str = "/usr/share/lxc/config/common.conf.d/00-lxcfs.conf";

/// The lxcfs decision from the include's text (`None`: not installed).
pub fn lxcfs(conf: Option<&str>) -> Check {
    let hook = conf.and_then(|t| {
        t.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == "lxc.hook.post-stop")
            .map(|(_, v)| v.trim().to_string())
    });
    match hook {
        Some(h) => Check::info(
            "lxcfs",
            format!("{LXCFS_CONF} adds the post-stop hook {h} (a 0.5 s sleep): about 0.5 s more per CT stop"),
        ),
        None => Check::ok("lxcfs", "no lxcfs post-stop hook: CTs stop without its delay"),
    }
}

pub fn lxcfs_here() -> Check {
    lxcfs(std::fs::read_to_string(LXCFS_CONF).ok().as_deref())
}

/// From an ELF header and program headers: `Some(true)` when there is no `PT_INTERP` (static),
/// `None` when `data` is no 64-bit little-endian ELF file.
pub fn elf_is_static(data: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(data.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(32)?).ok()?;
    let phentsize = usize::from(u16_at(54)?);
    let phnum = usize::from(u16_at(56)?);
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// The init beside the runtime (or `init_path`) exists, is executable and static.
pub fn init_binary(cfg: &Config, config_path: &str) -> Check {
    let path = cfg.init_binary();
    let name = "init binary";
    let place = format!(
        "install proxmox-lxcri-init beside the runtime (install -m 755 target/release/proxmox-lxcri-init {}) or set init_path in {config_path}",
        path.parent().unwrap_or(Path::new("/")).display()
    );
    let meta = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Check::fail(name, format!("{} is not a file", path.display()), place),
        Err(e) => return Check::fail(name, format!("{}: {e}", path.display()), place),
    };
    if meta.permissions().mode() & 0o111 == 0 {
        return Check::fail(
            name,
            format!("{} is not executable", path.display()),
            format!("chmod 755 {}", path.display()),
        );
    }
    let mut head = vec![0u8; 64 * 1024];
    let n = std::fs::File::open(&path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head.truncate(n);
    match elf_is_static(&head) {
        Some(true) => Check::ok(name, format!("{} (static, executable)", path.display())),
        Some(false) => Check::fail(
            name,
            format!("{} is dynamically linked: it cannot run inside a CT", path.display()),
            "build it as the workspace does (cargo build --release -p proxmox-lxcri-init) and install that binary",
        ),
        None => Check::fail(
            name,
            format!("{} is not a 64-bit ELF executable", path.display()),
            place,
        ),
    }
}

/// The state root is writable (or can be created).
pub fn state_root(root: &Path) -> Check {
    let name = "state root";
    let fix = format!(
        "make {} writable for the runtime's user, or pass --root DIR",
        root.display()
    );
    if root.is_dir() {
        let probe = root.join(format!(".doctor-{}", std::process::id()));
        return match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                Check::ok(name, format!("{} is writable", root.display()))
            }
            Err(e) => Check::fail(name, format!("{}: {e}", root.display()), fix),
        };
    }
    let parent = root.ancestors().skip(1).find(|p| p.exists());
    match parent {
        Some(p) if p.is_dir() && nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok() => {
            Check::ok(
                name,
                format!("{} will be created (in {})", root.display(), p.display()),
            )
        }
        _ => Check::fail(
            name,
            format!("{} does not exist and cannot be created", root.display()),
            fix,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_ranges() {
        assert!(subid_covers("root:100000:65536\n", "root"));
        assert!(subid_covers("x:1:2\nroot:0:1000000\n", "root"));
        assert!(!subid_covers("root:100000:1000\n", "root"));
        assert!(!subid_covers("lxc:100000:65536\n", "root"));
        assert!(!subid_covers("", "root"));
        let c = subid_check("/etc/subgid", "");
        assert_eq!(
            c.fix.as_deref(),
            Some("append the line 'root:100000:65536' to /etc/subgid")
        );
    }

    #[test]
    fn apparmor_decisions() {
        // Not enabled (this machine): information, not a failure.
        assert_eq!(apparmor(false, None).level, super::super::Level::Info);
        let loaded = "/usr/bin/lxc-start (enforce)\nother (complain)\n";
        assert_eq!(apparmor(true, Some(loaded)).level, super::super::Level::Ok);
        // Nothing about AppArmor keeps a CT from starting: never a failure.
        let c = apparmor(true, Some("other (enforce)\n"));
        assert_eq!(c.level, super::super::Level::Info);
        assert!(c.detail.contains("unconfined"), "{}", c.detail);
    }

    #[test]
    fn lxcfs_delay_is_information() {
        let c = lxcfs(Some(
            "lxc.hook.mount = /usr/share/lxcfs/lxc.mount.hook\nlxc.hook.post-stop = /usr/share/lxcfs/lxc.reboot.hook\n",
        ));
        assert!(c.ok && c.detail.contains("0.5 s") && c.detail.contains("lxc.reboot.hook"));
        assert_eq!(lxcfs(None).level, super::super::Level::Ok);
    }

    #[test]
    fn static_and_dynamic_elf() {
        // A header with one PT_LOAD program header (type 1) at offset 64: static.
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(elf_is_static(&elf), Some(true));
        elf[64..68].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(elf_is_static(&elf), Some(false));
        let sh = std::fs::read("/bin/sh").unwrap();
        assert_eq!(elf_is_static(&sh), Some(false));
        assert_eq!(elf_is_static(b"#!/bin/sh\n"), None);
    }
}
