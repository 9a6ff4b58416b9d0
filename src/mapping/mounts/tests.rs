use super::super::testutil::*;
use super::super::{BindKind, MapContext};
use super::PTMX_HOOK;

fn with_kinds(kinds: &[(&str, BindKind)]) -> MapContext {
    let mut c = ctx();
    for (p, k) in kinds {
        c.bind_kinds.insert(p.into(), *k);
    }
    c
}

fn entries(m: &super::super::Mapped) -> Vec<&str> {
    // Skip the init binary's entry.
    lxc(m, "lxc.mount.entry").into_iter().skip(1).collect()
}

#[test]
fn provided_mounts_are_skipped() {
    let spec = spec_with(
        r#"{"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}]}"#,
    );
    let m = map_ok(&spec, &ctx());
    assert!(entries(&m).is_empty());
    assert!(m.warnings.is_empty());
    assert!(lxc(&m, "lxc.pty.max").is_empty(), "LXC's own devpts stays");
}

#[test]
fn mounts_keep_config_order_with_devpts_among_them() {
    // runc's default list plus a tmpfs before /dev/pts and one at the end.
    let spec = spec_with(
        r#"{"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]}"#,
    );
    let m = map_ok(&spec, &ctx());
    let devpts = "devpts dev/pts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5,create=dir 0 0";
    assert_eq!(
        entries(&m),
        [
            "tmpfs run tmpfs nosuid,create=dir 0 0",
            // Twice: LXC detaches the upper one (lxc_finish_devpts_child).
            devpts,
            devpts,
            "tmpfs dev/shm tmpfs nosuid,noexec,nodev,mode=1777,size=65536k,create=dir 0 0",
            "mqueue dev/mqueue mqueue nosuid,noexec,nodev,create=dir,optional 0 0",
            "tmpfs tmp tmpfs create=dir 0 0",
        ]
    );
    assert_eq!(lxc(&m, "lxc.pty.max"), ["0"]);
    assert_eq!(lxc(&m, "lxc.hook.autodev"), [PTMX_HOOK]);
    // The keys about the mount table come after every mount entry.
    let last_entry = m.ct.lxc.iter().rposition(|(k, _)| k == "lxc.mount.entry");
    let pty = m.ct.lxc.iter().position(|(k, _)| k == "lxc.pty.max");
    assert!(last_entry < pty);
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn devpts_elsewhere_is_unsupported() {
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/mnt/pts", "type": "devpts", "source": "devpts"}]}"#,
    );
    assert_unsupported(&spec, &ctx(), "mounts[0]");
}

#[test]
fn directory_bind_becomes_mp() {
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "rprivate", "ro", "nosuid", "nodev"]},
        {"destination": "/logs", "source": "/srv/logs", "options": ["bind"]}]}"#,
    );
    let c = with_kinds(&[("/srv/data", BindKind::Dir), ("/srv/logs", BindKind::Dir)]);
    let m = map_ok(&spec, &c);
    assert_eq!(
        opt(&m, "mp0"),
        Some("/srv/data,mp=/data,idmap=passthrough,mountoptions=nodev;nosuid,ro=1")
    );
    assert_eq!(opt(&m, "mp1"), Some("/srv/logs,mp=/logs,idmap=passthrough"));
    assert!(entries(&m).is_empty());
    let mut c = c;
    c.unprivileged = false;
    assert_eq!(opt(&map_ok(&spec, &c), "mp1"), Some("/srv/logs,mp=/logs"));
}

#[test]
fn bind_sources_are_written_canonical() {
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/data", "type": "bind", "source": "/var/run/d", "options": ["bind"]},
        {"destination": "/etc/f", "type": "bind", "source": "/var/run/f", "options": ["bind"]}]}"#,
    );
    let mut c = with_kinds(&[
        ("/var/run/d", BindKind::Dir),
        ("/var/run/f", BindKind::File),
    ]);
    c.canonical.insert("/var/run/d".into(), "/run/d".into());
    c.canonical.insert("/var/run/f".into(), "/run/f".into());
    let m = map_ok(&spec, &c);
    assert_eq!(opt(&m, "mp0"), Some("/run/d,mp=/data,idmap=passthrough"));
    assert_eq!(entries(&m), ["/run/f etc/f none bind,create=file 0 0"]);
}

#[test]
fn file_bind_becomes_mount_entry() {
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/x/resolv.conf", "options": ["rw", "bind", "nodev", "nosuid", "noexec"]},
        {"destination": "/etc/hostname", "type": "bind", "source": "/run/x/hostname", "options": ["ro", "bind"]}]}"#,
    );
    let c = with_kinds(&[
        ("/run/x/resolv.conf", BindKind::File),
        ("/run/x/hostname", BindKind::File),
    ]);
    let m = map_ok(&spec, &c);
    assert_eq!(
        entries(&m),
        [
            "/run/x/resolv.conf etc/resolv.conf none bind,rw,nodev,nosuid,noexec,create=file 0 0",
            "/run/x/hostname etc/hostname none bind,ro,create=file 0 0"
        ]
    );
    assert!(opt(&m, "mp0").is_none());
}

#[test]
fn unknown_bind_source_is_invalid() {
    let spec =
        spec_with(r#"{"mounts": [{"destination": "/x", "type": "bind", "source": "/gone"}]}"#);
    assert!(is_invalid(&map_err(&spec, &ctx()), "mounts[0].source"));
    let spec = spec_with(r#"{"mounts": [{"destination": "/x", "type": "bind"}]}"#);
    assert!(is_invalid(&map_err(&spec, &ctx()), "mounts[0].source"));
}

#[test]
fn relative_bind_source_is_bundle_relative() {
    let spec =
        spec_with(r#"{"mounts": [{"destination": "/x", "type": "bind", "source": "data"}]}"#);
    let m = map_ok(&spec, &with_kinds(&[("/b/data", BindKind::Dir)]));
    assert_eq!(opt(&m, "mp0"), Some("/b/data,mp=/x,idmap=passthrough"));
}

#[test]
fn directory_binds_that_need_mount_entries() {
    let spec = spec_with(
        r#"{"mounts": [
        {"destination": "/dev/shm", "type": "bind", "source": "/run/shm", "options": ["rw", "bind"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/run/secrets", "type": "bind", "source": "/srv/s", "options": ["bind", "ro"]},
        {"destination": "/with space", "type": "bind", "source": "/srv/a b", "options": ["bind"]},
        {"destination": "/prop", "type": "bind", "source": "/srv/p", "options": ["bind", "rslave"]}]}"#,
    );
    let c = with_kinds(&[
        ("/run/shm", BindKind::Dir),
        ("/srv/s", BindKind::Dir),
        ("/srv/a b", BindKind::Dir),
        ("/srv/p", BindKind::Dir),
    ]);
    let m = map_ok(&spec, &c);
    assert!(opt(&m, "mp0").is_none());
    assert_eq!(
        entries(&m),
        [
            "/run/shm dev/shm none bind,rw,create=dir 0 0",
            "tmpfs run tmpfs nosuid,mode=755,create=dir 0 0",
            "/srv/s run/secrets none bind,ro,create=dir 0 0",
            "/srv/a\\040b with\\040space none bind,create=dir 0 0",
            "/srv/p prop none bind,rslave,create=dir 0 0",
        ]
    );
}

#[test]
fn destinations_with_dotdot_are_invalid() {
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/a/../../etc", "type": "tmpfs", "source": "tmpfs"}]}"#,
    );
    assert!(is_invalid(&map_err(&spec, &ctx()), "mounts[0].destination"));
    let spec =
        spec_with(r#"{"mounts": [{"destination": "/", "type": "tmpfs", "source": "tmpfs"}]}"#);
    assert!(is_invalid(&map_err(&spec, &ctx()), "mounts[0].destination"));
}

#[test]
fn options_that_would_change_the_entry() {
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m,create=dir"]}]}"#,
    );
    assert!(is_invalid(&map_err(&spec, &ctx()), "mounts[0].options[0]"));
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["optional"]}]}"#,
    );
    assert!(is_invalid(&map_err(&spec, &ctx()), "mounts[0].options[0]"));
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/t", "type": "bind", "source": "/s", "options": ["bind", "tmpcopyup"]}]}"#,
    );
    let m = assert_unsupported(
        &spec,
        &with_kinds(&[("/s", BindKind::Dir)]),
        "mounts[0].options[1]",
    );
    assert_eq!(opt(&m, "mp0"), Some("/s,mp=/t,idmap=passthrough"));
}

#[test]
fn other_mount_types_are_unsupported() {
    let spec =
        spec_with(r#"{"mounts": [{"destination": "/mnt", "type": "nfs", "source": "server:/x"}]}"#);
    assert_unsupported(&spec, &ctx(), "mounts[0]");
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/other/proc", "type": "proc", "source": "proc"}]}"#,
    );
    assert_unsupported(&spec, &ctx(), "mounts[0]");
}

#[test]
fn mqueue_follows_the_ipc_namespace() {
    let mq = r#""mounts": [{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}]"#;
    let m = map_ok(&spec_with(&format!("{{{mq}}}")), &ctx());
    assert_eq!(
        entries(&m),
        ["mqueue dev/mqueue mqueue nosuid,noexec,nodev,create=dir,optional 0 0"]
    );
    let joined = spec_with(&format!(
        r#"{{{mq}, "linux": {{"namespaces": [{{"type": "pid"}}, {{"type": "network"}}, {{"type": "ipc", "path": "/proc/1/ns/ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}]}}}}"#
    ));
    assert!(entries(&map_ok(&joined, &ctx())).is_empty());
}

#[test]
fn masked_and_readonly_paths() {
    let spec = spec_with(
        r#"{"linux": {"maskedPaths": ["/proc/kcore", "/sys/firmware"], "readonlyPaths": ["/proc/sys"]}}"#,
    );
    let m = map_ok(&spec, &ctx());
    assert_eq!(
        entries(&m),
        [
            "/dev/null proc/kcore none bind,optional 0 0",
            "tmpfs proc/kcore tmpfs ro,optional 0 0",
            "/dev/null sys/firmware none bind,optional 0 0",
            "tmpfs sys/firmware tmpfs ro,optional 0 0",
            "proc/sys proc/sys none bind,relative,ro,optional 0 0",
        ]
    );
    let spec = spec_with(r#"{"linux": {"maskedPaths": ["/proc/../etc"]}}"#);
    assert!(is_invalid(&map_err(&spec, &ctx()), "linux.maskedPaths[0]"));
}
