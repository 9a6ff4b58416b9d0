//! podman driving the runtime: a busybox image imported once, and podman with the runtime and
//! a sim's config.

use std::process::{Command, Output};
use std::sync::Once;

use super::{make_rootfs, runtime_bin, stderr, Sim};

pub const IMAGE: &str = "localhost/plx-busybox";

/// A busybox image imported from busybox-static (no registry needed), built once.
pub fn ensure_image() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if Command::new("podman")
            .args(["image", "exists", IMAGE])
            .status()
            .unwrap()
            .success()
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        make_rootfs(dir.path());
        let tar = dir.path().join("../plx-busybox.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(ok.success());
        let out = Command::new("podman")
            .arg("import")
            .arg(&tar)
            .arg(IMAGE)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&tar);
        assert!(out.status.success(), "podman import: {}", stderr(&out));
    });
}

pub fn podman(sim: &Sim, args: &[&str]) -> Output {
    let mut c = Command::new("podman");
    c.arg("--runtime")
        .arg(runtime_bin())
        .arg("--runtime-flag")
        .arg(format!("config={}", sim.config.display()));
    c.args(args).output().unwrap()
}
