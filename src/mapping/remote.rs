//! The mapping for a CT on another node (`ssh` and `api` backends), which gets the bundle's rootfs
//! shipped as a template with our init inside, and runs the workload through `pct exec`. It starts
//! from the local mapping under [`Launch::Init`](super::Launch) and keeps what Proxmox's API keys
//! carry; the process spec (user, cwd, env, rlimits, umask, no_new_privs) travels as arguments of
//! the init's `exec` mode instead of raw `lxc.*` keys, which API tokens cannot set. Pure.

use std::path::PathBuf;

use oci_spec::runtime::{Process, Spec};

use super::bindkinds::bind_sources;
use super::init_args::{exec_options, Extras, Filter};
use super::mounts::PTMX_HOOK;
use super::{MapError, Mapped};
use crate::pve::version::NodeCaps;
use crate::pve::CtConfig;

/// Where the shipped template holds the init: at the top, beside the image's own directories.
pub const INIT_SHIPPED: &str = "/.proxmox-lxcri-init";
/// Where create puts the workload's compiled seccomp filter inside the CT (LXC's /dev tmpfs).
pub const SECCOMP_SHIPPED: &str = "/dev/.proxmox-lxcri-seccomp.bpf";
/// Where the init's `exec` mode records the workload's pid inside the CT (LXC's /dev tmpfs).
pub const WORKLOAD_PID: &str = "/dev/.proxmox-lxcri-workload.pid";

const MEMORY_KEYS: [&str; 3] = [
    "lxc.cgroup2.memory.max",
    "lxc.cgroup2.memory.high",
    "lxc.cgroup2.memory.swap.max",
];

/// What a CT on a remote node is created with.
#[derive(Debug, Clone, Default)]
pub struct Shipped {
    /// API keys only; `rootfs` is left to the backend (`<storage>:<GiB>`).
    pub ct: CtConfig,
    /// Bind mounts, copied into the CT at create: (host source, absolute destination in the CT).
    pub copies: Vec<(PathBuf, String)>,
    /// What the init sets up before the workload runs, as its options: tmpfs and mqueue mounts
    /// (`--mount`), namespaced sysctls (`--sysctl`).
    pub setup: Vec<String>,
    pub warnings: Vec<String>,
}

/// An `lxc.mount.entry` of a tmpfs or mqueue as the init's `--mount TYPE:DEST:FLAGS:DATA`
/// (MS_* flags in hex, the file system's own options as data); LXC's own options go.
pub fn init_mount(typ: &str, dst: &str, opts: &str) -> String {
    let mut flags: u64 = 0;
    let mut data: Vec<&str> = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "noatime" => flags |= libc::MS_NOATIME,
            "nodiratime" => flags |= libc::MS_NODIRATIME,
            "relatime" => flags |= libc::MS_RELATIME,
            "strictatime" => flags |= libc::MS_STRICTATIME,
            "sync" => flags |= libc::MS_SYNCHRONOUS,
            "rw" | "optional" | "defaults" => {}
            o if o.starts_with("create=") => {}
            o => data.push(o),
        }
    }
    format!("{typ}:{dst}:{flags:x}:{}", data.join(","))
}

/// What the mapping for a remote CT may take the node to have: its rootfs is a volume and its
/// binds are copies, never host paths, so the `idmap=` the local mapping writes for them is
/// dropped anyway and a node without it costs nothing.
pub fn node_caps(caps: &NodeCaps) -> NodeCaps {
    NodeCaps {
        idmap_option: true,
        ..caps.clone()
    }
}

/// Which config.json field a raw key came from, for messages.
fn field_of(key: &str) -> &str {
    [
        ("lxc.cap.", "process.capabilities"),
        ("lxc.seccomp.", "linux.seccomp"),
        ("lxc.apparmor.", "process.apparmorProfile"),
        ("lxc.selinux.", "process.selinuxLabel"),
        ("lxc.cgroup2.", "linux.resources"),
        ("lxc.cgroup.", "linux.resources"),
        ("lxc.sysctl.", "linux.sysctl"),
        ("lxc.idmap", "linux.uidMappings"),
        ("lxc.mount.", "mounts"),
    ]
    .iter()
    .find(|(p, _)| key.starts_with(p))
    .map_or(key, |(_, f)| f)
}

/// Turn the local mapping of `spec` (made with `Launch::Init { ct_path: INIT_SHIPPED, .. }`)
/// into what a remote CT can have. Under `strict`, what cannot travel is an error naming the
/// field; otherwise a warning. `root`: the backend is root on the node (`ssh`), so the raw keys
/// an older node needs instead of options (`lxc.init.cmd`, the `/dev/shm` tmpfs) stay in
/// `ct.lxc`, and `devN` passthrough (root@pam only) stays too. `node`: what the node's
/// pve-container does (whether it mounts `/dev/shm` itself).
pub fn adapt(
    spec: &Spec,
    bundle: &std::path::Path,
    mapped: Mapped,
    net0: Option<String>,
    strict: bool,
    root: bool,
    node: &NodeCaps,
) -> Result<Shipped, MapError> {
    let mut out = Shipped {
        warnings: mapped.warnings,
        ..Default::default()
    };
    let mut lost: Vec<(String, String)> = Vec::new();
    let mut lose = |field: String, reason: String| {
        if !lost.iter().any(|(f, _)| *f == field) {
            lost.push((field, reason));
        }
    };
    for (i, ns) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if ns.path().is_some() {
            lose(
                format!("linux.namespaces[{i}].path"),
                "a CT on another node cannot join a namespace of this host".into(),
            );
        }
    }
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.apparmor_profile().as_deref())
        .is_some_and(|p| !p.is_empty())
    {
        lose(
            "process.apparmorProfile".into(),
            "the CT's processes run under Proxmox's own AppArmor profile".into(),
        );
    }
    // The local init is bound in by a mount entry; binds are copied; prlimits travel to `exec`.
    let copies = binds(spec, bundle);
    // runc's masks keep a root workload from the host's /proc and /sys; in a remote CT the
    // user namespace of an unprivileged CT does that, so their loss is only noted.
    let linux = spec.linux().as_ref();
    let masked: Vec<String> = linux
        .and_then(|l| l.masked_paths().clone())
        .into_iter()
        .chain(linux.and_then(|l| l.readonly_paths().clone()))
        .flatten()
        .collect();
    let mut masks_dropped = false;
    let mut unlimited_memory = false;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (k, v) in &mapped.ct.lxc {
        // The init's `exec` mode gets rlimits and env as arguments.
        if k.starts_with("lxc.prlimit.") || k == "lxc.environment" {
            continue;
        }
        // cgroupsPath names this host's cgroup tree, not the node's: the CT keeps Proxmox's.
        if k == super::cgroups::CONTAINER_DIR_KEY {
            continue;
        }
        if k == "lxc.init.cmd" && root {
            kept.push((k.clone(), v.clone()));
            continue;
        }
        // The devpts of config.json's order and the /dev/ptmx link: a remote CT keeps LXC's own
        // devpts (mounted last) and its /dev/ptmx bind, which work the same.
        if (k == "lxc.pty.max" && v == "0") || (k == "lxc.hook.autodev" && v == PTMX_HOOK) {
            continue;
        }
        if k == "lxc.hook.mount" {
            lose(
                "linux.rootfsPropagation".into(),
                format!("needs raw {k}, which a remote CT does not get"),
            );
            continue;
        }
        // The `memory`/`swap` keys carry a limit; "no limit" cannot be said over the API.
        if MEMORY_KEYS.contains(&k.as_str()) {
            unlimited_memory |= v == "max" && !mapped.ct.options.contains_key("memory");
            continue;
        }
        if k == "lxc.mount.entry" {
            let mut f = v.split_whitespace();
            let (_, dst, typ) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
            let dst = format!("/{dst}");
            if typ == "none" && (dst == INIT_SHIPPED || copies.iter().any(|(_, d)| *d == dst)) {
                continue;
            }
            if typ == "devpts" && dst == "/dev/pts" {
                continue;
            }
            if typ == "tmpfs" && dst == "/dev/shm" {
                // From 6.1.10 Proxmox mounts one for an `entrypoint` CT (without config.json's
                // options); the raw entry only adds them, which a remote CT goes without.
                if node.shm_tmpfs && node.entrypoint_env {
                    continue;
                }
                if root {
                    kept.push((k.clone(), v.clone()));
                } else {
                    out.warnings.push("mounts (/dev/shm): not a tmpfs; the node's pve-container mounts none and the API cannot add one (remote node)".into());
                }
                continue;
            }
            if masked.contains(&dst) {
                masks_dropped = true;
                continue;
            }
            if typ == "tmpfs" || typ == "mqueue" {
                out.setup.push("--mount".into());
                out.setup
                    .push(init_mount(typ, &dst, f.next().unwrap_or("")));
                continue;
            }
            lose(
                format!("mounts ({dst})"),
                format!("a {typ} mount needs raw lxc.mount.entry, which the API cannot set"),
            );
            continue;
        }
        lose(
            field_of(k).to_string(),
            format!("needs raw {k}, which a remote CT does not get"),
        );
    }
    // Namespaced: the init writes them in the CT's own namespaces.
    for (k, v) in &mapped.sysctls {
        out.setup.push("--sysctl".into());
        out.setup.push(format!("{k}={v}"));
    }
    if masks_dropped {
        out.warnings.push(
            "linux.maskedPaths, linux.readonlyPaths: not applied; the unprivileged CT's user namespace keeps them from the host (remote node)"
                .into(),
        );
    }
    if unlimited_memory {
        out.warnings.push(
            "linux.resources.memory: no limit given; the CT gets Proxmox's default memory and swap (remote node)"
                .into(),
        );
    }
    for (field, reason) in lost {
        let e = MapError::Unsupported {
            field,
            reason: format!("{reason} (remote node)"),
        };
        if strict {
            return Err(e);
        }
        out.warnings.push(e.to_string());
    }

    let mut ct = mapped.ct;
    if !root && ct.options.keys().any(|k| is_dev_key(k)) {
        let e = MapError::Unsupported {
            field: "linux.devices".into(),
            reason: "Proxmox lets only root@pam configure device passthrough, not an API token (remote node)".into(),
        };
        if strict {
            return Err(e);
        }
        out.warnings.push(e.to_string());
        ct.options.retain(|k, _| !is_dev_key(k));
    }
    ct.lxc = kept;
    ct.env.clear();
    ct.options
        .retain(|k, _| k != "rootfs" && !(k.starts_with("mp") && k[2..].parse::<u32>().is_ok()));
    // Templates are unpacked by an API user, who may not create privileged CTs (Sys.Modify).
    ct.options.insert("unprivileged".into(), "1".into());
    if let Some(n) = net0 {
        ct.options.insert("net0".into(), n);
    }
    out.ct = ct;
    out.copies = copies;
    Ok(out)
}

fn is_dev_key(k: &str) -> bool {
    k.strip_prefix("dev")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Bind mounts of the spec: (source on this host, destination in the CT).
fn binds(spec: &Spec, bundle: &std::path::Path) -> Vec<(PathBuf, String)> {
    let sources = bind_sources(spec, bundle);
    let dests = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|m| super::mounts::is_bind(m))
        .map(|m| m.destination().to_string_lossy().into_owned());
    sources.into_iter().zip(dests).collect()
}

/// The command `pct exec <vmid> --` runs to start `process` in a remote CT: the init's `exec`
/// mode with the process spec as arguments; `seccomp`: the filter's flags when create put one
/// at [`SECCOMP_SHIPPED`]; `setup`: options for what the init sets up first (the container's
/// process only). The CT keeps Proxmox's AppArmor profile (`adapt` says so).
pub fn exec_argv(
    process: &Process,
    pid_file: &str,
    seccomp: Option<u32>,
    setup: &[String],
) -> Vec<String> {
    let mut p = process.clone();
    p.set_apparmor_profile(None);
    let x = Extras {
        pid_file: Some(pid_file.into()),
        setup: setup.to_vec(),
        seccomp: seccomp.map(|_| Filter::Path(SECCOMP_SHIPPED.into())),
        seccomp_flags: seccomp.unwrap_or(0),
        ..Default::default()
    };
    let mut a: Vec<String> = vec![INIT_SHIPPED.into(), "exec".into()];
    a.extend(exec_options(&p, &x));
    a
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{map, Launch};
    use super::*;

    fn remote(patch: &str, strict: bool) -> Result<Shipped, MapError> {
        remote_on(patch, strict, current_node(), false)
    }

    /// On a node of pve-container `node`; `root`: the `ssh` backend.
    fn remote_on(
        patch: &str,
        strict: bool,
        node: NodeCaps,
        root: bool,
    ) -> Result<Shipped, MapError> {
        let spec = spec_with(patch);
        let mut c = ctx();
        c.strict = false;
        c.launch = Launch::Init {
            host_path: INIT_HOST.into(),
            ct_path: INIT_SHIPPED.into(),
        };
        c.bind_kinds = [
            (PathBuf::from("/h/hosts"), super::super::BindKind::File),
            (PathBuf::from("/h/secrets"), super::super::BindKind::Dir),
        ]
        .into();
        c.node = node_caps(&node);
        c.host_devices = None;
        let mapped = map(&spec, &c).expect("local mapping");
        let net = crate::config::NetworkConfig {
            bridge: "vmbr0".into(),
            ip: "dhcp".into(),
            gw: String::new(),
            tag: 12,
        };
        adapt(&spec, &c.bundle, mapped, net.net0(), strict, root, &c.node)
    }

    const SHM: &str = r#"{"mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid"]}],
        "process": {"env": ["A=b"]}, "linux": {"resources": {"memory": {"limit": 268435456}}}}"#;

    #[test]
    fn ssh_keeps_the_raw_keys_an_older_node_needs() {
        let old = NodeCaps::of_str("6.0.9").unwrap();
        let s = remote_on(SHM, true, old.clone(), true).unwrap();
        assert_eq!(s.ct.options.get("entrypoint"), None);
        assert_eq!(
            s.ct.lxc,
            [
                ("lxc.init.cmd".to_string(), INIT_SHIPPED.to_string()),
                (
                    "lxc.mount.entry".to_string(),
                    "tmpfs dev/shm tmpfs nosuid,create=dir 0 0".to_string()
                )
            ]
        );
        assert!(s.ct.env.is_empty(), "env travels to exec");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        // An API token cannot: lxc.init.cmd is lost (the backend refuses such a node first).
        let e = remote_on(SHM, true, old, false).unwrap_err();
        assert!(e.to_string().contains("lxc.init.cmd"), "{e}");
        // 9.1.0: entrypoint, and /dev/shm is only a note over the API.
        let v910 = NodeCaps::of_str("6.0.15").unwrap();
        let s = remote_on(SHM, true, v910, false).unwrap();
        assert!(s.ct.lxc.is_empty());
        assert!(s.warnings[0].starts_with("mounts (/dev/shm): not a tmpfs"));
    }

    #[test]
    fn devpts_order_and_ptmx_stay_local_propagation_private_cannot_travel() {
        let json = r#"{"mounts": [
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "newinstance"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid"]}],
            "linux": {"rootfsPropagation": "rslave", "resources": {"memory": {"limit": 268435456}}}}"#;
        for root in [false, true] {
            // 9.1.x mounts /dev/shm itself: the stacked entry is not needed remotely.
            let s = remote_on(json, true, current_node(), root).unwrap();
            assert!(s.ct.lxc.is_empty(), "{:?}", s.ct.lxc);
            assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        }
        let private = json.replace("rslave", "private");
        let e = remote_on(&private, true, current_node(), true).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config.json: linux.rootfsPropagation: needs raw lxc.hook.mount"),
            "{e}"
        );
        let s = remote_on(&private, false, current_node(), false).unwrap();
        assert!(s.ct.lxc.is_empty());
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    }

    #[test]
    fn devices_pass_over_ssh_not_over_the_api() {
        let dev = r#"{"linux": {"devices": [{"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232}],
            "resources": {"memory": {"limit": 268435456}}}}"#;
        let s = remote_on(dev, true, current_node(), true).unwrap();
        assert_eq!(
            s.ct.options.get("dev0").map(String::as_str),
            Some("/dev/kvm,mode=0666")
        );
        let e = remote_on(dev, true, current_node(), false).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config.json: linux.devices: Proxmox lets only root@pam"),
            "{e}"
        );
        let s = remote_on(dev, false, current_node(), false).unwrap();
        assert!(!s.ct.options.contains_key("dev0"));
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    }

    #[test]
    fn keeps_api_keys_and_ships_binds() {
        let s = remote(
            r#"{"hostname": "web", "mounts": [
                {"destination": "/etc/hosts", "type": "bind", "source": "/h/hosts", "options": ["rbind", "ro"]},
                {"destination": "/run/secrets", "type": "bind", "source": "/h/secrets", "options": ["bind"]}],
                "linux": {"resources": {"memory": {"limit": 268435456}}}}"#,
            true,
        )
        .unwrap();
        let o = &s.ct.options;
        assert_eq!(o.get("hostname").map(String::as_str), Some("web"));
        assert_eq!(o.get("memory").map(String::as_str), Some("256"));
        assert_eq!(o.get("unprivileged").map(String::as_str), Some("1"));
        assert_eq!(o.get("entrypoint").map(String::as_str), Some(INIT_SHIPPED));
        assert_eq!(
            o.get("net0").map(String::as_str),
            Some("name=eth0,bridge=vmbr0,ip=dhcp,tag=12")
        );
        assert!(!o.contains_key("rootfs") && !o.keys().any(|k| k.starts_with("mp")));
        assert!(s.ct.lxc.is_empty() && s.ct.env.is_empty());
        assert_eq!(
            s.copies,
            [
                (PathBuf::from("/h/hosts"), "/etc/hosts".to_string()),
                (PathBuf::from("/h/secrets"), "/run/secrets".to_string())
            ]
        );
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn what_cannot_travel_is_named() {
        let aa = r#"{"process": {"apparmorProfile": "containers-default-0.50.1"}}"#;
        let e = remote(aa, true).unwrap_err();
        assert!(e.to_string().contains("process.apparmorProfile"), "{e}");
        // Capabilities and the seccomp filter travel: the init applies them (init_args).
        let caps = r#"{"process": {"capabilities": {"bounding": ["CAP_CHOWN"]}},
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}}}"#;
        let s = remote(caps, true).unwrap();
        assert!(s.ct.lxc.is_empty(), "{:?}", s.ct.lxc);
        let netns = r#"{"linux": {"namespaces": [{"type": "network", "path": "/run/netns/x"}]}}"#;
        let e = remote(netns, true).unwrap_err();
        assert!(e.to_string().contains("linux.namespaces[0].path"), "{e}");
    }

    #[test]
    fn tmpfs_mqueue_and_sysctls_are_set_up_by_the_init() {
        let s = remote(
            r#"{"mounts": [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "nodev", "size=65536k", "mode=1777"]},
                 {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                  "options": ["nosuid", "noexec", "nodev"]}],
                "linux": {"sysctl": {"net.ipv4.ping_group_range": "0 0"},
                  "resources": {"memory": {"limit": 268435456}}}}"#,
            true,
        )
        .unwrap();
        assert_eq!(
            s.setup,
            [
                "--mount",
                "tmpfs:/scratch:6:size=65536k,mode=1777",
                "--mount",
                "mqueue:/dev/mqueue:e:",
                "--sysctl",
                "net.ipv4.ping_group_range=0 0"
            ]
        );
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn masked_paths_are_a_note_not_a_refusal() {
        let s = remote(
            r#"{"linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
                "resources": {"memory": {"limit": 268435456}}}}"#,
            true,
        )
        .unwrap();
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("linux.maskedPaths"));
    }

    #[test]
    fn rlimits_travel_to_exec_not_as_raw_keys() {
        let s = remote(
            r#"{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}]}}"#,
            true,
        )
        .unwrap();
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("Proxmox's default memory"));
    }

    #[test]
    fn exec_argv_carries_the_process_spec() {
        let spec = spec_with(
            r#"{"process": {"args": ["sh", "-c", "echo $A; x"], "cwd": "/w", "env": ["A=1 2"],
                "user": {"uid": 7, "gid": 8, "additionalGids": [9, 10], "umask": 18},
                "noNewPrivileges": true,
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}]}}"#,
        );
        let argv = exec_argv(spec.process().as_ref().unwrap(), WORKLOAD_PID, None, &[]);
        assert_eq!(
            argv,
            [
                INIT_SHIPPED,
                "exec",
                "--pid-file",
                WORKLOAD_PID,
                "--rlimit",
                "7:1024:2048",
                "--umask",
                "22",
                "--groups",
                "9,10",
                "--gid",
                "8",
                "--uid",
                "7",
                "--cwd",
                "/w",
                "--env",
                "A=1 2",
                "--nnp",
                "--",
                "sh",
                "-c",
                "echo $A; x"
            ]
        );
    }
}
