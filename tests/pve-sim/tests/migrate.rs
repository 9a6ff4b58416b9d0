//! `pct migrate` as Proxmox does it (pve-container src/PVE/API2/LXC.pm `migrate_vm`,
//! src/PVE/LXC/Migrate.pm, pve-guest-common src/PVE/AbstractMigrate.pm): the refusals before
//! the task, a stopped CT moved, a running one moved by a restart migration and running on the
//! target, local bind mount points and a target that is down refused.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::{code, err, out, root_node, Node, NODE};

const TARGET: &str = "n2";

/// A template whose init is a shell that ends on SIGPWR (LXC's halt signal), as a CT's init
/// must for `pct shutdown`.
fn template(n: &Node) -> String {
    let tree = n.dir.path().join("tmpl");
    fs::create_dir_all(&tree).unwrap();
    common::pack(&n.rootfs, &n.dir.path().join("base.tar"), &[]);
    let st = std::process::Command::new("tar")
        .arg("-xf")
        .arg(n.dir.path().join("base.tar"))
        .arg("-C")
        .arg(&tree)
        .status()
        .unwrap();
    assert!(st.success());
    let init = tree.join("init.sh");
    fs::write(
        &init,
        "#!/bin/sh\ntrap 'exit 0' PWR TERM\nwhile :; do sleep 1; done\n",
    )
    .unwrap();
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).unwrap();
    let tar = n.dir.path().join("migrate.tar");
    common::pack(&tree, &tar, &[]);
    tar.display().to_string()
}

/// A CT on a `local-lvm` volume (migratable), running unless `start` is false.
fn volume_ct(n: &Node, vmid: u32, tmpl: &str, start: bool) {
    n.track(vmid);
    let id = vmid.to_string();
    n.ok(&[
        "create",
        &id,
        tmpl,
        "--rootfs",
        "local-lvm:1",
        "--ostype",
        "unmanaged",
        "--arch",
        "amd64",
        "--unprivileged",
        "0",
        "--memory",
        "64",
        "--swap",
        "0",
        "--entrypoint",
        "/init.sh",
    ]);
    if start {
        n.ok(&["start", &id]);
    }
}

/// `pct` as run on node `node`.
fn pct_on(n: &Node, node: &str, args: &[&str]) -> Output {
    n.pct_env(&[("PVE_SIM_NODE", node)], args)
}

/// Destroys what a test moved to the target (the harness cleans up its own node only).
struct OnTarget<'a>(&'a Node, Vec<u32>);

impl Drop for OnTarget<'_> {
    fn drop(&mut self) {
        for v in &self.1 {
            let id = v.to_string();
            let _ = pct_on(self.0, TARGET, &["unlock", &id]);
            let _ = pct_on(
                self.0,
                TARGET,
                &["destroy", &id, "--force", "1", "--purge", "1"],
            );
        }
    }
}

fn two_nodes(n: &Node) {
    fs::create_dir_all(n.root.join(format!("etc/pve/nodes/{TARGET}/lxc"))).unwrap();
}

#[test]
fn refusals_before_the_task() {
    let Some(n) = root_node() else { return };
    let tmpl = template(&n);
    two_nodes(&n);
    volume_ct(&n, 93961, &tmpl, true);

    let o = n.pct(&["migrate", "93961", NODE]);
    assert_eq!(code(&o), 255);
    assert!(
        err(&o).starts_with("400 Parameter verification failed.\ntarget: target is local node.\n"),
        "{}",
        err(&o)
    );
    let o = n.pct(&["migrate", "93961", "n9"]);
    assert_eq!(err(&o), "no such cluster node 'n9'\n");
    let o = n.pct(&["migrate", "93969", TARGET]);
    assert_eq!(
        err(&o),
        format!("Configuration file 'nodes/{NODE}/lxc/93969.conf' does not exist\n")
    );
    let o = n.pct(&["migrate", "93961", TARGET]);
    assert_eq!(
        (code(&o), err(&o).as_str()),
        (
            255,
            "can't migrate running container without --online or --restart\n"
        )
    );
    // The task's own refusals: live migration of a CT is not implemented.
    let o = n.pct(&["migrate", "93961", TARGET, "--online"]);
    assert_eq!((code(&o), err(&o).as_str()), (255, "migration aborted\n"));
    assert!(
        out(&o).contains(" ERROR: migration aborted (duration 00:00:0")
            && out(&o).contains("): lxc live migration is currently not implemented\n"),
        "{}",
        out(&o)
    );
    // A target that is down does not answer the SSH test (a third member keeps the quorum).
    fs::create_dir_all(n.root.join("etc/pve/nodes/n3/lxc")).unwrap();
    fs::write(n.root.join("api-faults.json"), r#"{"offline": ["n2"]}"#).unwrap();
    let o = n.pct(&["migrate", "93961", TARGET, "--restart"]);
    assert!(
        out(&o).contains("Can't connect to destination address using public key"),
        "{}",
        out(&o)
    );
    fs::remove_file(n.root.join("api-faults.json")).unwrap();
    // Without quorum nothing moves.
    fs::write(n.root.join("pve-sim-no-quorum"), "").unwrap();
    let o = n.pct(&["migrate", "93961", TARGET, "--restart"]);
    assert_eq!(err(&o), "cluster not ready - no quorum?\n");
    fs::remove_file(n.root.join("pve-sim-no-quorum")).unwrap();
    assert!(n.conf_path(93961).exists(), "still on the source");
    assert!(n.ok(&["status", "93961"]).contains("running"));

    // A bind-mounted rootfs (a local bind mount point) cannot follow.
    n.create(93962, &[]);
    let o = n.pct(&["migrate", "93962", TARGET]);
    assert!(
        out(&o).contains("cannot migrate local bind mount point 'rootfs'"),
        "{}",
        out(&o)
    );
    assert!(n.conf_path(93962).exists());
}

#[test]
fn a_restart_migration_runs_the_ct_on_the_target() {
    let Some(n) = root_node() else { return };
    let tmpl = template(&n);
    two_nodes(&n);
    let _moved = OnTarget(&n, vec![93963, 93964]);
    volume_ct(&n, 93963, &tmpl, true);
    let o = n.pct(&["migrate", "93963", TARGET, "--restart", "--timeout", "10"]);
    let log = out(&o);
    assert_eq!(code(&o), 0, "{log}{}", err(&o));
    for want in [
        " shutdown CT 93963\n",
        " starting migration of CT 93963 to node 'n2' (127.0.0.2)\n",
        " found local volume 'local-lvm:vm-93963-disk-0' (in current VM config)\n",
        " volume 'local-lvm:vm-93963-disk-0' is 'local-lvm:vm-93963-disk-0' on the target\n",
        " start final cleanup\n",
        " start container on target node\n",
        " # /usr/bin/ssh -e none -o BatchMode=yes -o HostKeyAlias=n2 root@127.0.0.2 pct start 93963\n",
        " migration finished successfully (duration 00:00:",
    ] {
        assert!(log.contains(want), "{want:?} in {log}");
    }
    assert!(!n.conf_path(93963).exists(), "gone from the source");
    let conf = fs::read_to_string(n.root.join("etc/pve/nodes/n2/lxc/93963.conf")).unwrap();
    assert!(!conf.contains("lock:"), "unlocked: {conf}");
    assert_eq!(
        out(&pct_on(&n, TARGET, &["status", "93963"])),
        "status: running\n"
    );
    let o = pct_on(&n, TARGET, &["exec", "93963", "--", "cat", "/etc/hello"]);
    assert_eq!(out(&o), "hello from the image\n", "{}", err(&o));
    assert_eq!(
        err(&n.pct(&["status", "93963"])),
        format!("Configuration file 'nodes/{NODE}/lxc/93963.conf' does not exist\n")
    );

    // A stopped CT moves without a restart, and stays stopped.
    volume_ct(&n, 93964, &tmpl, false);
    let o = n.pct(&["migrate", "93964", TARGET]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(!out(&o).contains("start container"), "{}", out(&o));
    assert_eq!(
        out(&pct_on(&n, TARGET, &["status", "93964"])),
        "status: stopped\n"
    );
}
