//! The lifecycle against a real Proxmox node, when one is named:
//! `PROXMOX_LXCRI_TEST_CONFIG=/path/config.toml` (a config for that node's `pct` backend; run on
//! the node as root). Without it the test reports itself skipped.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn lifecycle_on_a_real_node() {
    let Some(cfg) = std::env::var_os("PROXMOX_LXCRI_TEST_CONFIG") else {
        eprintln!("skipped: PROXMOX_LXCRI_TEST_CONFIG is not set (no real Proxmox node named)");
        return;
    };
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    make_rootfs(&bundle.join("rootfs"));
    let mut spec = base_spec();
    spec["process"]["args"] = serde_json::json!(["sh", "-c", "echo real; exit 5"]);
    write_spec(&bundle, &spec);
    let root = dir.path().join("run");
    let rt = || {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&root).arg("--config").arg(&cfg);
        c
    };
    let out = dir.path().join("out");
    let ok = rt()
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg("real1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(rt().args(["start", "real1"]).status().unwrap().success());
    wait_for("stopped", Duration::from_secs(60), || {
        let o = rt().args(["state", "real1"]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).contains("\"stopped\"")
    });
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "real\n");
    assert!(rt().args(["delete", "real1"]).status().unwrap().success());
}
