//! Proxmox volumes for container paths (docs/storage.md) end to end on pve-sim with real LXC:
//! `org.proxmox.lxcri/volume.<name>` becomes an `mpN` allocated on its storage whose size is a
//! hard limit (the sim's loop-mounted ext4 image), over the ssh and the api backend; bad
//! annotations are refused with one line naming them and nothing made.

mod common;

use std::path::Path;

use common::remote::{ApiRemote, Remote};
use common::*;

const VOL: &str = "org.proxmox.lxcri/volume.data";

fn annotate(bundle: &Path, pairs: &[(&str, &str)]) {
    edit_spec(bundle, |spec| {
        for (k, v) in pairs {
            spec["annotations"][*k] = (*v).into();
        }
    });
}

/// Loop devices whose backing file is under `dir` (the sim's images).
fn loops_under(dir: &Path) -> Vec<String> {
    let o = std::process::Command::new("losetup")
        .arg("-a")
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(&*dir.to_string_lossy()))
        .map(String::from)
        .collect()
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let want = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&want)))
        .map(String::from)
        .collect()
}

/// A 1 GiB volume refuses a 2 GiB write with ENOSPC, whatever the bind mount at its path said;
/// the root size comes from its annotation; everything goes with the container.
fn quota_is_enforced(sim: &Sim, cts: impl Fn() -> Vec<u32>, pct: impl Fn(&[&str]) -> String) {
    let bundle = sim.bundle(
        "b",
        "dd if=/dev/zero of=/data/big bs=1M count=2048 2>&1; echo dd:$?; ls /data",
    );
    // A bind mount at the volume's path: the volume replaces it.
    let src = sim.dir.path().join("bound");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("from-bind"), "x").unwrap();
    edit_spec(&bundle, |spec| {
        spec["mounts"] = serde_json::json!([{"destination": "/data", "type": "bind",
            "source": src, "options": ["rbind"]}]);
    });
    annotate(
        &bundle,
        &[
            (VOL, "local-lvm:1,mp=/data,backup=1"),
            ("org.proxmox.lxcri/rootfs-size", "2"),
        ],
    );
    let c = create(sim, &bundle, "c1");
    let vmid = cts()[0];
    let conf = pct(&["config", &vmid.to_string()]);
    assert!(
        conf.contains(&format!(
            "mp0: local-lvm:vm-{vmid}-disk-1,mp=/data,backup=1,size=1G\n"
        )),
        "{conf}"
    );
    assert!(
        conf.contains(&format!("rootfs: local-lvm:vm-{vmid}-disk-0,size=2G\n")),
        "{conf}"
    );
    let out = c.run(0);
    assert!(out.contains("No space left on device"), "{out}");
    assert!(out.contains("dd:1\n"), "dd failed: {out}");
    assert!(!out.contains("from-bind"), "the bind is replaced: {out}");
    c.delete();
    assert!(cts().is_empty(), "no CT");
    let pool = sim.sim_root.join("var/lib/pve-sim-lvm/pve/data");
    assert!(
        std::fs::read_dir(&pool).map_or(true, |d| d.count() == 0),
        "volumes destroyed with the CT"
    );
    assert_eq!(mounts_under(&sim.sim_root), Vec::<String>::new());
    assert_eq!(loops_under(&sim.sim_root), Vec::<String>::new());
}

#[test]
fn a_1g_volume_refuses_a_2g_write_over_ssh() {
    let r = Remote::ssh("vol_quota_ssh", "");
    quota_is_enforced(
        &r.sim,
        || r.sim.cts().into_iter().map(|(v, _)| v).collect(),
        |a| String::from_utf8_lossy(&r.sim.pct(a).stdout).into_owned(),
    );
}

#[test]
fn a_1g_volume_refuses_a_2g_write_over_the_api() {
    let r = ApiRemote::new("vol_quota_api", "sim", "sim", "");
    quota_is_enforced(
        &r.sim,
        || r.cts_on("sim"),
        |a| String::from_utf8_lossy(&r.pct_on("sim", a).stdout).into_owned(),
    );
}

#[test]
fn bad_volume_annotations_are_refused_with_one_line_and_nothing_made() {
    let r = Remote::ssh("vol_bad", "");
    let sim = &r.sim;
    for (key, value, want) in [
        (VOL, "local-lvm:1G,mp=/data", "size '1G' is not a positive number of GiB"),
        (VOL, "local-lvm:1", "mp=<path in the container> is missing"),
        (VOL, "local-lvm:1,mp=/data,ro=yes", "ro 'yes': want 0 or 1"),
        (VOL, "local-lvm:1,mp=/data,colour=red", "unknown option 'colour'"),
        (
            "org.proxmox.lxcri/rootfs-size",
            "lots",
            "'lots' is not a positive number of GiB",
        ),
        // A stock node's `local` holds no CT volumes: refused before any upload or create.
        (
            VOL,
            "local:1,mp=/data",
            "storage 'local' on node sim does not allow content type 'rootdir' (or does not exist), needed for volumes",
        ),
        (
            VOL,
            "nope:1,mp=/data",
            "storage 'nope' on node sim does not allow content type 'rootdir' (or does not exist)",
        ),
    ] {
        let bundle = sim.bundle("b", "true");
        annotate(&bundle, &[(key, value)]);
        let err = sim.create_refused(&bundle, "c1");
        assert!(
            err.contains(&format!("annotations[\"{key}\"]: ")),
            "{err:?} names {key}"
        );
        assert!(err.contains(want), "{err:?} does not say {want:?}");
        assert!(r.templates().is_empty(), "nothing uploaded");
    }
}

#[test]
fn volumes_are_refused_on_the_pct_backend_with_one_line() {
    let sim = Sim::new("vol_local");
    let bundle = sim.bundle("b", "true");
    annotate(&bundle, &[(VOL, "local-lvm:1,mp=/data")]);
    let err = sim.create_refused(&bundle, "c1");
    assert!(
        err.contains(&format!(
            "annotations[\"{VOL}\"]: volumes need the ssh or api backend"
        )),
        "{err}"
    );
}

/// `keep=1`: the data outlives its container and goes to the next one asking for the name;
/// while a container has it, another asking is refused with one line and nothing made.
fn kept_volume_follows_its_name(
    sim: &Sim,
    cts: impl Fn() -> Vec<u32>,
    pct: impl Fn(&[&str]) -> String,
) {
    let kept = "local-lvm:1,mp=/data,keep=1";
    let b1 = sim.bundle("b1", "echo from-c1 > /data/f");
    annotate(&b1, &[(VOL, kept)]);
    let c1 = create(sim, &b1, "c1");
    let ct1 = cts()[0];
    assert_eq!(c1.run(0), "");

    let b2 = sim.bundle("b2", "cat /data/f; echo from-c2 >> /data/f");
    annotate(&b2, &[(VOL, kept)]);
    let out = sim.run(&["create", "--bundle", b2.to_str().unwrap(), "c2"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!(
            "annotations[\"{VOL}\"]: volume 'data' is in use by container c1 (CT {ct1})"
        )),
        "{err}"
    );
    assert_eq!(cts(), vec![ct1], "nothing made");
    assert!(!sim.state_root.join("c2").exists());

    // Deleted: its CT stays, stopped, as the holder of the volume.
    c1.delete();
    assert_eq!(cts(), vec![ct1]);
    let conf = pct(&["config", &ct1.to_string()]);
    assert!(!conf.contains("proxmox-lxcri id: c1"), "{conf}");
    assert!(conf.contains("mp0: local-lvm:vm-"), "{conf}");

    let c2 = create(sim, &b2, "c2");
    let now = cts();
    assert_eq!(
        now.len(),
        1,
        "the holder is gone once its volume moved: {now:?}"
    );
    let ct2 = now[0];
    assert_ne!(ct2, ct1);
    let conf = pct(&["config", &ct2.to_string()]);
    assert!(
        conf.contains(&format!("mp0: local-lvm:vm-{ct2}-disk-1,mp=/data,size=1G")),
        "{conf}"
    );
    assert_eq!(c2.run(0), "from-c1\n");
    c2.delete();

    let b3 = sim.bundle("b3", "cat /data/f");
    annotate(&b3, &[(VOL, kept)]);
    let c3 = create(sim, &b3, "c3");
    assert_eq!(c3.run(0), "from-c1\nfrom-c2\n");
    c3.delete();
    // Without keep the name means nothing: a new, empty volume.
    let b4 = sim.bundle("b4", "ls /data");
    annotate(&b4, &[(VOL, "local-lvm:1,mp=/data")]);
    let c4 = create(sim, &b4, "c4");
    assert_eq!(c4.run(0), "lost+found\n");
    c4.delete();
    assert_eq!(cts().len(), 1, "only the holder is left");
    assert_eq!(mounts_under(&sim.sim_root), Vec::<String>::new());
    assert_eq!(loops_under(&sim.sim_root), Vec::<String>::new());
}

#[test]
fn a_kept_volume_follows_its_name_over_ssh() {
    let r = Remote::ssh("vol_keep_ssh", "");
    kept_volume_follows_its_name(
        &r.sim,
        || r.sim.cts().into_iter().map(|(v, _)| v).collect(),
        |a| String::from_utf8_lossy(&r.sim.pct(a).stdout).into_owned(),
    );
}

#[test]
fn a_kept_volume_follows_its_name_over_the_api() {
    let r = ApiRemote::new("vol_keep_api", "sim", "sim", "");
    kept_volume_follows_its_name(
        &r.sim,
        || r.cts_on("sim"),
        |a| String::from_utf8_lossy(&r.pct_on("sim", a).stdout).into_owned(),
    );
}

#[test]
fn a_volume_storage_without_rootdir_is_refused_over_the_api_before_anything_is_made() {
    let r = ApiRemote::new("vol_bad_api", "sim", "sim", "");
    let sim = &r.sim;
    let bundle = sim.bundle("b", "true");
    annotate(&bundle, &[(VOL, "local:1,mp=/data")]);
    let err = sim.create_refused(&bundle, "c1");
    assert!(
        err.contains(&format!(
            "annotations[\"{VOL}\"]: storage 'local' on node sim does not allow content type 'rootdir', needed for volumes"
        )),
        "{err}"
    );
    assert!(r.cts_on("sim").is_empty(), "no CT");
}
