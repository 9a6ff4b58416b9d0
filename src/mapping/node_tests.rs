//! The mapping for nodes of Proxmox VE 8.4, 9.0 and 9.1: what each pve-container accepts decides
//! between options and the raw keys that stand for them.

use super::testutil::*;
use super::MapContext;
use crate::pve::version::NodeCaps;

/// pve-container of each release as the runtime takes it (`version::RELEASES`), plus 9.1.x.
const PVE84: &str = "5.0.5";
const PVE90: &str = "6.0.9";
const PVE91: &str = "6.0.15";
const PVE91X: &str = "6.1.10";

fn on(version: &str, c: MapContext) -> MapContext {
    MapContext {
        node: NodeCaps::of_str(version).unwrap(),
        ..c
    }
}

fn privileged(version: &str) -> MapContext {
    let mut c = on(version, ctx());
    c.unprivileged = false;
    c
}

const SHM: &str = r#"{"mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}]}"#;

fn shm_entries(m: &super::Mapped) -> Vec<&str> {
    lxc(m, "lxc.mount.entry")
        .into_iter()
        .filter(|e| e.split_whitespace().nth(1) == Some("dev/shm"))
        .collect()
}

#[test]
fn init_is_the_entrypoint_option_from_91_and_raw_lxc_init_cmd_before() {
    for v in [PVE91, PVE91X] {
        let m = map_ok(&spec_with("{}"), &privileged(v));
        assert_eq!(opt(&m, "entrypoint"), Some(INIT_CT), "{v}");
        assert!(lxc(&m, "lxc.init.cmd").is_empty(), "{v}");
    }
    for v in [PVE84, PVE90] {
        let m = map_ok(&spec_with("{}"), &privileged(v));
        assert_eq!(opt(&m, "entrypoint"), None, "{v}");
        assert_eq!(lxc(&m, "lxc.init.cmd"), [INIT_CT], "{v}");
        // The bind mount of the init is there either way.
        assert!(lxc(&m, "lxc.mount.entry")[0].contains("dev/.proxmox-lxcri-init"));
        assert!(m.warnings.is_empty(), "{v}: {:?}", m.warnings);
    }
}

#[test]
fn process_args_as_raw_lxc_init_cmd_on_older_nodes() {
    let spec = spec_with(r#"{"process": {"args": ["/bin/echo", "a b"], "cwd": "/tmp"}}"#);
    let m = map_ok(&spec, &on(PVE90, loose(entry_ctx())));
    assert_eq!(opt(&m, "entrypoint"), None);
    assert_eq!(lxc(&m, "lxc.init.cmd"), ["/bin/echo 'a b'"]);
    assert_eq!(lxc(&m, "lxc.init.cwd"), ["/tmp"]);
    // Root needs no lxc.init.uid/gid, which Proxmox allows only from 6.1.0.
    assert!(lxc(&m, "lxc.init.uid").is_empty());
    assert!(lxc(&m, "lxc.init.gid").is_empty());
}

#[test]
fn env_is_the_env_key_from_91_and_raw_lxc_environment_before() {
    let spec = spec_with(r#"{"process": {"env": ["A=b c", "PATH=/bin"]}}"#);
    let m = map_ok(&spec, &privileged(PVE91));
    assert_eq!(m.ct.env, ["A=b c", "PATH=/bin"]);
    assert!(lxc(&m, "lxc.environment").is_empty());
    for v in [PVE84, PVE90] {
        let m = map_ok(&spec, &privileged(v));
        assert!(m.ct.env.is_empty(), "{v}");
        assert_eq!(lxc(&m, "lxc.environment"), ["A=b c", "PATH=/bin"], "{v}");
    }
}

#[test]
fn init_user_keys_only_from_610() {
    let spec = spec_with(r#"{"process": {"user": {"uid": 1000, "gid": 10}}}"#);
    let mut c = on(PVE91, entry_ctx());
    c.unprivileged = false;
    let m = assert_unsupported(&spec, &c, "process.user");
    assert!(m.warnings[0]
        .contains("pve-container 6.0.15 does not allow lxc.init.uid/gid/groups (needs 6.1.0)"));
    let m = map_ok(
        &spec,
        &MapContext {
            node: NodeCaps::of_str("6.1.0").unwrap(),
            ..c
        },
    );
    assert_eq!(lxc(&m, "lxc.init.uid"), ["1000"]);
}

#[test]
fn dev_shm_tmpfs_is_written_on_every_node() {
    // From 6.1.10 Proxmox mounts its own; config.json's goes over it, in config.json's order
    // and with its options.
    let spec = spec_with(SHM);
    for v in [PVE84, PVE90, PVE91, PVE91X] {
        let m = map_ok(&spec, &privileged(v));
        assert_eq!(
            shm_entries(&m),
            ["tmpfs dev/shm tmpfs nosuid,noexec,nodev,mode=1777,size=65536k,create=dir 0 0"],
            "{v}"
        );
    }
}

#[test]
fn idmap_passthrough_only_from_616() {
    let spec = spec_with("{}");
    let m = map_ok(&spec, &on("6.1.6", ctx()));
    assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs,idmap=passthrough"));
    for v in [PVE84, PVE90, PVE91] {
        let m = assert_unsupported(&spec, &on(v, ctx()), "root.path");
        assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs"), "{v}");
        assert!(m.warnings[0].contains("has no idmap= mount option (needs 6.1.6)"));
    }
    let spec = spec_with(
        r#"{"mounts": [{"destination": "/data", "type": "bind", "source": "/srv/data"}]}"#,
    );
    let mut c = on(PVE90, loose(ctx()));
    c.bind_kinds
        .insert("/srv/data".into(), super::BindKind::Dir);
    let m = map_ok(&spec, &c);
    assert_eq!(opt(&m, "mp0"), Some("/srv/data,mp=/data"));
    assert!(
        m.warnings
            .iter()
            .any(|w| w
                .starts_with("config.json: mounts[0].source: pve-container 6.0.9 has no idmap="))
    );
    // A privileged CT needs no idmap on any node.
    let m = map_ok(&spec_with("{}"), &privileged(PVE84));
    assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs"));
}
