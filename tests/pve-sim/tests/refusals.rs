//! Valid configs a node still refuses to create or start: host paths with a symlink (or a file)
//! on the way, and a raw AppArmor profile a confined `lxc-start` cannot switch to. VMIDs
//! 93611–93619.

mod common;

use std::fs;

use common::{code, err, root_node};

#[test]
fn host_paths_are_walked_without_following_symlinks() {
    let Some(n) = root_node() else { return };
    let link = n.dir.path().join("rootfs-link");
    std::os::unix::fs::symlink(&n.rootfs, &link).unwrap();
    let shown = |p: &std::path::Path| format!("symlink encountered at: /{}", p.display());

    // `pct create` mounts the bind rootfs (and mount points) to extract the template.
    n.track(93611);
    let tpl = n.template.to_str().unwrap();
    let args = [
        "create",
        "93611",
        tpl,
        "--ostype",
        "unmanaged",
        "--arch",
        "amd64",
    ];
    let o = n.pct(&[&args[..], &["--rootfs", link.to_str().unwrap()]].concat());
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        format!("unable to create CT 93611 - {}\n", shown(&link))
    );
    assert!(!n.conf_path(93611).exists());
    let data = n.dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let file = data.join("f");
    fs::write(&file, "").unwrap();
    let o = n.pct(
        &[
            &args[..],
            &[
                "--rootfs",
                n.rootfs.to_str().unwrap(),
                "--mp0",
                &format!("{},mp=/mnt/data", file.display()),
            ],
        ]
        .concat(),
    );
    assert_eq!(
        err(&o),
        format!("unable to create CT 93611 - {}\n", shown(&file))
    );
    assert!(!n.conf_path(93611).exists());

    // A mount point added later fails the start, in the mount code of the prestart hook.
    n.create(93612, &[]);
    let via = n.dir.path().join("data-link");
    std::os::unix::fs::symlink(&data, &via).unwrap();
    n.ok(&[
        "set",
        "93612",
        "--mp0",
        &format!("{}/,mp=/mnt/data", via.display()),
    ]);
    let o = n.pct(&["start", "93612"]);
    assert_eq!(code(&o), 255);
    let e = err(&o);
    assert!(e.starts_with("startup for container '93612' failed"), "{e}");
    assert!(e.contains(&shown(&via)), "{e}");
    let log = fs::read_to_string(n.root.join("run/pve/ct-93612.stderr")).unwrap();
    assert!(log.contains(&format!("{}\n", shown(&via))), "{log}");
    assert_eq!(n.ok(&["status", "93612"]), "status: stopped\n");
    assert!(n.wait_no_processes().is_empty());
    // The real directory is fine.
    n.ok(&[
        "set",
        "93612",
        "--mp0",
        &format!("{},mp=/mnt/data", data.display()),
    ]);
    n.ok(&["start", "93612"]);
    n.ok(&["stop", "93612"]);

    // Destinations are walked from the CT's rootfs the same way (missing ones are created).
    std::os::unix::fs::symlink("data", n.rootfs.join("mnt/link")).unwrap();
    let mp1 = format!("{},mp=/mnt/link/x", data.display());
    n.ok(&["set", "93612", "--mp1", &mp1]);
    let o = n.pct(&["start", "93612"]);
    assert_eq!(code(&o), 255);
    let at = n.root.join("lxc/93612/rootfs/mnt/link");
    assert!(
        err(&o).contains(&format!("symlink encountered at: {}", at.display())),
        "{}",
        err(&o)
    );
    assert!(n.wait_no_processes().is_empty());
    let mp1 = format!("{},mp=/mnt/new/x", data.display());
    n.ok(&["set", "93612", "--mp1", &mp1]);
    n.ok(&["start", "93612"]);
    n.ok(&["stop", "93612"]);
}

#[test]
fn apparmor_profiles_a_confined_lxc_start_cannot_use_fail_the_start() {
    let Some(n) = root_node() else { return };
    n.create(93613, &[]);
    n.append_conf(93613, "lxc.apparmor.profile: containers-default-0.50.1\n");
    let o = n.pct(&["start", "93613"]);
    assert_eq!(code(&o), 255);
    let e = err(&o);
    assert!(e.starts_with("startup for container '93613' failed"), "{e}");
    let why = "Failed to change AppArmor profile to containers-default-0.50.1";
    assert!(e.contains(why), "{e}");
    let log = fs::read_to_string(n.root.join("run/pve/ct-93613.stderr")).unwrap();
    assert!(log.contains(why), "{log}");
    assert_eq!(n.ok(&["status", "93613"]), "status: stopped\n");
    assert!(n.wait_no_processes().is_empty());

    // `unconfined` and `lxc-*` profiles are allowed.
    let conf = n
        .conf(93613)
        .replace("containers-default-0.50.1", "unconfined");
    fs::write(n.conf_path(93613), conf).unwrap();
    n.ok(&["start", "93613"]);
    n.ok(&["stop", "93613"]);
}

/// Raw `lxc.*` keys: pve-container 6.1.10's `$valid_lxc_conf_keys` and `is_valid_lxc_conf_key`,
/// enforced when the config is read (warnings, the line dropped or kept); `pct set` has no
/// option for them at all.
#[test]
fn raw_keys_follow_proxmoxs_allow_list() {
    let Some(n) = root_node() else { return };
    n.create(93614, &[]);
    n.append_conf(
        93614,
        "lxc.namespace.keep: user\n\
         lxc.rootfs.options: ro\n\
         lxc.cgroup.memory.limit_in_bytes: 1000000\n\
         lxc.limit.nofile: 1024\n\
         lxc.hook.post-stop: /bin/true\n\
         lxc.environment.hooks: A=1\n\
         lxc.seccomp.notify.proxy: unix:/run/x\n\
         lxc.console.size: 1M\n\
         lxc.log.syslog: daemon\n",
    );
    let o = n.pct(&["config", "93614"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        err(&o),
        "vm 93614 - unable to parse config: lxc.namespace.keep: user\n\
         vm 93614 - lxc.rootfs.options: lxc.rootfs.options is not supported, please use mount \
         point options in the \"rootfs\" key\n\
         vm 93614 - lxc.cgroup.memory.limit_in_bytes is deprecated, this will be a hard error in \
         the future!\n\
         vm 93614 - lxc.limit.nofile: lxc.limit.* was renamed to lxc.prlimit.*\n\
         vm 93614 - unable to parse config: lxc.console.size: 1M\n\
         vm 93614 - unable to parse config: lxc.log.syslog: daemon\n"
    );
    let shown = common::out(&o);
    for kept in [
        "lxc.cgroup.memory.limit_in_bytes: 1000000\n",
        "lxc.limit.nofile: 1024\n",
        "lxc.hook.post-stop: /bin/true\n",
        "lxc.environment.hooks: A=1\n",
        "lxc.seccomp.notify.proxy: unix:/run/x\n",
    ] {
        assert!(shown.contains(kept), "{kept:?} missing in {shown}");
    }
    for dropped in [
        "lxc.namespace",
        "lxc.rootfs.options",
        "lxc.console.size",
        "lxc.log.syslog",
    ] {
        assert!(!shown.contains(dropped), "{dropped} shown in {shown}");
    }
    let o = n.pct(&["set", "93614", "--lxc.init.cmd", "/bin/sh"]);
    assert_eq!(code(&o), 255);
    assert!(err(&o).starts_with("Unknown option: lxc.init.cmd\n400 unable to parse option\n"));
}

/// `create_vm` fills in `memory ||= 512` and `swap //= 512` (pve-container src/PVE/API2/LXC.pm):
/// a given swap of 0 stays, a missing one becomes 512.
#[test]
fn memory_and_swap_defaults() {
    let Some(n) = root_node() else { return };
    n.track(93615);
    let tpl = n.template.to_str().unwrap();
    let rootfs = n.rootfs.to_str().unwrap();
    let args = [
        "create",
        "93615",
        tpl,
        "--rootfs",
        rootfs,
        "--ostype",
        "unmanaged",
    ];
    n.ok(&[&args[..], &["--swap", "0", "--unprivileged", "0"]].concat());
    let conf = n.conf(93615);
    assert!(
        conf.contains("\nmemory: 512\n") && conf.contains("\nswap: 0\n"),
        "{conf}"
    );
    n.ok(&["destroy", "93615"]);
    n.ok(&[&args[..], &["--memory", "64", "--unprivileged", "0"]].concat());
    let conf = n.conf(93615);
    assert!(
        conf.contains("\nmemory: 64\n") && conf.contains("\nswap: 512\n"),
        "{conf}"
    );
}
