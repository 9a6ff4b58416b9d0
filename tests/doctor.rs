//! `proxmox-lxcri doctor` against pve-sim: a healthy node (pct backend) passes; a token without
//! `VM.Allocate`, a wrong certificate pin and a missing init binary fail, each naming the culprit
//! and the fix. Nothing here creates a CT.

mod common;

use std::process::Output;

use common::remote::ApiRemote;
use common::*;
use serde_json::Value;

fn doctor(sim: &Sim, json: bool) -> Output {
    let mut args = vec!["doctor"];
    if json {
        args.push("--json");
    }
    sim.run(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `--json` array as (check, ok, detail, fix) rows; every row has the four keys.
fn rows(o: &Output) -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("--json: {e}: {}", stdout(o)));
    let rows = v.as_array().expect("an array").clone();
    for r in &rows {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["check", "detail", "fix", "ok"], "{r}");
        assert_eq!(
            r["ok"] == false,
            r["fix"].is_string(),
            "a fix for each failure: {r}"
        );
    }
    rows
}

#[test]
fn healthy_sim_node_passes() {
    let sim = Sim::with_config("doctor_healthy", "unprivileged = true\n");
    // A node has pmxcfs mounted; the sim lays its tree out on first use.
    assert!(sim.pct(&["list"]).status.success());
    let o = doctor(&sim, false);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    for check in [
        "node",
        "quorum",
        "subuid",
        "subgid",
        "init binary",
        "state root",
        "apparmor",
        "lxcfs",
    ] {
        assert!(
            text.lines().any(|l| l.contains(&format!(" {check}: "))),
            "no {check} line in:\n{text}"
        );
    }
    assert!(!text.contains('✗'), "{text}");
    // AppArmor is not enabled on this machine: information, not a failure.
    assert!(
        text.lines()
            .any(|l| l.starts_with("i apparmor: not enabled")),
        "{text}"
    );
    let o = doctor(&sim, true);
    assert!(o.status.success());
    assert!(rows(&o).iter().all(|r| r["ok"] == true));
    assert!(sim.no_cts());
}

#[test]
fn missing_init_binary_fails() {
    let sim = Sim::with_config("doctor_no_init", "");
    assert!(sim.pct(&["list"]).status.success());
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let conf: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("init_path") {
                "init_path = \"/nonexistent/proxmox-lxcri-init\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&sim.config, conf).unwrap();
    let o = doctor(&sim, false);
    let text = stdout(&o);
    assert!(!o.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("✗ init binary: /nonexistent/proxmox-lxcri-init"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("fix: install proxmox-lxcri-init"), "{line}");
    assert!(stderr(&o).contains("checks failed"), "{}", stderr(&o));
}

#[test]
fn token_without_vm_allocate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl.json");
    std::fs::write(
        &acl,
        serde_json::json!({
            "/": ["Sys.Audit"],
            "/vms": ["VM.Audit", "VM.PowerMgmt", "VM.Config.Options", "VM.Config.Memory",
                     "VM.Config.CPU", "VM.Config.Disk", "VM.Config.Network"],
            "/storage": ["Datastore.Audit", "Datastore.AllocateSpace",
                         "Datastore.AllocateTemplate", "Datastore.Allocate"],
        })
        .to_string(),
    )
    .unwrap();
    let r = ApiRemote::with_api_args(
        "doctor_acl",
        "sim",
        "sim",
        "",
        &["--acl", acl.to_str().unwrap()],
    );
    let o = doctor(&r.sim, false);
    let text = stdout(&o);
    assert!(!o.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("✗ token privileges:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("VM.Allocate on /vms"), "{line}");
    assert!(line.contains("pveum acl modify"), "{line}");
    // The rest of the node is fine: reachable, pinned, token accepted, storage, ssh.
    for good in [
        "✓ node reachable",
        "✓ tls",
        "✓ token:",
        "✓ quorum",
        "✓ ssh (sim)",
    ] {
        assert!(text.contains(good), "{good} in:\n{text}");
    }
    let rows = rows(&doctor(&r.sim, true));
    let failed: Vec<&Value> = rows.iter().filter(|r| r["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["detail"]
        .as_str()
        .unwrap()
        .contains("VM.Allocate on /vms"));
    assert!(r.cts_on("sim").is_empty());
}

#[test]
fn full_token_passes_and_wrong_fingerprint_fails() {
    let r = ApiRemote::new("doctor_pin", "sim", "sim", "");
    let o = doctor(&r.sim, false);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let conf = std::fs::read_to_string(&r.sim.config).unwrap();
    let wrong = vec!["00"; 32].join(":");
    std::fs::write(&r.sim.config, conf.replace(&r.api.fingerprint, &wrong)).unwrap();
    let o = doctor(&r.sim, false);
    let text = stdout(&o);
    assert!(!o.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("✗ tls:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("fingerprint mismatch"), "{line}");
    assert!(
        line.contains(&format!("api.fingerprint = \"{}\"", r.api.fingerprint)),
        "the fix names the presented fingerprint: {line}"
    );
}

#[test]
fn ssh_backend_and_an_unknown_host_key() {
    use common::remote::Remote;
    let r = Remote::ssh("doctor_ssh", "");
    assert!(r.sim.pct(&["list"]).status.success());
    let o = doctor(&r.sim, false);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    for good in [
        "✓ ssh (sim)",
        "✓ ssh host key (sim)",
        "✓ template storage local on sim",
        "✓ quorum",
    ] {
        assert!(text.contains(good), "{good} in:\n{text}");
    }
    std::fs::write(&r.sshd.known_hosts, "").unwrap();
    let o = doctor(&r.sim, false);
    let text = stdout(&o);
    assert!(!o.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("✗ ssh host key (sim): host key of 127.0.0.1:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("ssh-keyscan -p"), "{line}");
}
