//! `images import`: a rootfs packed and uploaded ahead of `create`, over ssh and over the api;
//! the later `create` of a bundle with that rootfs uploads nothing; bad input is refused in one
//! line and leaves nothing.

mod common;

use std::path::{Path, PathBuf};

use common::remote::{ApiRemote, Remote};
use common::*;

fn import(sim: &Sim, rootfs: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["images", "import", rootfs.to_str().unwrap()];
    args.extend_from_slice(extra);
    sim.run(&args)
}

fn import_then_create(sim: &Sim) {
    let bundle = sim.bundle("b", "cat /marker");
    let rootfs: PathBuf = bundle.join("rootfs");
    std::fs::write(rootfs.join("marker"), "imported\n").unwrap();
    let out = import(sim, &rootfs, &["--storage", "local"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let volid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        volid.starts_with("local:vztmpl/proxmox-lxcri-") && volid.ends_with(".tar"),
        "{volid:?}"
    );
    let err = stderr(&out);
    assert!(
        !err.contains('\r'),
        "no carriage return off a terminal: {err:?}"
    );
    assert!(err.contains("uploading"), "{err}");
    assert!(err.contains(&format!("done: {volid}")), "{err}");
    let listing = String::from_utf8_lossy(&sim.run(&["images"]).stdout).into_owned();
    assert!(listing.contains(&volid), "{listing}");
    let before = uploads(sim);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(volid.ends_with(&before[0].0));

    // Imported again: found, nothing uploaded.
    let again = import(sim, &rootfs, &["--storage", "local"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), volid);
    assert!(!stderr(&again).contains("uploading"), "{}", stderr(&again));

    let c = create(sim, &bundle, "c1");
    assert_eq!(uploads(sim), before, "create uploaded nothing");
    assert_eq!(c.run(0).trim(), "imported");
    c.delete();
}

fn refusals(sim: &Sim, wrong_store: &str) {
    let bundle = sim.bundle("bad", "true");
    let rootfs = bundle.join("rootfs");
    let missing = sim.dir.path().join("no-such-rootfs");
    let layout = sim.dir.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("index.json"), "{}").unwrap();
    let cases: [(&Path, &str, &str); 4] = [
        (&missing, "local", "no-such-rootfs: not a rootfs directory"),
        (
            &layout,
            "local",
            "layout/index.json: no manifest for linux/amd64",
        ),
        (&rootfs, "nosuch", "'nosuch'"),
        (&rootfs, "local-lvm", wrong_store),
    ];
    for (dir, store, want) in cases {
        let out = import(sim, dir, &["--storage", store]);
        assert!(!out.status.success(), "{store}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "{err:?} does not name {want:?}");
        assert!(out.stdout.is_empty());
        assert!(uploads(sim).is_empty(), "nothing uploaded");
    }
}

#[test]
fn import_over_ssh() {
    let r = Remote::ssh("import_over_ssh", "");
    refusals(
        &r.sim,
        "storage 'local-lvm' on node sim does not allow content type 'vztmpl'",
    );
    import_then_create(&r.sim);
    assert!(r.sim.no_cts());
    let b = r.sim.bundle("tty", "true");
    std::fs::write(b.join("rootfs/big"), vec![7u8; 4 << 20]).unwrap();
    let shown = import_on_a_terminal(&r.sim, &b.join("rootfs"));
    assert!(shown.contains("\ruploading: "), "{shown:?}");
    assert!(shown.contains("(100%)"), "{shown:?}");
    assert!(shown.contains("local:vztmpl/proxmox-lxcri-"), "{shown:?}");
}

#[test]
fn import_over_api() {
    let r = ApiRemote::new("import_over_api", "sim", "sim", "");
    refusals(
        &r.sim,
        "storage 'local-lvm' on node sim does not allow content type 'vztmpl'",
    );
    import_then_create(&r.sim);
    assert!(r.cts_on("sim").is_empty());
}

#[test]
fn refused_on_the_pct_backend() {
    let sim = Sim::new("import_pct");
    let bundle = sim.bundle("b", "true");
    let out = import(&sim, &bundle.join("rootfs"), &["--storage", "local"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("the pct backend uses no templates"), "{err}");
    assert!(uploads(&sim).is_empty());
}

#[test]
fn another_node_by_name() {
    let r = ApiRemote::new("import_other_node", "sim,n2", "sim", "");
    let bundle = r.sim.bundle("b", "true");
    let rootfs = bundle.join("rootfs");
    let out = import(&r.sim, &rootfs, &["--storage", "local", "--node", "nosuch"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("nosuch"), "{err}");
    let out = import(&r.sim, &rootfs, &["--storage", "local", "--node", "n2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("to local on n2"), "{}", stderr(&out));
}
