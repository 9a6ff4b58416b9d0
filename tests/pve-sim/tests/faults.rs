//! `PVE_SIM_FAIL=create|start|stop|destroy`: each step fails like a Proxmox task (error on
//! stderr, exit 255) and leaves nothing half-done.

mod common;

use common::{code, err, root_node, tree_state};

#[test]
fn failed_create_leaves_no_config() {
    let Some(n) = root_node() else { return };
    let before = tree_state(&n.rootfs);
    n.track(93301);
    let rootfs = n.rootfs.to_string_lossy().into_owned();
    let o = n.pct_env(
        &[("PVE_SIM_FAIL", "create")],
        &[
            "create",
            "93301",
            n.template.to_str().unwrap(),
            "--rootfs",
            &rootfs,
            "--ostype",
            "unmanaged",
        ],
    );
    assert_eq!(code(&o), 255);
    assert!(
        err(&o).starts_with("unable to create CT 93301 - command '"),
        "{}",
        err(&o)
    );
    assert_eq!(err(&o).lines().count(), 1, "a task error is one line");
    assert!(!n.conf_path(93301).exists());
    assert_eq!(n.ok(&["list"]), "");
    assert_eq!(tree_state(&n.rootfs), before);
    // The VMID is free again.
    n.create(93301, &[]);
}

#[test]
fn failed_start_leaves_nothing_running() {
    let Some(n) = root_node() else { return };
    n.create(93302, &[]);
    let o = n.pct_env(&[("PVE_SIM_FAIL", "start")], &["start", "93302"]);
    assert_eq!(code(&o), 255);
    let e = err(&o);
    assert!(e.starts_with("startup for container '93302' failed"), "{e}");
    assert!(
        e.contains("lxc-start: 93302:"),
        "the lines of the stderr file follow: {e}"
    );
    assert_eq!(e.lines().count(), 1);
    assert_eq!(n.ok(&["status", "93302"]), "status: stopped\n");
    assert!(n.wait_no_processes().is_empty());
    // A normal start works afterwards.
    n.ok(&["start", "93302"]);
    n.ok(&["stop", "93302"]);
}

#[test]
fn a_ct_whose_init_cannot_run_fails_to_start() {
    let Some(n) = root_node() else { return };
    n.create(93303, &["--entrypoint", "/no/such/init"]);
    let o = n.pct(&["start", "93303"]);
    assert_eq!(code(&o), 255);
    assert!(
        err(&o).starts_with("startup for container '93303' failed"),
        "{}",
        err(&o)
    );
    assert!(n.wait_no_processes().is_empty());
    let stderr_file = n.root.join("run/pve/ct-93303.stderr");
    assert!(std::fs::read_to_string(stderr_file)
        .unwrap()
        .contains("lxc-start"));
}

#[test]
fn failed_stop_keeps_the_ct_running() {
    let Some(n) = root_node() else { return };
    n.create(93304, &[]);
    n.ok(&["start", "93304"]);
    for args in [
        &["stop", "93304"][..],
        &["shutdown", "93304", "--timeout", "1"],
    ] {
        let o = n.pct_env(&[("PVE_SIM_FAIL", "stop,destroy")], args);
        assert_eq!(code(&o), 255, "{args:?}");
        assert!(
            err(&o).starts_with("command 'lxc-stop -n 93304 "),
            "{}",
            err(&o)
        );
        assert_eq!(n.ok(&["status", "93304"]), "status: running\n");
    }
    n.ok(&["stop", "93304"]);
}

#[test]
fn failed_destroy_changes_nothing() {
    let Some(n) = root_node() else { return };
    n.create(93305, &[]);
    n.ok(&["start", "93305"]);
    let conf = n.conf(93305);
    let o = n.pct_env(
        &[("PVE_SIM_FAIL", "destroy")],
        &["destroy", "93305", "--force"],
    );
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "unable to destroy CT 93305 - Device or resource busy\n"
    );
    assert_eq!(n.conf(93305), conf);
    assert_eq!(n.ok(&["status", "93305"]), "status: running\n");
    n.ok(&["destroy", "93305", "--force"]);
    assert!(!n.conf_path(93305).exists());
}
