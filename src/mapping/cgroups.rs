//! `linux.cgroupsPath` -> raw `lxc.cgroup.dir.container`: the CT's own cgroup (its limits, with
//! LXC's inner `ns` below for its processes) is made at the caller's path instead of Proxmox's
//! `lxc/<vmid>`, so that what reads that path (CRI-O, cadvisor, podman) sees the container's
//! usage and limits. Proxmox writes its own `lxc.cgroup.dir.container = lxc/<vmid>` first and the
//! raw keys after it, and LXC keeps the last value (pve-container src/PVE/LXC.pm,
//! `update_lxc_config`); Proxmox finds the cgroup through LXC's command socket afterwards
//! (src/PVE/LXC/Command.pm, `get_cgroup_path`), so `pct set` and its accounting follow.

use oci_spec::runtime::Spec;

use super::{invalid, MapError, Mapper};

pub const CONTAINER_DIR_KEY: &str = "lxc.cgroup.dir.container";

/// Proxmox's own trees: a CT there would collide with another guest's cgroup.
const PROXMOX_TREES: [&str; 2] = ["lxc", "lxc.monitor"];

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let Some(cp) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
    else {
        return Ok(());
    };
    let dir = container_dir(&cp.to_string_lossy())?;
    m.lxc(CONTAINER_DIR_KEY, dir);
    Ok(())
}

/// The directory below each hierarchy's root that `cgroups_path` names, as LXC takes it
/// (relative, no `..`: LXC refuses both), or why it cannot be one.
pub fn container_dir(cgroups_path: &str) -> Result<String, MapError> {
    let field = "linux.cgroupsPath";
    if cgroups_path.chars().any(|c| c.is_control()) {
        return Err(invalid(field, "control characters in the path"));
    }
    let rel = expand(cgroups_path);
    let dir = rel.to_string_lossy().into_owned();
    let parts: Vec<&str> = dir.split('/').collect();
    if dir.is_empty()
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(invalid(
            field,
            format!("{cgroups_path:?} is not a cgroup below the root (empty, `.` or `..` part)"),
        ));
    }
    if PROXMOX_TREES.contains(&parts[0]) {
        return Err(invalid(
            field,
            format!(
                "{cgroups_path:?} is inside Proxmox's own cgroup tree {}/",
                parts[0]
            ),
        ));
    }
    Ok(dir)
}

/// `cgroupsPath` as a path below each hierarchy's root: cgroupfs paths as they are, systemd's
/// `slice:prefix:name` as systemd lays it out (`a-b.slice` lives in `a.slice/a-b.slice`).
pub fn expand(cgroups_path: &str) -> std::path::PathBuf {
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return std::path::PathBuf::from(cgroups_path.trim_start_matches('/'));
    };
    let mut path = std::path::PathBuf::new();
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    if slice != "-.slice" {
        let stem = slice.trim_end_matches(".slice");
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            path.push(format!("{acc}.slice"));
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.join(unit)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn the_ct_cgroup_goes_to_the_callers_path() {
        let m = map_ok(
            &spec_with(r#"{"linux": {"cgroupsPath": "/kubepods/burstable/podX/crio-abc"}}"#),
            &ctx(),
        );
        assert_eq!(
            lxc(&m, CONTAINER_DIR_KEY),
            ["kubepods/burstable/podX/crio-abc"]
        );
        let m = map_ok(
            &spec_with(r#"{"linux": {"cgroupsPath": "kubepods-besteffort-podY.slice:crio:abc"}}"#),
            &ctx(),
        );
        assert_eq!(
            lxc(&m, CONTAINER_DIR_KEY),
            ["kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podY.slice/crio-abc.scope"]
        );
        assert!(lxc(&map_ok(&spec_with("{}"), &ctx()), CONTAINER_DIR_KEY).is_empty());
    }

    #[test]
    fn paths_lxc_or_proxmox_would_not_take_are_refused() {
        for bad in [
            "/",
            "",
            "/a/../b",
            "/a//b",
            "/a/./b",
            "/a/b\nlxc.init.cmd = x",
            "/lxc/100",
            "/lxc.monitor/100",
        ] {
            let json = serde_json::json!({"linux": {"cgroupsPath": bad}}).to_string();
            let e = map_err(&spec_with(&json), &ctx());
            assert!(is_invalid(&e, "linux.cgroupsPath"), "{bad:?}: {e:?}");
        }
        assert_eq!(container_dir("/lxcfoo/a").unwrap(), "lxcfoo/a");
    }
}
