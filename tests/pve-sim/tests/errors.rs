//! Proxmox's error strings and exit statuses (pve-common src/PVE/CLIHandler.pm and
//! RESTEnvironment.pm, pve-container src/PVE/CLI/pct.pm; docs/proxmox-facts.md of the runtime).

mod common;

use common::{code, err, out, root_node, NODE, PCT};

fn usage_err(msg: &str, usage: &str) -> String {
    format!("400 {msg}\n{usage}\n")
}

#[test]
fn parameter_errors() {
    let Some(n) = root_node() else { return };
    let o = n.pct(&["status", "99"]);
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID\n\npct status <vmid> [OPTIONS]\n"
    );
    let o = n.pct(&["status", "1x"]);
    assert!(err(&o).contains("vmid: type check ('integer') failed - got '1x'\n"));
    assert_eq!(
        err(&n.pct(&["status"])),
        usage_err("not enough arguments", "pct status <vmid> [OPTIONS]")
    );
    assert_eq!(
        err(&n.pct(&["status", "100", "101"])),
        usage_err("too many arguments", "pct status <vmid> [OPTIONS]")
    );
    let o = n.pct(&["status", "100", "--bogus"]);
    assert_eq!(
        (code(&o), err(&o)),
        (
            255,
            format!(
                "Unknown option: bogus\n{}",
                usage_err("unable to parse option", "pct status <vmid> [OPTIONS]")
            )
        )
    );
    let o = n.pct(&["destroy", "100", "--force", "maybe"]);
    assert_eq!(
        err(&o),
        usage_err(
            "unable to parse boolean option",
            "pct destroy <vmid> [OPTIONS]"
        )
    );
    // Without `--`, a command's own options are taken as pct options.
    let o = n.pct(&["exec", "100", "ls", "-l"]);
    assert_eq!(
        err(&o),
        format!(
            "Unknown option: l\n{}",
            usage_err(
                "unable to parse option",
                "pct exec <vmid> [<extra-args>] [OPTIONS]"
            )
        )
    );

    let o = n.pct(&[
        "create",
        "100",
        n.template.to_str().unwrap(),
        "--rootfs",
        "/x",
        "--memory",
        "8",
        "--arch",
        "x86",
    ]);
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\n\
         arch: value 'x86' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'\n\
         memory: value must have a minimum value of 16\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    let o = n.pct(&[
        "create",
        "100",
        n.template.to_str().unwrap(),
        "--rootfs",
        "/x",
        "--frobnicate",
        "1",
    ]);
    assert!(err(&o).starts_with("Unknown option: frobnicate\n400 unable to parse option\n"));
}

#[test]
fn option_syntax_variants_are_equivalent() {
    let Some(n) = root_node() else { return };
    n.create(
        93201,
        &[
            "-hostname",
            "one",
            "--cores=1",
            "--tags",
            "B",
            "--tags",
            "a;c",
        ],
    );
    let conf = n.conf(93201);
    assert!(conf.contains("hostname: one\n") && conf.contains("cores: 1\n"));
    assert!(
        conf.contains("tags: a;b;c\n"),
        "tags are normalised: {conf}"
    );
    // Options before positionals; a boolean swallows a following non-option (Getopt `:s`),
    // so the VMID is missing.
    n.ok(&["set", "--memory", "128", "93201"]);
    assert!(n.conf(93201).contains("memory: 128\n"));
    let o = n.pct(&["set", "--onboot", "93201"]);
    assert_eq!(
        err(&o),
        usage_err("not enough arguments", "pct set <vmid> [OPTIONS]")
    );
    n.ok(&["set", "93201", "--onboot"]);
    assert!(n.conf(93201).contains("onboot: 1\n"));
    n.ok(&["set", "93201", "-onboot=no"]);
    assert!(n.conf(93201).contains("onboot: 0\n"));
}

#[test]
fn state_errors() {
    let Some(n) = root_node() else { return };
    let missing = format!("Configuration file 'nodes/{NODE}/lxc/93202.conf' does not exist\n");
    for args in [
        &["status", "93202"][..],
        &["start", "93202"],
        &["config", "93202"],
        &["exec", "93202", "--", "true"],
        &["destroy", "93202"],
    ] {
        let o = n.pct(args);
        assert_ne!(code(&o), 0, "{args:?}");
        assert_eq!(err(&o), missing, "{args:?}");
    }
    // Proxmox's stop and shutdown ask LXC before they read the config.
    for args in [&["stop", "93202"], &["shutdown", "93202"]] {
        assert_eq!(err(&n.pct(args)), "CT 93202 not running\n", "{args:?}");
    }

    n.create(93202, &[]);
    let o = n.pct(&[
        "create",
        "93202",
        n.template.to_str().unwrap(),
        "--rootfs",
        n.rootfs.to_str().unwrap(),
    ]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, format!("CT 93202 already exists on node '{NODE}'\n"))
    );
    assert_eq!(err(&n.pct(&["stop", "93202"])), "CT 93202 not running\n");
    assert_eq!(
        err(&n.pct(&["shutdown", "93202"])),
        "CT 93202 not running\n"
    );
    let o = n.pct(&["exec", "93202", "--", "true"]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, "container '93202' not running!\n".to_string())
    );

    n.ok(&["start", "93202"]);
    assert_eq!(
        err(&n.pct(&["start", "93202"])),
        "CT 93202 already running\n"
    );
    let o = n.pct(&["destroy", "93202"]);
    assert_eq!(
        (code(&o), err(&o)),
        (
            255,
            "unable to destroy CT 93202 - container is running\n".to_string()
        )
    );
    let o = n.pct(&["exec", "93202"]);
    assert!(err(&o).starts_with("missing command at "), "{}", err(&o));
    n.ok(&["stop", "93202"]);

    // Locks block start, stop and destroy until unlocked.
    n.append_conf(93202, "lock: backup\n");
    assert_eq!(err(&n.pct(&["start", "93202"])), "CT is locked (backup)\n");
    assert_eq!(
        err(&n.pct(&["destroy", "93202"])),
        "CT is locked (backup)\n"
    );
    assert_eq!(
        n.ok(&["list"]).lines().nth(1).unwrap(),
        format!(
            "{:<10} {:<10} {:<12} {:<20}",
            93202, "stopped", "backup", "CT93202"
        )
    );
    n.ok(&["unlock", "93202"]);
    n.ok(&["set", "93202", "--protection", "1"]);
    assert_eq!(
        err(&n.pct(&["destroy", "93202"])),
        "can't remove CT 93202 - protection mode enabled\n"
    );
    n.ok(&["set", "93202", "--delete", "protection"]);
    n.ok(&["destroy", "93202"]);
}

#[test]
fn command_names_and_root() {
    let Some(n) = root_node() else { return };
    let o = n.pct(&["frob"]);
    assert_eq!(code(&o), 255);
    assert!(err(&o)
        .starts_with("ERROR: unknown command 'pct frob'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]\n"));
    // Unique prefixes expand, ambiguous ones do not.
    assert_eq!(
        err(&n.pct(&["stat", "93203"])),
        format!("Configuration file 'nodes/{NODE}/lxc/93203.conf' does not exist\n")
    );
    assert!(err(&n.pct(&["st", "93203"])).starts_with("ERROR: unknown command 'pct st'"));
    assert!(err(&n.pct(&[])).starts_with("ERROR: no command specified\n"));

    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            PCT,
            "list",
        ])
        .env("PVE_SIM_ROOT", &n.root)
        .output();
    if let Ok(o) = o {
        if code(&o) != 127 && !err(&o).contains("setpriv:") {
            assert_eq!(
                (code(&o), err(&o)),
                (255, "please run as root\n".to_string())
            );
        }
    }
    assert_eq!(out(&n.pct(&["list"])), "");
}
