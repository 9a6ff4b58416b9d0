//! `linux.resources.devices` -> raw `lxc.cgroup2.devices.allow`/`deny`.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::super::{invalid, MapError, Mapper};

/// Device cgroup rules. LXC (common.conf) already denies every device but its own allow list
/// (null, zero, full, random, urandom, tty, console, ptmx, pts, fuse, mknod of any): a deny-all
/// rule is therefore that default and writes nothing (writing it would also drop LXC's list).
/// Other rules become `lxc.cgroup2.devices.allow`/`deny` lines in order; a later deny-all drops
/// the rules before it, as it does in the OCI list.
pub(super) fn devices(rules: &[LinuxDeviceCgroup], m: &mut Mapper) -> Result<(), MapError> {
    let mut lines: Vec<(&str, String)> = Vec::new();
    for (i, d) in rules.iter().enumerate() {
        let f = format!("linux.resources.devices[{i}]");
        let access = d.access().as_deref().unwrap_or("rwm");
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(invalid(
                format!("{f}.access"),
                "must be a combination of r, w and m",
            ));
        }
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => "a",
            LinuxDeviceType::B => "b",
            LinuxDeviceType::C | LinuxDeviceType::U => "c",
            LinuxDeviceType::P => {
                m.unsupported(
                    format!("{f}.type"),
                    "the device cgroup has no rules for FIFOs",
                )?;
                continue;
            }
        };
        let num = |n: Option<i64>| {
            n.filter(|n| *n >= 0)
                .map_or("*".to_string(), |n| n.to_string())
        };
        let (major, minor) = (num(d.major()), num(d.minor()));
        let everything = typ == "a" && major == "*" && minor == "*";
        if !d.allow() && everything {
            if ['r', 'w', 'm'].iter().all(|c| access.contains(*c)) {
                lines.clear();
                continue;
            }
            m.unsupported(
                f,
                "a partial deny-all cannot be combined with LXC's device allow list",
            )?;
            continue;
        }
        let key = if d.allow() {
            "lxc.cgroup2.devices.allow"
        } else {
            "lxc.cgroup2.devices.deny"
        };
        let value = if typ == "a" {
            format!("a *:* {access}")
        } else {
            format!("{typ} {major}:{minor} {access}")
        };
        lines.push((key, value));
    }
    for (k, v) in lines {
        m.lxc(k, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::testutil::*;

    #[test]
    fn devices_deny_all_is_lxc_default() {
        let m = map_ok(
            &spec_with(
                r#"{"linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}}"#,
            ),
            &ctx(),
        );
        assert!(m
            .ct
            .lxc
            .iter()
            .all(|(k, _)| !k.starts_with("lxc.cgroup2.devices")));
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn device_rules() {
        let spec = spec_with(
            r#"{"linux": {"resources": {"devices": [{"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "access": "r"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(
            lxc(&m, "lxc.cgroup2.devices.allow"),
            ["c 10:200 rwm", "b 8:* r"]
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.devices.deny"), ["c 1:3 w"]);
        // privileged: allow everything.
        let m = map_ok(
            &spec_with(
                r#"{"linux": {"resources": {"devices": [{"allow": true, "access": "rwm"}]}}}"#,
            ),
            &ctx(),
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.devices.allow"), ["a *:* rwm"]);
        // A later deny-all cancels earlier rules.
        let spec = spec_with(
            r#"{"linux": {"resources": {"devices": [{"allow": true, "type": "c", "major": 1, "minor": 1, "access": "r"},
            {"allow": false, "access": "rwm"}]}}}"#,
        );
        assert!(lxc(&map_ok(&spec, &ctx()), "lxc.cgroup2.devices.allow").is_empty());
        let spec = spec_with(
            r#"{"linux": {"resources": {"devices": [{"allow": false, "access": "m"}]}}}"#,
        );
        assert_unsupported(&spec, &ctx(), "linux.resources.devices[0]");
        let spec =
            spec_with(r#"{"linux": {"resources": {"devices": [{"allow": true, "access": "x"}]}}}"#);
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.resources.devices[0].access"
        ));
    }
}
