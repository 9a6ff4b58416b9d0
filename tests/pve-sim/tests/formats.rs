//! Byte-exact outputs and the config file as pct writes it (pve-container src/PVE/CLI/pct.pm and
//! src/PVE/LXC/Config.pm).

mod common;

use std::fs;

use common::{code, err, out, root_node, NODE};

#[test]
fn create_writes_proxmox_config() {
    let Some(n) = root_node() else { return };
    let rootfs = n.rootfs.display().to_string();
    n.track(93401);
    let o = n.pct(&[
        "create",
        "93401",
        n.template.to_str().unwrap(),
        "--rootfs",
        &format!("ro=1,volume={rootfs}"),
        "--ostype",
        "unmanaged",
        "--unprivileged",
        "0",
        "--tags",
        "proxmox-lxcri",
        "--description",
        "proxmox-lxcri id: abc 100%",
        "--net0",
        "name=eth0,ip=dhcp",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    // The task's output (extraction, arch fallback) is on stdout.
    assert!(
        out(&o).starts_with(&format!("extracting archive '{}'\n", n.template.display())),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("Falling back to amd64.\n"));
    let conf = n.conf(93401);
    let hw = conf
        .lines()
        .find_map(|l| l.strip_prefix("net0: "))
        .unwrap()
        .to_string();
    assert!(
        hw.starts_with("name=eth0,hwaddr=BC:24:11:") && hw.ends_with(",ip=dhcp,type=veth"),
        "{hw}"
    );
    assert_eq!(
        conf,
        format!(
            "#proxmox-lxcri id%3A abc 100%25\n\
             arch: amd64\nhostname: CT93401\nmemory: 512\nnet0: {hw}\nostype: unmanaged\n\
             rootfs: {rootfs},ro=1\nswap: 512\ntags: proxmox-lxcri\n"
        )
    );
    // `/etc/pve/lxc` is the local node's directory.
    let link = n.root.join("etc/pve/lxc");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        std::path::PathBuf::from(format!("nodes/{NODE}/lxc"))
    );
    assert!(link.join("93401.conf").exists());

    // `pct config`: sorted, description encoded (with Proxmox's trailing newline), raw keys last.
    n.append_conf(
        93401,
        "lxc.init.cwd = /tmp\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\n",
    );
    let shown = n.ok(&["config", "93401"]);
    assert_eq!(
        shown,
        format!(
            "arch: amd64\ndescription: proxmox-lxcri id%3A abc 100%25%0A\nenv: A=1\0B=2\nhostname: CT93401\nmemory: 512\n\
             net0: {hw}\nostype: unmanaged\nrootfs: {rootfs},ro=1\nswap: 512\ntags: proxmox-lxcri\n\
             lxc.init.cwd: /tmp\n"
        )
    );
    // The next write puts raw lines in colon form, env first.
    n.ok(&["set", "93401", "--cores", "2"]);
    assert!(n.conf(93401).ends_with(
        "lxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\nlxc.init.cwd: /tmp\n"
    ));
}

#[test]
fn list_is_byte_exact() {
    let Some(n) = root_node() else { return };
    assert_eq!(n.ok(&["list"]), "", "no CTs, no header");
    n.create(
        93403,
        &["--hostname", "a-very-long-hostname-over-twenty-chars"],
    );
    n.create(93402, &[]);
    n.append_conf(93402, "lock: mounted\n");
    assert_eq!(
        n.ok(&["list"]),
        "VMID       Status     Lock         Name                \n\
         93402      stopped    mounted      CT93402             \n\
         93403      stopped                 a-very-long-hostname-over-twenty-chars\n"
    );
    n.ok(&["unlock", "93402"]);
}

#[test]
fn set_pending_and_raw_keys() {
    let Some(n) = root_node() else { return };
    n.create(93404, &[]);
    // Stopped: applied at once.
    n.ok(&[
        "set",
        "93404",
        "--memory",
        "80",
        "--tty",
        "3",
        "--description",
        "two\nlines",
    ]);
    let conf = n.conf(93404);
    assert!(
        conf.starts_with("#two\n#lines\n") && conf.contains("memory: 80\n"),
        "{conf}"
    );
    assert_eq!(err(&n.pct(&["set", "93404"])), "no options specified\n");
    assert_eq!(
        err(&n.pct(&["set", "93404", "--delete", "memory"])),
        "unable to delete required option 'memory'\n"
    );
    assert_eq!(
        err(&n.pct(&["set", "93404", "--unprivileged", "1"])),
        "unable to modify read-only option: 'unprivileged'\n"
    );

    // Raw keys: rejected and unknown ones are dropped at start with Proxmox's warnings.
    n.append_conf(
        93404,
        "lxc.rootfs.path: /elsewhere\nlxc.foo.bar: 1\nlxc.cap.drop: sys_admin\n",
    );
    let o = n.pct(&["start", "93404"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        err(&o).contains(
            "vm 93404 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs\n"
        ),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("vm 93404 - unable to parse config: lxc.foo.bar: 1\n"));
    let lxc = fs::read_to_string(n.lxc_path().join("93404/config")).unwrap();
    assert!(
        lxc.contains("lxc.cap.drop = sys_admin\n")
            && !lxc.contains("elsewhere")
            && !lxc.contains("lxc.foo.bar")
    );
    assert!(lxc.contains(&format!("lxc.rootfs.path = dir:{}\n", n.rootfs.display())));

    // Running: hot-pluggable keys apply now, the others wait in [pve:pending].
    n.ok(&[
        "set",
        "93404",
        "--hostname",
        "renamed",
        "--entrypoint",
        "/bin/sh",
        "--delete",
        "swap,tty",
    ]);
    let conf = n.conf(93404);
    assert!(
        conf.contains("hostname: renamed\n") && !conf.contains("swap:"),
        "swap is hot-unplugged: {conf}"
    );
    assert!(
        conf.contains("\n[pve:pending]\ndelete: tty\nentrypoint: /bin/sh\n"),
        "{conf}"
    );
    let pending = n.ok(&["pending", "93404"]);
    assert!(
        pending.contains("cur entrypoint: /bin/sleep 100000\nnew entrypoint: /bin/sh\n"),
        "{pending}"
    );
    assert!(pending.contains("del tty: 3\n"), "{pending}");
    assert!(pending.contains("cur hostname: renamed\n"));
    assert!(n.ok(&["config", "93404"]).contains("entrypoint: /bin/sh\n"));
    assert!(!n.ok(&["config", "93404"]).contains("tty:"));
    assert!(n
        .ok(&["config", "93404", "--current"])
        .contains("entrypoint: /bin/sleep 100000\n"));
    n.ok(&["set", "93404", "--revert", "entrypoint"]);
    assert!(!n.conf(93404).contains("entrypoint: /bin/sh"));

    // Pending changes are applied by the next start.
    n.ok(&["stop", "93404"]);
    n.ok(&["start", "93404"]);
    let conf = n.conf(93404);
    assert!(
        !conf.contains("[pve:pending]") && !conf.contains("tty:"),
        "{conf}"
    );
    n.ok(&["stop", "93404"]);
}

#[test]
fn calls_are_logged() {
    let Some(n) = root_node() else { return };
    n.ok(&["list"]);
    let _ = n.pct(&["status", "93405", "--verbose"]);
    let _ = n.pct(&["exec", "93405", "--", "sh", "-c", "echo 'x y'"]);
    // A line break (a multi-line description) keeps the call on one line.
    let _ = n.pct(&["set", "93405", "--description", "a\nb's"]);
    let log = fs::read_to_string(n.root.join("pct.calls")).unwrap();
    assert_eq!(
        log,
        "pct list\npct status 93405 --verbose\npct exec 93405 -- sh -c 'echo '\\''x y'\\'''\n\
         pct set 93405 --description $'a\\nb\\'s'\n"
    );
}
