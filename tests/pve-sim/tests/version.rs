//! The node version (`PVE_SIM_VERSION`, `PVE_SIM_PVE_CONTAINER`): what an older pve-container
//! does not know is refused like any unknown option or key, and `pveversion` reports the
//! release. VMIDs 93601–93609.

mod common;

use std::process::Command;

use common::{code, err, out, root_node, Node};

const NODE_90: &[(&str, &str)] = &[("PVE_SIM_VERSION", "9.0.11")];
const NODE_84: &[(&str, &str)] = &[("PVE_SIM_VERSION", "8.4.14")];
/// A 9.1 node before the pve-container update that brought `idmap=`.
const NODE_91_OLD: &[(&str, &str)] = &[
    ("PVE_SIM_VERSION", "9.1.1"),
    ("PVE_SIM_PVE_CONTAINER", "6.0.18"),
];

fn pveversion(n: &Node, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pveversion"));
    c.args(args).env("PVE_SIM_ROOT", &n.root);
    for k in ["PVE_SIM_VERSION", "PVE_SIM_PVE_CONTAINER"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().expect("running pveversion")
}

#[test]
fn options_of_newer_nodes_are_unknown_options() {
    let Some(n) = root_node() else { return };
    let rootfs = n.rootfs.to_str().unwrap();
    let tpl = n.template.to_str().unwrap();
    for env in [NODE_90, NODE_84] {
        for (opt, val) in [("--entrypoint", "/bin/sh"), ("--env", "A=1")] {
            let o = n.pct_env(env, &["create", "93601", tpl, "--rootfs", rootfs, opt, val]);
            assert_eq!(code(&o), 255);
            assert_eq!(
                err(&o),
                format!(
                    "Unknown option: {}\n400 unable to parse option\n\
                     pct create <vmid> <ostemplate> [OPTIONS]\n",
                    &opt[2..]
                ),
                "{env:?}"
            );
            assert!(!n.conf_path(93601).exists());
            let o = n.pct_env(env, &["set", "93601", opt, val]);
            assert_eq!(code(&o), 255);
            assert!(err(&o).starts_with(&format!("Unknown option: {}\n", &opt[2..])));
        }
    }
    // The mount point option `idmap=` came with pve-container 6.1.6.
    let o = n.pct_env(
        NODE_91_OLD,
        &[
            "create",
            "93601",
            tpl,
            "--rootfs",
            &format!("{rootfs},idmap=passthrough"),
        ],
    );
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\n\
         rootfs: invalid format - invalid key in comma-separated list property: idmap\n\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    assert!(!n.conf_path(93601).exists());
    // `host-managed` networks came with 6.0.15.
    let o = n.pct_env(
        NODE_90,
        &[
            "create",
            "93601",
            tpl,
            "--rootfs",
            rootfs,
            "--net0",
            "name=eth0,host-managed=1",
        ],
    );
    assert_eq!(code(&o), 255);
    assert!(err(&o).contains(
        "\nnet0: invalid format - invalid key in comma-separated list property: host-managed\n"
    ));
    assert!(!n.conf_path(93601).exists());
    // The default node (a current 9.1) has all of them.
    n.create(
        93601,
        &[
            "--env",
            "A=1",
            "--mp0",
            &format!("{rootfs}/tmp,mp=/mnt/data,idmap=passthrough"),
        ],
    );
    let conf = n.conf(93601);
    assert!(conf.contains("entrypoint: /bin/sleep 100000\n") && conf.contains("idmap=passthrough"));
}

#[test]
fn config_keys_of_newer_nodes_are_dropped_with_warnings() {
    let Some(n) = root_node() else { return };
    n.create(93602, &["--env", "A=1"]);
    n.append_conf(93602, "lxc.init.uid: 1000\nlxc.init.cmd: /bin/sh\n");
    let cur = n.pct(&["config", "93602"]);
    assert_eq!(err(&cur), "");
    assert!(out(&cur).contains("entrypoint: /bin/sleep 100000\n"));
    assert!(out(&cur).contains("lxc.init.uid: 1000\n"));

    let o = n.pct_env(NODE_90, &["config", "93602"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let e = err(&o);
    for w in [
        "vm 93602 - unable to parse value of 'entrypoint' - unknown setting 'entrypoint'\n",
        "vm 93602 - unable to parse value of 'env' - unknown setting 'env'\n",
        "vm 93602 - unable to parse config: lxc.init.uid: 1000\n",
    ] {
        assert!(e.contains(w), "missing {w:?} in {e:?}");
    }
    let shown = out(&o);
    assert!(
        !shown.contains("entrypoint") && !shown.contains("lxc.init.uid") && !shown.contains("A=1")
    );
    assert!(shown.contains("lxc.init.cmd: /bin/sh\n"), "{shown}");
    // A 9.1 node before 6.1.0 knows entrypoint and env, not lxc.init.uid.
    let o = n.pct_env(NODE_91_OLD, &["config", "93602"]);
    assert_eq!(
        err(&o),
        "vm 93602 - unable to parse config: lxc.init.uid: 1000\n"
    );
}

#[test]
fn pveversion_reports_the_release() {
    let Some(n) = root_node() else { return };
    let o = pveversion(&n, &[], &[]);
    assert_eq!(code(&o), 0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let line = out(&o);
    let rest = line.strip_prefix("pve-manager/9.1.2/").expect(&line);
    let (repoid, tail) = rest.split_once(' ').unwrap();
    assert!(repoid.len() == 16 && repoid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(tail, format!("(running kernel: {})\n", kernel.trim()));

    let o = pveversion(&n, NODE_90, &["--verbose"]);
    let v = out(&o);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(
        lines[0],
        format!("proxmox-ve: 9.0.0 (running kernel: {})", kernel.trim())
    );
    assert!(lines[1].starts_with("pve-manager: 9.0.11 (running version: 9.0.11/"));
    assert!(lines.contains(&"pve-container: 6.0.13"), "{v}");
    let v = out(&pveversion(&n, NODE_84, &["-v"]));
    assert!(v.contains("\npve-container: 5.3.3\n"), "{v}");
    let v = out(&pveversion(&n, NODE_91_OLD, &["-v"]));
    assert!(v.contains("\npve-container: 6.0.18\n"), "{v}");

    let o = pveversion(&n, &[], &["extra"]);
    assert_eq!(
        (code(&o), err(&o).as_str()),
        (255, "USAGE: pveversion [--verbose]\n")
    );
    let o = pveversion(&n, &[("PVE_SIM_VERSION", "7.4.3")], &[]);
    assert_eq!(code(&o), 255);
    assert!(err(&o).contains("PVE_SIM_VERSION '7.4.3' is not simulated"));
    // pct refuses to run on an unknown release, naming it.
    let o = n.pct_env(&[("PVE_SIM_VERSION", "9.1")], &["list"]);
    assert_eq!(code(&o), 255);
    assert!(err(&o).contains("PVE_SIM_VERSION '9.1'"), "{}", err(&o));
}

/// Callers whose environment does not reach the sim (podman's runtime, commands over ssh) set
/// the version in the node root instead; the environment wins.
#[test]
fn the_node_root_may_name_the_version() {
    let Some(n) = root_node() else { return };
    std::fs::create_dir_all(&n.root).unwrap();
    std::fs::write(n.root.join("pve-sim-version"), "9.0.11\n").unwrap();
    let v = out(&pveversion(&n, &[], &["-v"]));
    assert!(
        v.contains("\npve-manager: 9.0.11 ") && v.contains("\npve-container: 6.0.13\n"),
        "{v}"
    );
    let tpl = n.template.to_str().unwrap();
    let rootfs = n.rootfs.to_str().unwrap();
    let o = n.pct(&[
        "create",
        "93603",
        tpl,
        "--rootfs",
        rootfs,
        "--entrypoint",
        "/bin/sh",
    ]);
    assert!(
        err(&o).starts_with("Unknown option: entrypoint\n"),
        "{}",
        err(&o)
    );
    let v = out(&pveversion(&n, &[("PVE_SIM_VERSION", "8.4.1")], &[]));
    assert!(v.starts_with("pve-manager/8.4.1/"), "{v}");
    std::fs::write(n.root.join("pve-sim-version"), "9.1.1 6.0.18\n").unwrap();
    let v = out(&pveversion(&n, &[], &["-v"]));
    assert!(v.contains("\npve-container: 6.0.18\n"), "{v}");
    std::fs::write(n.root.join("pve-sim-version"), "10.0.0\n").unwrap();
    let o = n.pct(&["list"]);
    assert_eq!(code(&o), 255);
    assert!(err(&o).contains("'10.0.0' is not simulated"), "{}", err(&o));
}

/// An older pve-container cannot parse a mount point with a newer option: a mount point is
/// skipped at start (`foreach_volume` ignores what it cannot parse), the rootfs fails the start.
#[test]
fn mount_points_with_newer_options_on_an_older_node() {
    let Some(n) = root_node() else { return };
    let rootfs = n.rootfs.to_str().unwrap();
    n.create(
        93604,
        &[
            "--mp0",
            &format!("{rootfs}/tmp,mp=/mnt/data,idmap=passthrough"),
        ],
    );
    let o = n.pct_env(NODE_91_OLD, &["start", "93604"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(err(&o).contains(
        "vm 93604 - unable to parse value of 'mp0' - invalid format - invalid key in \
         comma-separated list property: idmap\n"
    ));
    let lxc = std::fs::read_to_string(n.root.join("lxc/93604/config")).unwrap();
    assert!(!lxc.contains("mnt/data"), "mp0 is skipped: {lxc}");
    n.ok(&["stop", "93604"]);

    n.track(93605);
    let tpl = n.template.to_str().unwrap();
    let o = n.pct(&[
        "create",
        "93605",
        tpl,
        "--rootfs",
        &format!("{rootfs},idmap=passthrough"),
        "--ostype",
        "unmanaged",
        "--arch",
        "amd64",
        "--unprivileged",
        "0",
        "--entrypoint",
        "/bin/sleep 100000",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = n.pct_env(NODE_91_OLD, &["start", "93605"]);
    assert_eq!(code(&o), 255);
    assert!(
        err(&o).ends_with("\ninvalid key in comma-separated list property: idmap\n"),
        "{}",
        err(&o)
    );
    assert_eq!(n.ok(&["status", "93605"]), "status: stopped\n");
}
