//! `events`: runc's JSON lines of stats and OOM kills, from a local CT's cgroup and network
//! namespace, or from Proxmox's status/current for a CT on another node; on pve-sim with real
//! LXC containers.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::remote::{ApiRemote, Remote};
use common::*;
use serde_json::Value;

fn stats_line(sim: &Sim, id: &str) -> Value {
    let out = sim.run(&["events", "--stats", id]);
    assert!(out.status.success(), "events --stats: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], id, "{v}");
    v
}

/// Start `events` on `id` and collect its lines until it exits (or `limit` passes).
fn follow(sim: &Sim, args: &[&str], limit: Duration) -> (Vec<Value>, bool, Duration) {
    let t0 = Instant::now();
    let mut child = sim
        .runtime()
        .arg("events")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut lines = Vec::new();
    let ok = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.success();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(l) = rx.try_recv() {
        lines.push(serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}")));
    }
    (lines, ok, t0.elapsed())
}

#[test]
fn stats_of_a_running_local_container() {
    let sim = Sim::new("events_stats");
    let b = sim.bundle("b", "echo up; sleep 1000");
    let c = create(&sim, &b, "e1");
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        c.stdout() == "up\n"
    });
    let v = stats_line(&sim, "e1");
    let d = &v["data"];
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "memory use: {v}"
    );
    assert!(d["pids"]["current"].as_u64().unwrap_or(0) >= 1, "pids: {v}");
    assert!(
        d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
        "cpu time: {v}"
    );
    let nics = d["network_interfaces"].as_array().unwrap();
    assert!(
        nics.iter()
            .any(|n| n["name"].is_string() && n["rx_bytes"].is_u64()),
        "an interface: {v}"
    );
    assert!(sim.run(&["kill", "e1", "KILL"]).status.success());
    c.wait();
    // Stopped: refused as runc does.
    let out = sim.run(&["events", "--stats", "e1"]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).trim().lines().count(),
        1,
        "one line: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("container with id e1 is not running"),
        "{}",
        stderr(&out)
    );
    c.delete();
}

#[test]
fn interval_prints_lines_until_the_container_stops() {
    let sim = Sim::new("events_interval");
    let b = sim.bundle("b", "echo up; sleep 3");
    let c = create(&sim, &b, "e2");
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        c.stdout() == "up\n"
    });
    let (lines, ok, took) = follow(
        &sim,
        &["--interval", "200ms", "e2"],
        Duration::from_secs(30),
    );
    assert!(ok, "exits 0 when the container stops");
    assert!(took < Duration::from_secs(15), "ended with it: {took:?}");
    assert!(lines.len() >= 3, "several lines: {lines:?}");
    assert!(lines
        .iter()
        .all(|l| l["type"] == "stats" && l["id"] == "e2"));
    assert_eq!(c.wait(), 0);
    c.delete();
}

#[test]
fn an_oom_kill_gives_an_oom_event() {
    let sim = Sim::new("events_oom");
    let b = sim.bundle(
        "b",
        "echo up; sleep 2; dd if=/dev/zero of=/dev/null bs=256M count=1",
    );
    edit_spec(&b, |spec| {
        spec["linux"]["resources"] =
            serde_json::json!({"memory": {"limit": 33554432, "swap": 33554432}});
    });
    let c = create(&sim, &b, "e3");
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        c.stdout() == "up\n"
    });
    let (lines, ok, _) = follow(&sim, &["--interval", "1s", "e3"], Duration::from_secs(30));
    assert!(ok, "exits 0 when the container stops");
    assert!(
        lines.iter().any(|l| l["type"] == "oom" && l["id"] == "e3"),
        "an oom event: {lines:?}"
    );
    assert_eq!(c.wait(), 137);
    c.delete();
}

#[test]
fn unknown_ids_and_bad_intervals_are_refused_in_one_line() {
    let sim = Sim::new("events_bad");
    for (args, culprit) in [
        (&["events", "nosuch"][..], "nosuch"),
        (&["events", "--stats", "nosuch"][..], "nosuch"),
        (&["events", "--interval", "5x", "nosuch"][..], "5x"),
        (&["events", "--interval", "0s", "nosuch"][..], "0s"),
    ] {
        let out = sim.run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(culprit), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

fn remote_stats(sim: &Sim) {
    let b = sim.bundle("b", "echo up; sleep 1000");
    let c = create(sim, &b, "r1");
    c.start();
    let v = stats_line(sim, "r1");
    let d = &v["data"];
    assert!(
        d["memory"]["usage"]["limit"].as_u64().unwrap_or(0) > 0,
        "maxmem: {v}"
    );
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "mem: {v}"
    );
    let nics = d["network_interfaces"].as_array().unwrap();
    assert_eq!(nics.len(), 1, "netin/netout as one entry: {v}");
    assert_eq!(nics[0]["name"], "total");
    assert_eq!(
        d["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read",
        "{v}"
    );
    assert!(d["pids"].get("current").is_none(), "not reported: {v}");
    assert!(sim.run(&["kill", "r1", "KILL"]).status.success());
    c.wait();
    c.delete();
}

#[test]
fn stats_of_a_container_over_ssh() {
    let r = Remote::ssh("events_ssh", "");
    remote_stats(&r.sim);
    // Followed until the remote workload ends.
    let b = r.sim.bundle("f", "sleep 4");
    let c = create(&r.sim, &b, "r2");
    c.start();
    let (lines, ok, took) = follow(&r.sim, &["--interval=500ms", "r2"], Duration::from_secs(40));
    assert!(ok, "exits 0 when the container stops");
    assert!(took < Duration::from_secs(30), "ended with it: {took:?}");
    assert!(lines.len() >= 2, "several lines: {lines:?}");
    assert!(lines
        .iter()
        .all(|l| l["type"] == "stats" && l["id"] == "r2"));
    assert_eq!(c.wait(), 0);
    c.delete();
}

#[test]
fn stats_of_a_container_over_the_api() {
    let r = ApiRemote::new("events_api", "sim", "sim", "");
    remote_stats(&r.sim);
}
