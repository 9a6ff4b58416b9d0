//! `linux.devices` -> `devN: <path>[,gid=N][,mode=0NNN][,uid=N]` (pve-container
//! src/PVE/LXC/Config.pm, `$dev_desc`).
//!
//! runc creates each listed device node in the container with `mknod`. A Proxmox CT gets a device
//! node only by passthrough: `devN` names a device node *of the host*, which Proxmox recreates at
//! the same path inside the CT (with the given owner and mode) and allows in the CT's device
//! cgroup (read-write). So a device maps when the host has a device node of the same type and
//! number at that path; the host side is looked at by [`host_devices`] before mapping, since the
//! mapping itself never touches the filesystem. Proxmox wants the path below `/dev/` without `.`
//! or `..` components, and a mode of at most `0777`. Everything else is unsupported (an error
//! under `strict`, a warning otherwise), naming the device.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

use super::paths::is_clean;
use super::text::is_propstr_safe;
use super::{invalid, MapError, Mapper};

/// How many `devN` keys Proxmox has (`$MAX_DEVICES`).
const MAX_DEVICES: usize = 256;

/// The mode runc gives a device node when config.json has none.
const DEFAULT_MODE: u32 = 0o666;

/// Device nodes LXC makes in every CT's `/dev` (path, major, minor): listing them is not an error
/// and needs no passthrough (runc's default devices; podman lists some of them).
const LXC_PROVIDED: &[(&str, i64, i64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
    // LXC's own console and the CT's devpts ptmx, never the host's.
    ("/dev/console", 5, 1),
    ("/dev/ptmx", 5, 2),
];

/// A path on the node's host as `stat(2)` (following symlinks, as Proxmox does) saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDevice {
    Char {
        major: u64,
        minor: u64,
    },
    Block {
        major: u64,
        minor: u64,
    },
    /// It exists but is not a device node.
    Other,
}

/// The caller's side of `MapContext::host_devices`: `stat(2)` every `linux.devices[].path` on this
/// host; missing paths are left out, which `map` reports as such.
pub fn host_devices(spec: &Spec) -> BTreeMap<PathBuf, HostDevice> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    list.iter()
        .filter_map(|d| {
            let md = std::fs::metadata(d.path()).ok()?;
            let (major, minor) = (
                nix::sys::stat::major(md.rdev()),
                nix::sys::stat::minor(md.rdev()),
            );
            let kind = if md.file_type().is_char_device() {
                HostDevice::Char { major, minor }
            } else if md.file_type().is_block_device() {
                HostDevice::Block { major, minor }
            } else {
                HostDevice::Other
            };
            Some((d.path().clone(), kind))
        })
        .collect()
}

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut next = 0;
    for (i, d) in list.iter().enumerate() {
        let f = format!("linux.devices[{i}]");
        let Some(value) = device(&f, d, m)? else {
            continue;
        };
        if next == MAX_DEVICES {
            m.unsupported(&f, format!("Proxmox passes at most {MAX_DEVICES} devices"))?;
            continue;
        }
        m.set(&format!("dev{next}"), value);
        next += 1;
    }
    Ok(())
}

/// The `devN` value for one device; `None` when it needs none or cannot have one (non-strict).
fn device(f: &str, d: &LinuxDevice, m: &mut Mapper) -> Result<Option<String>, MapError> {
    let path = d
        .path()
        .to_str()
        .ok_or_else(|| invalid(format!("{f}.path"), "not valid UTF-8"))?;
    let ty = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::P => {
            m.unsupported(
                f,
                format!("{path}: a FIFO cannot be passed through (Proxmox passes character and block devices)"),
            )?;
            return Ok(None);
        }
        LinuxDeviceType::A => {
            return Err(invalid(
                format!("{f}.type"),
                "must be c, u, b or p (a is for cgroup rules)",
            ))
        }
    };
    let (major, minor) = (d.major(), d.minor());
    if major < 0 || minor < 0 {
        return Err(invalid(f, format!("{path}: negative device number")));
    }
    if ty == 'c'
        && LXC_PROVIDED
            .iter()
            .any(|&(p, ma, mi)| p == path && ma == major && mi == minor)
    {
        return Ok(None);
    }
    if !path.starts_with("/dev/") || !is_clean(path) || !is_propstr_safe(path) {
        m.unsupported(
            f,
            format!("{path}: Proxmox passes only paths below /dev/ without . or .. components, commas or quotes"),
        )?;
        return Ok(None);
    }
    if !m.ctx.node.devices {
        m.unsupported(
            f,
            format!(
                "{path}: pve-container {} has no device passthrough (devN needs {}, Proxmox VE 8.1)",
                m.ctx.node.pve_container,
                crate::pve::version::DEVICES
            ),
        )?;
        return Ok(None);
    }
    if let Some(host) = &m.ctx.host_devices {
        let want = format!("{ty} {major}:{minor}");
        let problem = match host.get(&d.path().clone()) {
            None => Some(format!(
                "{path}: no such device on the host (Proxmox passes host devices through)"
            )),
            Some(HostDevice::Other) => Some(format!("{path}: not a device node on the host")),
            Some(HostDevice::Char { major, minor }) if ty != 'c' || !same(*major, *minor, d) => {
                Some(format!(
                    "{path}: the host has c {major}:{minor}, config.json asks {want}"
                ))
            }
            Some(HostDevice::Block { major, minor }) if ty != 'b' || !same(*major, *minor, d) => {
                Some(format!(
                    "{path}: the host has b {major}:{minor}, config.json asks {want}"
                ))
            }
            Some(_) => None,
        };
        if let Some(why) = problem {
            m.unsupported(f, why)?;
            return Ok(None);
        }
    }
    let mode = d.file_mode().map_or(DEFAULT_MODE, |m| m & 0o7777);
    if mode > 0o777 {
        m.unsupported(
            format!("{f}.fileMode"),
            format!("{path}: Proxmox sets only permission bits (0{mode:o} has setuid, setgid or sticky)"),
        )?;
        return Ok(None);
    }
    // Property string: the path, then the optional keys sorted.
    let mut v = path.to_string();
    if let Some(gid) = d.gid().filter(|g| *g != 0) {
        v.push_str(&format!(",gid={gid}"));
    }
    v.push_str(&format!(",mode=0{mode:03o}"));
    if let Some(uid) = d.uid().filter(|u| *u != 0) {
        v.push_str(&format!(",uid={uid}"));
    }
    Ok(Some(v))
}

fn same(major: u64, minor: u64, d: &LinuxDevice) -> bool {
    i64::try_from(major).is_ok_and(|m| m == d.major())
        && i64::try_from(minor).is_ok_and(|m| m == d.minor())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::pve::version::NodeCaps;

    fn fuse_host() -> BTreeMap<PathBuf, HostDevice> {
        [
            (
                PathBuf::from("/dev/fuse"),
                HostDevice::Char {
                    major: 10,
                    minor: 229,
                },
            ),
            (
                PathBuf::from("/dev/sda"),
                HostDevice::Block { major: 8, minor: 0 },
            ),
            (PathBuf::from("/dev/notdev"), HostDevice::Other),
        ]
        .into()
    }

    fn with_host() -> super::super::MapContext {
        let mut c = ctx();
        c.host_devices = Some(fuse_host());
        c
    }

    fn devs(json: &str) -> oci_spec::runtime::Spec {
        spec_with(&format!(r#"{{"linux": {{"devices": {json}}}}}"#))
    }

    #[test]
    fn host_devices_become_dev_entries() {
        let spec = devs(
            r#"[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630, "uid": 0, "gid": 5},
                {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "uid": 1000}]"#,
        );
        let m = map_ok(&spec, &with_host());
        // 8630 = 0o20666: the type bits are dropped, as runc does.
        assert_eq!(opt(&m, "dev0"), Some("/dev/fuse,gid=5,mode=0666"));
        assert_eq!(opt(&m, "dev1"), Some("/dev/sda,mode=0666,uid=1000"));
    }

    #[test]
    fn lxc_provided_devices_need_no_entry() {
        let spec = devs(
            r#"[{"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384}]"#,
        );
        let m = map_ok(&spec, &with_host());
        assert_eq!(opt(&m, "dev0"), Some("/dev/fuse,mode=0600"));
        assert_eq!(opt(&m, "dev1"), None);
    }

    #[test]
    fn devices_the_host_does_not_have() {
        for (json, why) in [
            (
                r#"[{"path": "/dev/nothere", "type": "c", "major": 1, "minor": 1}]"#,
                "no such device on the host",
            ),
            (
                r#"[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 228}]"#,
                "the host has c 10:229, config.json asks c 10:228",
            ),
            (
                r#"[{"path": "/dev/fuse", "type": "b", "major": 10, "minor": 229}]"#,
                "the host has c 10:229, config.json asks b 10:229",
            ),
            (
                r#"[{"path": "/dev/notdev", "type": "c", "major": 1, "minor": 1}]"#,
                "not a device node",
            ),
            (
                r#"[{"path": "/tmp/dev", "type": "c", "major": 1, "minor": 1}]"#,
                "only paths below /dev/",
            ),
            (
                r#"[{"path": "/dev/../x", "type": "c", "major": 1, "minor": 1}]"#,
                "only paths below /dev/",
            ),
            (
                r#"[{"path": "/dev/p", "type": "p", "major": 0, "minor": 0}]"#,
                "a FIFO cannot",
            ),
        ] {
            let spec = devs(json);
            let e = map_err(&spec, &with_host());
            let text = e.to_string();
            assert!(
                text.starts_with("config.json: linux.devices[0]: ") && text.contains(why),
                "{json}: {text}"
            );
            let m = map_ok(&spec, &loose(with_host()));
            assert!(opt(&m, "dev0").is_none(), "{json}");
            assert!(m.warnings.iter().any(|w| w.contains(why)), "{json}");
        }
    }

    #[test]
    fn mode_bits_proxmox_cannot_set() {
        let spec = devs(
            r#"[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 2486}]"#,
        );
        assert_unsupported(&spec, &with_host(), "linux.devices[0].fileMode");
    }

    #[test]
    fn device_type_a_is_invalid() {
        let spec = devs(r#"[{"path": "/dev/fuse", "type": "a"}]"#);
        assert!(is_invalid(
            &map_err(&spec, &loose(with_host())),
            "linux.devices[0].type"
        ));
    }

    #[test]
    fn unchecked_on_a_remote_node() {
        let spec = devs(r#"[{"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232}]"#);
        let mut c = ctx();
        c.host_devices = None;
        assert_eq!(opt(&map_ok(&spec, &c), "dev0"), Some("/dev/kvm,mode=0666"));
    }

    #[test]
    fn node_without_passthrough() {
        let spec = devs(r#"[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]"#);
        let mut c = with_host();
        c.unprivileged = false;
        c.node = NodeCaps::of_str("5.0.4").unwrap();
        let e = map_err(&spec, &c).to_string();
        assert!(
            e.contains("pve-container 5.0.4 has no device passthrough"),
            "{e}"
        );
        // 8.4 has it.
        c.node = NodeCaps::oldest();
        assert!(opt(&map_ok(&spec, &c), "dev0").is_some());
    }
}
