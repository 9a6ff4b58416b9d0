//! The audit log end to end on pve-sim: one JSON line per changing operation with its caller,
//! the shim's line when the workload exits, errors with their message, concurrent writers, size rotation, and no secret in any log or
//! audit line of a run over the API backend.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::remote::{ApiRemote, TOKEN};
use common::*;
use serde_json::Value;

/// Point the audit log of `sim` at `path`, with more `[audit]` keys in `table`.
fn audit_to(sim: &Sim, path: &Path, table: &str) {
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let start = conf
        .find("\n[audit]\npath = ")
        .expect("the sim's [audit] table");
    let end = start
        + 1
        + conf[start + 1..]
            .find("\n[")
            .unwrap_or(conf.len() - start - 1);
    let table = format!("\n[audit]\npath = \"{}\"\n{table}\n", path.display());
    std::fs::write(
        &sim.config,
        format!("{}{table}{}", &conf[..start], &conf[end..]),
    )
    .unwrap();
}

/// Every line of `path`, each parsed (a line that is not one JSON object fails the test).
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn ops(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["operation"].as_str().unwrap().to_string())
        .collect()
}

fn my_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn a_local_lifecycle_leaves_one_line_per_change_naming_the_caller() {
    let sim = Sim::new("audit_lifecycle");
    let log = sim.dir.path().join("audit/audit.jsonl");
    audit_to(&sim, &log, "");
    let bundle = sim.bundle("b", "sleep 100");
    let c = create(&sim, &bundle, "c1");
    let vmid = sim.cts()[0].0;
    c.start();
    // Read-only commands leave nothing.
    sim.state_json("c1");
    assert!(sim.run(&["list"]).status.success());
    assert!(sim.run(&["gc", "--dry-run"]).status.success());
    let k = sim.run(&["kill", "c1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(c.wait(), 137);
    c.delete();
    let mut got = lines(&log);
    // The shim's own line when the workload ended: it names the shim as the caller, with the
    // workload's status (it may come before `kill`'s, which is written once kill returns).
    let exit = got
        .iter()
        .position(|l| l["operation"] == "exit")
        .unwrap_or_else(|| panic!("no exit line: {got:?}"));
    let exit = got.remove(exit);
    assert_eq!(ops(&got), ["create", "start", "kill", "delete"]);
    assert_eq!(exit["status"], 137, "{exit}");
    assert_eq!(exit["caller"]["pid"], c.pid, "the shim: {exit}");
    assert_eq!(exit["caller"]["comm"], "proxmox-lxcri", "{exit}");
    for (k, v) in [
        ("id", "c1"),
        ("node", "sim"),
        ("backend", "pct"),
        ("result", "ok"),
    ] {
        assert_eq!(exit[k], v, "{exit}");
    }
    assert_eq!(exit["vmid"], vmid, "{exit}");
    for l in &got {
        assert_eq!(l["id"], "c1", "{l}");
        assert_eq!(l["vmid"], vmid, "{l}");
        assert_eq!(l["node"], "sim", "{l}");
        assert_eq!(l["backend"], "pct", "{l}");
        assert_eq!(l["result"], "ok", "{l}");
        assert!(l.get("error").is_none() && l.get("upid").is_none(), "{l}");
        assert_eq!(l["caller"]["pid"], std::process::id(), "{l}");
        assert_eq!(l["caller"]["uid"], 0, "{l}");
        assert_eq!(l["caller"]["comm"], my_comm(), "{l}");
        let exe = std::env::args().next().unwrap();
        assert!(
            l["caller"]["cmdline"].as_str().unwrap().starts_with(&exe),
            "{l}"
        );
        let t = l["time"].as_str().unwrap();
        assert!(
            humantime::parse_rfc3339(t).is_ok() && t.ends_with('Z') && t.len() == 24,
            "{t}"
        );
    }
}

/// podman's cleanup calls `delete` without the `--config` its caller gave: a container's lines
/// go where the configuration it was created with says, whatever the call's own; a call whose
/// configuration cannot be read does nothing and leaves no line.
#[test]
fn a_containers_lines_follow_its_own_configuration() {
    let sim = Sim::new("audit_follow");
    let log = sim.dir.path().join("audit.jsonl");
    let c = create(&sim, &sim.bundle("b", "true"), "c1");
    // Calls from now on name another audit log.
    let other_log = sim.dir.path().join("other.jsonl");
    audit_to(&sim, &other_log, "");
    c.delete();
    assert_eq!(ops(&lines(&log)), ["create", "delete"]);
    assert!(!other_log.exists(), "{:?}", lines(&other_log));

    let conf = std::fs::read_to_string(&sim.config).unwrap();
    std::fs::write(&sim.config, format!("backend = 3\n{conf}")).unwrap();
    let b = sim.bundle("b2", "true");
    // Not in the default log either (no test of this suite writes there).
    let default = Path::new("/var/log/proxmox-lxcri/audit.jsonl");
    let before = lines(default).len();
    let out = sim.run(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("config.toml"), "{}", stderr(&out));
    assert!(!other_log.exists(), "{:?}", lines(&other_log));
    assert_eq!(lines(default).len(), before, "{default:?}");
    assert_eq!(ops(&lines(&log)), ["create", "delete"]);
}

#[test]
fn a_failed_operation_is_audited_with_its_message() {
    let sim = Sim::new("audit_error");
    let log = sim.dir.path().join("audit.jsonl");
    audit_to(&sim, &log, "");
    let out = sim.run(&["kill", "nosuch", "KILL"]);
    assert!(!out.status.success());
    let got = lines(&log);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["operation"], "kill");
    assert_eq!(got[0]["id"], "nosuch");
    assert_eq!(got[0]["result"], "error");
    assert_eq!(got[0]["error"], stderr(&out).trim_end());
    assert!(got[0].get("vmid").is_none(), "no CT: {}", got[0]);
}

#[test]
fn an_unwritable_audit_log_is_a_warning_not_a_failure() {
    let sim = Sim::new("audit_unwritable");
    audit_to(&sim, Path::new("/proc/no-such-dir/audit.jsonl"), "");
    let runlog = sim.dir.path().join("run.log");
    // A node with no CT yet: gc succeeds with nothing to do.
    std::fs::create_dir_all(sim.sim_root.join("etc/pve/lxc")).unwrap();
    let out = sim
        .runtime()
        .arg("--log")
        .arg(&runlog)
        .args(["gc"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&runlog).unwrap();
    let warns: Vec<&str> = text.lines().filter(|l| l.contains("audit log")).collect();
    assert_eq!(warns.len(), 1, "{text}");
    assert!(
        warns[0].contains("warn") && warns[0].contains("/proc/no-such-dir/audit.jsonl"),
        "{text}"
    );
}

#[test]
fn concurrent_writers_never_interleave_and_rotation_keeps_every_line() {
    let sim = Sim::new("audit_concurrent");
    let log = sim.dir.path().join("audit.jsonl");
    // Small enough that the runs below rotate many times while they race.
    audit_to(&sim, &log, "max_size = 3000\nkeep = 1000");
    const N: usize = 48;
    let children: Vec<_> = (0..N)
        .map(|i| {
            sim.runtime()
                .args(["kill", &format!("nosuch-{i}"), "KILL"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(!c.wait().unwrap().success());
    }
    let mut files: Vec<PathBuf> = vec![log.clone()];
    files.extend((1..=1000).map(|i| PathBuf::from(format!("{}.{i}", log.display()))));
    let files: Vec<PathBuf> = files.into_iter().filter(|f| f.exists()).collect();
    assert!(files.len() > 3, "rotated: {files:?}");
    let mut ids: Vec<String> = Vec::new();
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size <= 3000, "{}: {size} bytes", f.display());
        ids.extend(
            lines(f)
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_string()),
        );
    }
    ids.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("nosuch-{i}")).collect();
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn rotation_keeps_only_the_newest_files() {
    let sim = Sim::new("audit_rotation");
    let log = sim.dir.path().join("audit.jsonl");
    audit_to(&sim, &log, "max_size = 1\nkeep = 2");
    for i in 0..5 {
        sim.run(&["kill", &format!("x{i}"), "KILL"]);
    }
    let id = |f: &str| lines(Path::new(&format!("{}{f}", log.display())))[0]["id"].clone();
    // max_size below one line: each file holds one.
    assert_eq!(
        (id(""), id(".1"), id(".2")),
        ("x4".into(), "x3".into(), "x2".into())
    );
    assert!(!Path::new(&format!("{}.3", log.display())).exists());
}

/// The runtime over the API backend with a debug log at `log`.
fn api_runtime(r: &ApiRemote, log: &Path) -> Command {
    let mut c = r.sim.runtime();
    c.arg("--debug").arg("--log").arg(log);
    c.stdin(Stdio::null());
    c
}

#[test]
fn a_remote_run_writes_upids_and_never_the_token_secret() {
    let r = ApiRemote::new("audit_api_secret", "sim", "sim", "");
    let audit = r.sim.dir.path().join("audit.jsonl");
    audit_to(&r.sim, &audit, "");
    let log = r.sim.dir.path().join("debug.log");
    let bundle = r.sim.bundle("b", "echo hi; exit 3");
    let run = |args: &[&str]| {
        let out = api_runtime(&r, &log).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    // The shim keeps create's stdio (the workload's): files, not pipes to wait on.
    let err = r.sim.dir.path().join("create.err");
    let st = api_runtime(&r, &log)
        .args(["create", "--bundle", bundle.to_str().unwrap(), "c1"])
        .stdout(std::fs::File::create(r.sim.dir.path().join("create.out")).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(
        st.success(),
        "create: {}",
        std::fs::read_to_string(&err).unwrap()
    );
    run(&["start", "c1"]);
    wait_for("c1 to stop", Duration::from_secs(60), || {
        let out = api_runtime(&r, &log)
            .args(["state", "c1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("\"stopped\"")
    });
    run(&["delete", "c1"]);
    // A failure over the API too (no such container to kill).
    let out = api_runtime(&r, &log)
        .args(["kill", "nosuch", "KILL"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(r.cts_on("sim").is_empty());

    let secret = TOKEN.rsplit_once('=').unwrap().1;
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.lines().count() > 20, "a debug log: {log_text}");
    for (i, l) in log_text.lines().enumerate() {
        assert!(
            !l.contains(secret),
            "debug log line {i} holds the secret: {l}"
        );
    }
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    for (i, l) in audit_text.lines().enumerate() {
        assert!(!l.contains(secret), "audit line {i} holds the secret: {l}");
    }
    let mut got = lines(&audit);
    assert_eq!(ops(&got), ["create", "start", "exit", "delete", "kill"]);
    // The shim's line of the workload's end, with its status.
    let exit = got.remove(2);
    assert_eq!(
        (&exit["status"], &exit["backend"]),
        (&3.into(), &"api".into()),
        "{exit}"
    );
    for l in &got[..3] {
        assert_eq!(l["backend"], "api", "{l}");
        assert_eq!(l["result"], "ok", "{l}");
        assert!(l["vmid"].is_u64(), "{l}");
    }
    // create and delete wait for vzcreate and vzstop/vzdestroy; start's vzstart is the shim's.
    for l in [&got[0], &got[2]] {
        let upids = l["upid"]
            .as_array()
            .unwrap_or_else(|| panic!("no upid: {l}"));
        assert!(
            upids
                .iter()
                .all(|u| u.as_str().unwrap().starts_with("UPID:sim:")),
            "{l}"
        );
    }
    assert_eq!(got[3]["result"], "error");
}
