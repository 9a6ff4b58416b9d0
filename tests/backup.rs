//! Backup and restore end to end on pve-sim (real LXC, real vzdump archives): a container's
//! data survives backup → delete → restore byte for byte, over ssh and over the API; the
//! runtime's backups are listed and pruned; bad input is refused with one line and leaves
//! nothing; the pct backend refuses.

mod common;

use common::remote::{ApiRemote, Remote};
use common::*;

/// Writes 512 KiB of random data into the rootfs and prints its checksum.
const WRITE: &str =
    "busybox dd if=/dev/urandom of=/root/blob bs=1024 count=512 2>/dev/null; busybox sha256sum /root/blob";
const READ: &str = "busybox sha256sum /root/blob";

fn ok(sim: &Sim, args: &[&str]) -> String {
    let out = sim.run(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line on stderr naming `want`, a failed exit.
fn refused(sim: &Sim, args: &[&str], want: &str) {
    let out = sim.run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = stderr(&out);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line: {err}"
    );
    assert!(
        err.contains(want),
        "{args:?}: {err:?} does not name {want:?}"
    );
}

/// backup → delete → restore; returns nothing, asserts the data came back.
fn round_trip(sim: &Sim, cts: &dyn Fn() -> Vec<u32>) {
    let b1 = sim.bundle("b1", WRITE);
    let c1 = create(sim, &b1, "c1");
    let written = c1.run(0);
    assert!(written.ends_with("  /root/blob\n"), "{written}");

    let volid = ok(sim, &["backup", "c1"]).trim().to_string();
    assert!(
        volid.starts_with("local:backup/vzdump-lxc-") && volid.ends_with(".tar.zst"),
        "{volid}"
    );
    assert!(ok(sim, &["backups"]).contains(&volid));
    c1.delete();
    assert!(cts().is_empty(), "the CT is gone with its container");

    let b2 = sim.bundle("b2", READ);
    let out = sim
        .runtime()
        .args(["restore", &volid, "--bundle"])
        .arg(&b2)
        .arg(format!(
            "--pid-file={}",
            sim.dir.path().join("c2.pid").display()
        ))
        .arg("c2")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(sim.dir.path().join("c2.out")).unwrap())
        .stderr(std::fs::File::create(sim.dir.path().join("c2.err")).unwrap())
        .status()
        .unwrap();
    let err = std::fs::read_to_string(sim.dir.path().join("c2.err")).unwrap();
    assert!(out.success(), "restore: {err}");
    assert_eq!(sim.state_json("c2")["status"], "created");
    let c2 = Ctr {
        sim,
        id: "c2".into(),
        pid: std::fs::read_to_string(sim.dir.path().join("c2.pid"))
            .unwrap()
            .parse()
            .unwrap(),
        out: sim.dir.path().join("c2.out"),
        err: sim.dir.path().join("c2.err"),
    };
    assert_eq!(c2.run(0), written, "the restored blob is the backed-up one");
    assert_eq!(cts().len(), 1);

    let pruned = ok(sim, &["backups", "--prune", "--keep-last", "0"]);
    assert_eq!(pruned, format!("removed {volid}\n"));
    assert!(!ok(sim, &["backups"]).contains(&volid), "pruned");
    c2.delete();
}

#[test]
fn data_survives_backup_delete_restore_over_ssh() {
    let r = Remote::ssh("backup_ssh", "");
    round_trip(&r.sim, &|| r.cts_on("sim"));
}

#[test]
fn data_survives_backup_delete_restore_over_api() {
    let r = ApiRemote::new("backup_api", "sim", "sim", "");
    round_trip(&r.sim, &|| r.cts_on("sim"));
}

#[test]
fn a_running_container_keeps_running_through_its_backup() {
    let r = Remote::ssh("backup_running", "");
    let sim = &r.sim;
    let b = sim.bundle("b", "echo ready > /root/ready; sleep 1000");
    let c = create(sim, &b, "c1");
    c.start();
    let vmid = r.cts_on("sim")[0].to_string();
    wait_for("the workload", std::time::Duration::from_secs(20), || {
        r.pct_on("sim", &["exec", &vmid, "--", "cat", "/root/ready"])
            .status
            .success()
    });
    // snapshot mode falls back to suspend on the sim's storages: frozen, never stopped.
    let volid = ok(sim, &["backup", "c1", "--mode", "snapshot"]);
    assert!(volid.starts_with("local:backup/vzdump-lxc-"), "{volid}");
    assert_eq!(c.status(), "running");
    let pid = sim.state_json("c1")["pid"].clone();
    assert_eq!(
        pid.as_i64().map(|p| p as i32),
        Some(c.pid),
        "the same process"
    );
    assert!(ok(sim, &["backups"]).contains(volid.trim()));
    let k = sim.run(&["kill", "c1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    c.wait();
    c.delete();
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let r = Remote::ssh("backup_bad", "");
    let sim = &r.sim;
    refused(sim, &["backup", "nosuch"], "nosuch");
    let b = sim.bundle("b", "true");
    let bundle = b.to_str().unwrap();
    let missing = "local:backup/vzdump-lxc-100-2020_01_01-00_00_00.tar.zst";
    refused(
        sim,
        &["restore", missing, "--bundle", bundle, "r1"],
        missing,
    );
    refused(
        sim,
        &["restore", "local:vztmpl/x.tar", "--bundle", bundle, "r2"],
        "local:vztmpl/x.tar",
    );
    for id in ["r1", "r2"] {
        assert!(!sim.state_root.join(id).exists(), "no state for {id}");
    }
    assert!(r.cts_on("sim").is_empty(), "no CT made");

    let c = create(sim, &b, "c1");
    refused(sim, &["backup", "c1", "--storage", "nosuch"], "nosuch");
    refused(
        sim,
        &["backup", "c1", "--storage", "local-lvm"],
        "local-lvm",
    );
    assert!(
        !ok(sim, &["backups"]).contains("vzdump-lxc-"),
        "no archive made"
    );
    c.delete();
}

#[test]
fn the_pct_backend_refuses_backups() {
    let sim = Sim::new("backup_pct");
    let b = sim.bundle("b", "true");
    let c = create(&sim, &b, "c1");
    refused(
        &sim,
        &["backup", "c1"],
        "backup and restore need the ssh or api backend",
    );
    c.delete();
}
