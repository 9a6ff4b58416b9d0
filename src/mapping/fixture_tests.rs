//! The real config.json files of tests/fixtures (captured from CRI-O and podman, see its README),
//! mapped in full: every CT key, in strict and non-strict mode, under both launches.

use std::collections::BTreeMap;

use oci_spec::runtime::Spec;
use serde_json::Value;

use super::testutil::*;
use super::{BindKind, MapContext, Mapped};

const CRIO_SANDBOX: &str = include_str!("../../tests/fixtures/crio-1.32-sandbox.config.json");
const CRIO_CONTAINER: &str = include_str!("../../tests/fixtures/crio-1.32-container.config.json");
const PODMAN_RUN: &str = include_str!("../../tests/fixtures/podman-4.3-run.config.json");
const PODMAN_INFRA: &str = include_str!("../../tests/fixtures/podman-4.3-pod-infra.config.json");
const PODMAN_MEMBER: &str = include_str!("../../tests/fixtures/podman-4.3-pod-member.config.json");

const SANDBOX_ID: &str = "29026577e6dde8cb5e1aa10968f23caca917a176534fc40dc242f2c658df416d";
const PODMAN_INFRA_ID: &str = "3ff2682d3768d4dbcbcc72bb271307344f46d4d49b6ba1a2e2466d962824f3fd";
const PODMAN_MEMBER_ID: &str = "2991debda72d18ee59ee4de24283ca100fff3f2b3041da200b4f40d5632a913e";
const PODMAN_RUN_ID: &str = "66aecb6863b6fce45598d97dbcd207e98563325c7b874f92c4f7ba5f47c9d130";
const SA_VOLUME: &str = "/var/lib/kubelet/pods/8a1c0f0e-webpod-uid/volumes/kubernetes.io~projected/kube-api-access-7x2kq";

/// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE, as bits.
const CRIO_CAPS: u64 = 0x5fb;
/// The same and SYS_CHROOT, SETFCAP.
const PODMAN_CAPS: u64 = 0x8004_05fb;
const PODMAN_MASKED: &[&str] = &[
    "proc/acpi",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/fs/selinux",
    "sys/dev/block",
];
const PODMAN_READONLY: &[&str] = &[
    "proc/asound",
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// The capability sets reach the init as masks (`--caps BND:PRM:EFF:INH:AMB`), not as CT keys.
#[test]
fn capabilities_travel_to_the_init() {
    for (text, want) in [(CRIO_CONTAINER, CRIO_CAPS), (PODMAN_RUN, PODMAN_CAPS)] {
        let spec = load(text);
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let masks = super::init_args::cap_masks(&caps);
        let bounding = masks.split(':').next().unwrap();
        assert_eq!(u64::from_str_radix(bounding, 16).unwrap(), want, "{masks}");
    }
}

fn load(text: &str) -> Spec {
    serde_json::from_str(text).expect("fixture parses")
}

/// `text` with a JSON edit applied.
fn edited(text: &str, edit: impl FnOnce(&mut Value)) -> Spec {
    let mut v: Value = serde_json::from_str(text).unwrap();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

/// The context the runtime builds: what `bind_kinds` would find on the capture machine (the
/// userdata files are files, shm and the service-account volume are directories).
fn fixture_ctx(spec: &Spec, id: &str) -> MapContext {
    let mut c = ctx();
    c.id = id.into();
    for p in super::bind_sources(spec, &c.bundle) {
        let name = p.file_name().unwrap().to_str().unwrap();
        let kind = match name {
            "resolv.conf" | "hostname" | "hosts" | ".containerenv" => BindKind::File,
            _ => BindKind::Dir,
        };
        c.bind_kinds.insert(p, kind);
    }
    c
}

fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn raw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn entry(v: impl Into<String>) -> (String, String) {
    ("lxc.mount.entry".to_string(), v.into())
}

/// The fixture's `linux.cgroupsPath` as the CT's cgroup (src/mapping/cgroups.rs).
fn cgroup_dir(dir: impl Into<String>) -> (String, String) {
    ("lxc.cgroup.dir.container".into(), dir.into())
}

fn init_entry() -> (String, String) {
    entry(format!(
        "{INIT_HOST} dev/.proxmox-lxcri-init none bind,ro,create=file 0 0"
    ))
}

/// config.json's devpts in its place (twice: LXC drops the upper one) and the keys that hand
/// /dev/pts and /dev/ptmx to it (CRI-O and podman send the same options).
fn devpts_entries() -> Vec<(String, String)> {
    let e = entry("devpts dev/pts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5,create=dir 0 0");
    vec![e.clone(), e]
}

fn pty_keys() -> Vec<(String, String)> {
    raw(&[
        ("lxc.pty.max", "0"),
        ("lxc.hook.autodev", super::mounts::PTMX_HOOK),
    ])
}

fn podman_masks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in PODMAN_MASKED {
        out.push(entry(format!("/dev/null {p} none bind,optional 0 0")));
        out.push(entry(format!("tmpfs {p} tmpfs ro,optional 0 0")));
    }
    for p in PODMAN_READONLY {
        out.push(entry(format!("{p} {p} none bind,relative,ro,optional 0 0")));
    }
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Strict and non-strict give the same result when nothing is unsupported.
fn map_both(spec: &Spec, c: &MapContext) -> Mapped {
    let strict = map_ok(spec, c);
    let lax = map_ok(spec, &loose(c.clone()));
    assert_eq!(strict.ct, lax.ct);
    assert_eq!(strict.warnings, lax.warnings);
    assert_eq!(strict.seccomp, lax.seccomp);
    assert_eq!(strict.sysctls, lax.sysctls);
    assert_eq!(strict.readonly_root, lax.readonly_root);
    strict
}

#[test]
fn crio_sandbox() {
    let spec = load(CRIO_SANDBOX);
    let m = map_both(&spec, &fixture_ctx(&spec, SANDBOX_ID));
    let userdata = format!("/run/containers/storage/overlay-containers/{SANDBOX_ID}/userdata");
    assert_eq!(
        m.ct.description,
        format!(
            "proxmox-lxcri id: {SANDBOX_ID}\n{OWNER_LINES}\nio.kubernetes.pod.name: webpod\nio.kubernetes.pod.namespace: shop\n\
             io.kubernetes.cri-o.SandboxID: {SANDBOX_ID}\nio.kubernetes.cri-o.ContainerType: sandbox"
        )
    );
    assert_eq!(
        m.ct.options,
        options(&[
            ("arch", "amd64"),
            ("cmode", "console"),
            ("cpuunits", "1"), // shares 2
            ("entrypoint", INIT_CT),
            ("hostname", "webpod-pod"), // UTS joined by path: named after pod and container
            ("ostype", "unmanaged"),
            (
                "rootfs",
                "/var/lib/containers/storage/overlay/065b10af2df07b21d4168200e499751a2fbac7f5c4cb70ba50423bbeac26c586/merged,idmap=passthrough"
            ),
            ("tags", "proxmox-lxcri"),
            ("tty", "0"),
            ("unprivileged", "1"),
        ])
    );
    assert_eq!(
        m.ct.env,
        strings(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"
        ])
    );
    let mut expected = raw(&[
        ("lxc.cgroup2.memory.max", "max"),
        ("lxc.cgroup2.memory.high", "max"),
        ("lxc.cgroup2.memory.swap.max", "max"),
    ]);
    expected.push(cgroup_dir(format!(
        "kubepods/burstable/pod8a1c0f0e/crio-{SANDBOX_ID}"
    )));
    expected.push(init_entry());
    expected.extend(devpts_entries());
    expected.push(entry(format!(
        "{userdata}/resolv.conf etc/resolv.conf none bind,ro,nodev,nosuid,noexec,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/shm dev/shm none bind,rw,create=dir 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/hostname etc/hostname none bind,ro,nodev,nosuid,noexec,create=file 0 0"
    )));
    expected.extend(pty_keys());
    assert_eq!(m.ct.lxc, expected);
    assert!(m.warnings.is_empty());
    // Read-only root: remounted by our init after the mount targets exist (no /etc in pause).
    assert!(m.readonly_root);
    assert!(m.seccomp.is_none());
    assert!(m.sysctls.is_empty());
}

#[test]
fn crio_container() {
    let spec = load(CRIO_CONTAINER);
    let id = "eb8058acf0cff14e8bad53ec317819a8d9c623d6465ba0203eefcf08163adcb2";
    let m = map_both(&spec, &fixture_ctx(&spec, id));
    let userdata = format!("/run/containers/storage/overlay-containers/{SANDBOX_ID}/userdata");
    assert_eq!(
        m.ct.description,
        format!(
            "proxmox-lxcri id: {id}\n{OWNER_LINES}\nio.kubernetes.cri-o.SandboxID: {SANDBOX_ID}\nio.kubernetes.cri-o.ContainerType: container"
        )
    );
    let mp0 = format!(
        "{SA_VOLUME},mp=/var/run/secrets/kubernetes.io/serviceaccount,idmap=passthrough,ro=1"
    );
    assert_eq!(
        m.ct.options,
        options(&[
            ("arch", "amd64"),
            ("cmode", "console"),
            ("cpulimit", "0.5"), // 50000/100000
            ("cpuunits", "20"),  // shares 512
            ("entrypoint", INIT_CT),
            ("hostname", "webpod-web"),
            ("memory", "256"), // 268435456 bytes
            ("mp0", &mp0),     // the k8s projected volume: a directory, read-only rbind
            ("ostype", "unmanaged"),
            (
                "rootfs",
                "/var/lib/containers/storage/overlay/98377ff426cb7048f75a5cb02ee5c7cc709192735a8a18420a1a73814751cdb2/merged,idmap=passthrough"
            ),
            ("swap", "0"), // swap == limit
            ("tags", "proxmox-lxcri"),
            ("tty", "0"),
            ("unprivileged", "1"),
        ])
    );
    assert_eq!(
        m.ct.env,
        strings(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
            "HOSTNAME=webpod",
            "MODE=prod",
            "GREETING=hello world",
        ])
    );
    // pids.limit -1: nothing; the pid namespace path is the infra's (accepted, resolved by the caller).
    let mut expected = raw(&[]);
    expected.push(cgroup_dir("kubepods/burstable/pod8a1c0f0e/crio-eb8058acf0cff14e8bad53ec317819a8d9c623d6465ba0203eefcf08163adcb2"));
    expected.push(init_entry());
    expected.extend(devpts_entries());
    expected.push(entry(format!(
        "{userdata}/shm dev/shm none bind,rw,create=dir 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/resolv.conf etc/resolv.conf none bind,rw,nodev,nosuid,noexec,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/hostname etc/hostname none bind,rw,create=file 0 0"
    )));
    expected.push(entry(format!(
        "/var/lib/containers/storage/overlay-containers/{SANDBOX_ID}/userdata/.containerenv run/.containerenv none bind,rw,create=file 0 0"
    )));
    expected.extend(pty_keys());
    assert_eq!(m.ct.lxc, expected);
    assert!(m.warnings.is_empty());
    assert!(!m.readonly_root);
    assert!(m.seccomp.is_none());
    assert!(m.sysctls.is_empty());
}

fn podman_seccomp_checks(profile: &str) {
    let lines: Vec<&str> = profile.lines().collect();
    assert_eq!(&lines[..3], ["2", "allowlist errno 38", "[all]"]);
    for l in [
        "read allow",
        "kexec_load errno 1",
        "setns errno 1",
        "personality allow [0,4294967295,SCMP_CMP_EQ]",
        "socket errno 22 [0,16,SCMP_CMP_EQ] [2,9,SCMP_CMP_EQ]",
        "socket allow [2,9,SCMP_CMP_NE]",
        "arch_prctl allow",
    ] {
        assert!(lines.contains(&l), "{l}");
    }
    // Every line after the header carries an explicit action.
    assert!(lines[3..]
        .iter()
        .all(|l| l.contains(" allow") || l.contains(" errno ")));
}

#[test]
fn podman_run() {
    let spec = load(PODMAN_RUN);
    let m = map_both(&spec, &fixture_ctx(&spec, PODMAN_RUN_ID));
    let userdata = format!("/run/containers/storage/overlay-containers/{PODMAN_RUN_ID}/userdata");
    assert_eq!(
        m.ct.description,
        format!("proxmox-lxcri id: {PODMAN_RUN_ID}\n{OWNER_LINES}")
    );
    assert_eq!(
        m.ct.options,
        options(&[
            ("arch", "amd64"),
            ("cmode", "console"),
            ("entrypoint", INIT_CT),
            ("hostname", "66aecb6863b6"),
            ("ostype", "unmanaged"),
            (
                "rootfs",
                "/var/lib/containers/storage/overlay/cbe64af55a75ac7124ac6150ad2063df27f97977e92c79ca29a5d0cfde5a7499/merged,idmap=passthrough"
            ),
            ("tags", "proxmox-lxcri"),
            ("tty", "0"),
            ("unprivileged", "1"),
        ])
    );
    assert_eq!(
        m.ct.env,
        strings(&[
            "TERM=xterm",
            "container=podman",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=66aecb6863b6",
        ])
    );
    let mut expected = raw(&[
        ("lxc.prlimit.nofile", "20000:20000"),
        ("lxc.prlimit.nproc", "32768:32768"),
        ("lxc.cgroup2.memory.max", "max"),
        ("lxc.cgroup2.memory.high", "max"),
        ("lxc.cgroup2.memory.swap.max", "max"),
        ("lxc.cgroup2.pids.max", "2048"),
    ]);
    expected.push(cgroup_dir(format!("libpod_parent/libpod-{PODMAN_RUN_ID}")));
    expected.push(init_entry());
    expected.extend(devpts_entries());
    expected.push(entry(
        "mqueue dev/mqueue mqueue nosuid,noexec,nodev,create=dir,optional 0 0",
    ));
    expected.push(entry(format!(
        "{userdata}/hosts etc/hosts none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "/var/lib/containers/storage/overlay-containers/{PODMAN_RUN_ID}/userdata/shm dev/shm none bind,rprivate,nosuid,noexec,nodev,create=dir 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/.containerenv run/.containerenv none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/hostname etc/hostname none bind,rprivate,create=file 0 0"
    )));
    expected.extend(podman_masks());
    expected.extend(pty_keys());
    assert_eq!(m.ct.lxc, expected);
    assert!(m.warnings.is_empty());
    // Always sent by podman; no raw key can carry it, so the shim sets it.
    assert_eq!(
        m.sysctls,
        BTreeMap::from([("net.ipv4.ping_group_range".to_string(), "0 0".to_string())])
    );
    podman_seccomp_checks(m.seccomp.as_deref().unwrap());
    assert!(!m.readonly_root);
}

#[test]
fn podman_pod_infra() {
    let spec = load(PODMAN_INFRA);
    let m = map_both(&spec, &fixture_ctx(&spec, PODMAN_INFRA_ID));
    let userdata = format!("/run/containers/storage/overlay-containers/{PODMAN_INFRA_ID}/userdata");
    // No ContainerType annotation: only the id.
    assert_eq!(
        m.ct.description,
        format!("proxmox-lxcri id: {PODMAN_INFRA_ID}\n{OWNER_LINES}")
    );
    assert_eq!(opt(&m, "hostname"), Some("fxpod"));
    assert_eq!(m.ct.options.len(), 9);
    let mut expected = raw(&[
        ("lxc.prlimit.nofile", "20000:20000"),
        ("lxc.prlimit.nproc", "32768:32768"),
        ("lxc.cgroup2.memory.max", "max"),
        ("lxc.cgroup2.memory.high", "max"),
        ("lxc.cgroup2.memory.swap.max", "max"),
    ]);
    expected.push(cgroup_dir(format!("libpod_parent/93d2f672c745c50d4b759752777d8e9c84261347968da26d9e205c1fd185dea6/libpod-{PODMAN_INFRA_ID}")));
    expected.push(init_entry());
    expected.extend(devpts_entries());
    // ipc is the infra's own: /dev/mqueue can be mounted.
    expected.push(entry(
        "mqueue dev/mqueue mqueue nosuid,noexec,nodev,create=dir,optional 0 0",
    ));
    expected.push(entry(format!(
        "{userdata}/resolv.conf etc/resolv.conf none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/hosts etc/hosts none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "/var/lib/containers/storage/overlay-containers/{PODMAN_INFRA_ID}/userdata/shm dev/shm none bind,rprivate,nosuid,noexec,nodev,create=dir 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/.containerenv run/.containerenv none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{userdata}/hostname etc/hostname none bind,rprivate,create=file 0 0"
    )));
    expected.extend(podman_masks());
    expected.extend(pty_keys());
    assert_eq!(m.ct.lxc, expected);
    assert!(m.warnings.is_empty());
    assert_eq!(m.sysctls.len(), 1);
    podman_seccomp_checks(m.seccomp.as_deref().unwrap());
}

#[test]
fn podman_pod_member() {
    let spec = load(PODMAN_MEMBER);
    let m = map_both(&spec, &fixture_ctx(&spec, PODMAN_MEMBER_ID));
    let infra = format!("/run/containers/storage/overlay-containers/{PODMAN_INFRA_ID}/userdata");
    let own = format!("/run/containers/storage/overlay-containers/{PODMAN_MEMBER_ID}/userdata");
    assert_eq!(
        m.ct.description,
        format!(
            "proxmox-lxcri id: {PODMAN_MEMBER_ID}\n{OWNER_LINES}\nio.kubernetes.cri-o.SandboxID: {PODMAN_INFRA_ID}\n\
             io.kubernetes.cri-o.ContainerType: container"
        )
    );
    // No hostname in config.json: the pod's UTS namespace (joined by path) has it.
    assert_eq!(opt(&m, "hostname"), None);
    assert_eq!(m.ct.options.len(), 8);
    let mut expected = raw(&[
        ("lxc.prlimit.nofile", "20000:20000"),
        ("lxc.prlimit.nproc", "32768:32768"),
        ("lxc.cgroup2.memory.max", "max"),
        ("lxc.cgroup2.memory.high", "max"),
        ("lxc.cgroup2.memory.swap.max", "max"),
        ("lxc.cgroup2.pids.max", "2048"),
    ]);
    expected.push(cgroup_dir(format!("libpod_parent/93d2f672c745c50d4b759752777d8e9c84261347968da26d9e205c1fd185dea6/libpod-{PODMAN_MEMBER_ID}")));
    expected.push(init_entry());
    expected.extend(devpts_entries());
    // ipc joined by path (/proc/<infra>/ns/ipc): no /dev/mqueue of the wrong namespace.
    expected.push(entry(format!(
        "{infra}/resolv.conf etc/resolv.conf none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{infra}/hosts etc/hosts none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "/var/lib/containers/storage/overlay-containers/{PODMAN_INFRA_ID}/userdata/shm dev/shm none bind,rprivate,nosuid,noexec,nodev,create=dir 0 0"
    )));
    expected.push(entry(format!(
        "{own}/.containerenv run/.containerenv none bind,rprivate,create=file 0 0"
    )));
    expected.push(entry(format!(
        "{own}/hostname etc/hostname none bind,rprivate,create=file 0 0"
    )));
    expected.extend(podman_masks());
    expected.extend(pty_keys());
    assert_eq!(m.ct.lxc, expected);
    assert!(m.warnings.is_empty());
    assert!(m.sysctls.is_empty());
    podman_seccomp_checks(m.seccomp.as_deref().unwrap());
}

/// fixtures/README trap 1: hostPID (no `pid` entry) cannot be honoured by a CT.
#[test]
fn host_pid_trap() {
    let spec = edited(CRIO_CONTAINER, |v| {
        let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let c = fixture_ctx(&spec, "x");
    let m = assert_unsupported(&spec, &c, "linux.namespaces");
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].contains("no pid namespace"));
}

/// fixtures/README trap 2: a member's `pid` path names the infra's pid (our shim). The mapping
/// accepts only that shape and leaves the translation to the infra CT to the caller; any other
/// pid namespace path is refused.
#[test]
fn pid_path_trap() {
    let spec = load(CRIO_CONTAINER);
    assert!(map_ok(&spec, &fixture_ctx(&spec, "x")).warnings.is_empty());
    let spec = edited(CRIO_CONTAINER, |v| {
        v["linux"]["namespaces"][0]["path"] = Value::from("/var/run/pidns/somewhere");
    });
    assert_unsupported(&spec, &fixture_ctx(&spec, "x"), "linux.namespaces[0].path");
}

/// Host network (podman --network host / hostNetwork: true) is refused too.
#[test]
fn host_network_trap() {
    let spec = edited(PODMAN_RUN, |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    let m = assert_unsupported(&spec, &fixture_ctx(&spec, "x"), "linux.namespaces");
    assert!(m
        .warnings
        .iter()
        .any(|w| w.contains("no network namespace")));
}

/// Without the local shim (REST API backend) pod namespaces cannot be joined and `process` must
/// be expressible by LXC alone.
#[test]
fn fixtures_as_entrypoint() {
    let e = |text: &str| {
        let spec = load(text);
        let mut c = fixture_ctx(&spec, "x");
        c.launch = super::Launch::Entrypoint;
        (spec, c)
    };
    let (spec, c) = e(CRIO_SANDBOX);
    assert!(is_unsupported(
        &map_err(&spec, &c),
        "linux.namespaces[1].path"
    ));
    let (spec, c) = e(CRIO_CONTAINER);
    assert!(is_unsupported(
        &map_err(&spec, &c),
        "linux.namespaces[0].path"
    ));
    let (spec, c) = e(PODMAN_RUN);
    assert!(is_unsupported(
        &map_err(&spec, &c),
        "linux.sysctl[\"net.ipv4.ping_group_range\"]"
    ));

    // Non-strict: the CT runs process.args as pid 1 with lxc.init.*.
    let m = map_ok(&spec, &loose(c));
    assert_eq!(
        opt(&m, "entrypoint"),
        Some("sh -c 'echo hi-podman; hostname'")
    );
    assert_eq!(lxc(&m, "lxc.init.cwd"), ["/"]);
    assert_eq!(lxc(&m, "lxc.init.uid"), ["0"]);
    assert_eq!(lxc(&m, "lxc.init.gid"), ["0"]);
    assert!(lxc(&m, "lxc.init.groups").is_empty());
    assert!(m.sysctls.is_empty());
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    // The init binary is not mounted.
    assert!(lxc(&m, "lxc.mount.entry")
        .iter()
        .all(|e| !e.contains("proxmox-lxcri-init")));

    let (spec, c) = e(CRIO_CONTAINER);
    let m = map_ok(&spec, &loose(c));
    assert_eq!(
        opt(&m, "entrypoint"),
        Some("/bin/sh -c 'echo serving; sleep 30'")
    );
    assert_eq!(lxc(&m, "lxc.init.cwd"), ["/tmp"]);
    assert_eq!(lxc(&m, "lxc.init.uid"), ["1000"]);
    assert_eq!(lxc(&m, "lxc.init.groups"), ["0"]);
    let fields: Vec<&str> = m
        .warnings
        .iter()
        .map(|w| w.split(": ").nth(1).unwrap())
        .collect();
    // Four namespace paths, and uid 1000 with effective/permitted capabilities.
    assert_eq!(
        fields,
        [
            "linux.namespaces[0].path",
            "linux.namespaces[1].path",
            "linux.namespaces[2].path",
            "linux.namespaces[3].path",
            "process.capabilities.effective",
            "process.capabilities.permitted",
        ]
    );

    // A read-only root is mounted read-only by Proxmox itself.
    let (spec, c) = e(CRIO_SANDBOX);
    let m = map_ok(&spec, &loose(c));
    assert!(opt(&m, "rootfs")
        .unwrap()
        .ends_with(",idmap=passthrough,ro=1"));
    assert!(!m.readonly_root);
}

/// README: podman's default RLIMIT_NOFILE of 1048576 (above some hosts' hard limit) still maps.
#[test]
fn podman_high_nofile() {
    let spec = edited(PODMAN_RUN, |v| {
        v["process"]["rlimits"][0] =
            serde_json::json!({"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576});
    });
    let m = map_ok(&spec, &fixture_ctx(&spec, "x"));
    assert_eq!(lxc(&m, "lxc.prlimit.nofile"), ["1048576:1048576"]);
}

/// A privileged CT (unprivileged = 0): no idmap on rootfs or mount points.
#[test]
fn crio_container_privileged() {
    let spec = load(CRIO_CONTAINER);
    let mut c = fixture_ctx(&spec, "x");
    c.unprivileged = false;
    let m = map_ok(&spec, &c);
    assert_eq!(opt(&m, "unprivileged"), Some("0"));
    assert!(!opt(&m, "rootfs").unwrap().contains("idmap"));
    assert_eq!(
        opt(&m, "mp0").unwrap(),
        format!("{SA_VOLUME},mp=/var/run/secrets/kubernetes.io/serviceaccount,ro=1")
    );
}

/// Missing bind sources (not stat-able when the runtime looked) are errors naming the mount.
#[test]
fn fixture_with_missing_bind_source() {
    let spec = load(CRIO_CONTAINER);
    let mut c = fixture_ctx(&spec, "x");
    c.bind_kinds.retain(|p, _| !p.ends_with("resolv.conf"));
    assert!(is_invalid(&map_err(&spec, &c), "mounts[7].source"));
}

/// Raw keys Proxmox accepts without a warning (pve-container `is_valid_lxc_conf_key`), and the
/// one we write knowing it warns: `lxc.cgroup.dir.container` for `linux.cgroupsPath`.
fn pve_accepts_raw_key(k: &str) -> bool {
    use crate::pve::lxckeys::{check, LxcKey};
    check(k) == LxcKey::Allowed
        || (k == super::cgroups::CONTAINER_DIR_KEY && matches!(check(k), LxcKey::Warn(_)))
}

/// Normal keys in Proxmox's `$confdesc` (pve-container src/PVE/LXC/Config.pm).
fn pve_accepts_key(k: &str) -> bool {
    crate::pve::confkeys::lookup(k).is_some()
}

#[test]
fn every_written_key_is_one_proxmox_accepts() {
    let kitchen_sink = spec_with(
        r#"{"process": {"apparmorProfile": "p", "selinuxLabel": "l", "capabilities": {"bounding": []}, "user": {"uid": 0, "gid": 0, "additionalGids": [5]},
            "rlimits": [{"type": "RLIMIT_CORE", "soft": 1, "hard": 2}]},
        "linux": {"sysctl": {"kernel.shmmax": "1", "kernel.sem": "1 2 3 4"},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "resources": {"memory": {"limit": 1000000, "reservation": 1, "swap": 2000000},
                "cpu": {"shares": 100, "quota": 1000, "period": 2000, "cpus": "0", "mems": "0", "idle": 1, "burst": 5},
                "pids": {"limit": 5}, "devices": [{"allow": true, "type": "c", "major": 1, "minor": 1, "access": "r"},
                {"allow": false, "type": "b", "access": "m"}],
                "rdma": {"d": {"hcaHandles": 1}}, "unified": {"memory.oom.group": "1"}}}}"#,
    );
    let mut all = vec![
        map_ok(&kitchen_sink, &ctx()),
        map_ok(&kitchen_sink, &loose(entry_ctx())),
    ];
    for text in [
        CRIO_SANDBOX,
        CRIO_CONTAINER,
        PODMAN_RUN,
        PODMAN_INFRA,
        PODMAN_MEMBER,
    ] {
        let spec = load(text);
        all.push(map_ok(&spec, &fixture_ctx(&spec, "x")));
        let mut c = loose(fixture_ctx(&spec, "x"));
        c.launch = super::Launch::Entrypoint;
        all.push(map_ok(&spec, &c));
    }
    for m in &all {
        // A confined lxc-start cannot switch to an OCI profile (src/apparmor.rs).
        assert!(m.ct.lxc.iter().all(|(k, _)| k != "lxc.apparmor.profile"));
        for (k, v) in &m.ct.lxc {
            assert!(pve_accepts_raw_key(k), "{k}");
            assert!(!v.contains('\n'), "{k} = {v:?}");
        }
        for (k, v) in &m.ct.options {
            assert!(pve_accepts_key(k), "{k}");
            assert!(!v.is_empty() && !v.contains('\n'), "{k}: {v:?}");
        }
    }
    // The kitchen sink exercises the raw keys beyond the fixtures.
    let keys: std::collections::BTreeSet<&str> = all[0]
        .ct
        .lxc
        .iter()
        .chain(&all[1].ct.lxc)
        .map(|(k, _)| k.as_str())
        .collect();
    for k in [
        "lxc.idmap",
        "lxc.sysctl.kernel.sem",
        "lxc.cgroup2.rdma.max",
        "lxc.init.groups",
    ] {
        assert!(keys.contains(k), "{k} not exercised");
    }
}
