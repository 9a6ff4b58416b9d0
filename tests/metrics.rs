//! `metrics`: one Prometheus text exposition of every container under `--root` (a local CT's
//! cgroup, a remote CT's status/current), the api backend's nodes and the cluster's quorum; on
//! pve-sim with real LXC containers, checked by `promtool check metrics`.

mod common;

use std::time::Duration;

use common::remote::{ApiRemote, Remote};
use common::*;

/// The value of the one sample of `family` whose labels include every one of `labels`.
fn sample(text: &str, family: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn local_and_remote_containers_nodes_and_quorum() {
    let r = ApiRemote::new("metrics_api", "sim,sim2", "sim", "");
    // A local pct container under the same --root, with its own (pct) configuration.
    let mut local = Sim::new("metrics_local");
    local.state_root = r.sim.state_root.clone();
    let b = local.bundle("b", "echo up; sleep 1000");
    let l1 = create(&local, &b, "l1");
    l1.start();
    wait_for("the workload", Duration::from_secs(10), || {
        l1.stdout() == "up\n"
    });
    // Created, not started: a state line, numbers from its waiting CT.
    let l2 = create(&local, &b, "l2");
    let rb = r.sim.bundle("rb", "echo up; sleep 1000");
    let r1 = create(&r.sim, &rb, "r1");
    r1.start();

    let out = r.sim.run(&["metrics"]);
    let err = stderr(&out);
    assert!(out.status.success(), "metrics: {err}");
    assert!(err.is_empty(), "nothing failed: {err}");
    let text = String::from_utf8(out.stdout).unwrap();
    common::promtool(&text);

    let state = "proxmox_lxcri_container_state";
    assert_eq!(
        sample(
            &text,
            state,
            &[r#"id="l1""#, r#"state="running""#, r#"backend="pct""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, state, &[r#"id="l2""#, r#"state="created""#]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            state,
            &[
                r#"id="r1""#,
                r#"state="running""#,
                r#"backend="api""#,
                r#"node="sim""#
            ]
        ),
        Some(1.0),
        "{text}"
    );
    for id in ["l1", "r1"] {
        let l = format!("id=\"{id}\"");
        assert!(
            sample(&text, "proxmox_lxcri_container_memory_usage_bytes", &[&l]).unwrap_or(0.0) > 0.0,
            "{id} memory: {text}"
        );
        assert_eq!(
            sample(&text, "proxmox_lxcri_container_scrape_error", &[&l]),
            Some(0.0),
            "{text}"
        );
    }
    // Only a local CT has CPU time, pids and packets.
    assert!(
        sample(
            &text,
            "proxmox_lxcri_container_cpu_seconds_total",
            &[r#"id="l1""#, r#"mode="user""#]
        )
        .is_some(),
        "{text}"
    );
    assert!(sample(&text, "proxmox_lxcri_container_pids", &[r#"id="l1""#]).unwrap_or(0.0) >= 1.0);
    assert!(sample(
        &text,
        "proxmox_lxcri_container_cpu_seconds_total",
        &[r#"id="r1""#]
    )
    .is_none());
    // Swap alone, not memory plus swap (cgroup v1's memsw): the workload uses no swap.
    assert_eq!(
        sample(
            &text,
            "proxmox_lxcri_container_swap_usage_bytes",
            &[r#"id="l1""#]
        ),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "proxmox_lxcri_container_network_receive_bytes_total",
            &[r#"id="r1""#, r#"interface="total""#]
        )
        .is_some(),
        "{text}"
    );
    // The api backend's nodes and quorum.
    for node in ["sim", "sim2"] {
        let l = format!("node=\"{node}\"");
        assert_eq!(
            sample(&text, "proxmox_lxcri_node_up", &[&l]),
            Some(1.0),
            "{text}"
        );
        assert!(
            sample(&text, "proxmox_lxcri_node_memory_total_bytes", &[&l]).unwrap_or(0.0) > 0.0,
            "{text}"
        );
    }
    assert_eq!(
        sample(&text, "proxmox_lxcri_cluster_quorate", &[]),
        Some(1.0),
        "{text}"
    );
    // GET /nodes/{node}/storage of every online node.
    for node in ["sim", "sim2"] {
        let l = [format!("node=\"{node}\""), r#"storage="local""#.to_string()];
        let l: Vec<&str> = l.iter().map(String::as_str).collect();
        assert!(
            sample(&text, "proxmox_lxcri_node_storage_size_bytes", &l).unwrap_or(0.0) > 0.0,
            "{text}"
        );
        assert!(
            sample(&text, "proxmox_lxcri_node_storage_available_bytes", &l).is_some(),
            "{text}"
        );
    }
    assert_eq!(
        text.matches("# TYPE proxmox_lxcri_container_state gauge")
            .count(),
        1
    );

    for c in [&l1, &l2] {
        assert!(local.run(&["kill", &c.id, "KILL"]).status.success());
    }
    assert!(r.sim.run(&["kill", "r1", "KILL"]).status.success());
    l1.wait();
    r1.wait();
    for c in [&l1, &l2, &r1] {
        c.delete();
    }
    // Stopped containers keep their state line and nothing else.
    let out = r.sim.run(&["metrics"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_empty_root_prints_nothing_and_exits_0() {
    let sim = Sim::new("metrics_empty");
    let out = sim.run(&["metrics"]);
    assert!(out.status.success(), "{}", stderr(&out));
    common::promtool(&String::from_utf8(out.stdout).unwrap());
}

#[test]
fn a_container_that_cannot_be_read_keeps_its_state_line() {
    let r = ApiRemote::new("metrics_fail", "sim", "sim", "");
    let b = r.sim.bundle("b", "echo up; sleep 1000");
    let c = create(&r.sim, &b, "f1");
    c.start();
    r.faults(
        r#"{"status_500": ["GET /nodes/{node}/lxc/{vmid}/status/current", "GET /nodes", "GET /cluster/status"]}"#,
    );
    // Nothing at all could be read: exit 1, the container named on stderr, nothing on stdout.
    let out = r.sim.run(&["metrics"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("container f1: metrics not read"), "{err}");
    assert!(err.contains("no metrics could be read"), "{err}");
    assert!(out.stdout.is_empty());
    // The node answers again but the CT's numbers do not: exit 0, the error as a sample.
    r.faults(r#"{"status_500": ["GET /nodes/{node}/lxc/{vmid}/status/current"]}"#);
    let out = r.sim.run(&["metrics"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("container f1"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    common::promtool(&text);
    assert_eq!(
        sample(
            &text,
            "proxmox_lxcri_container_state",
            &[r#"id="f1""#, r#"state="running""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "proxmox_lxcri_container_scrape_error",
            &[r#"id="f1""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&text, "proxmox_lxcri_container_memory_usage_bytes", &[]).is_none());
    r.faults("{}");
    assert!(r.sim.run(&["kill", "f1", "KILL"]).status.success());
    c.wait();
    c.delete();
}

#[test]
fn a_container_and_nodes_over_ssh() {
    let r = Remote::cluster("metrics_ssh", &["sim", "sim2"], "");
    let b = r.sim.bundle("b", "echo up; sleep 1000");
    let c = create(&r.sim, &b, "s1");
    c.start();
    let out = r.sim.run(&["metrics"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    common::promtool(&text);
    assert_eq!(
        sample(
            &text,
            "proxmox_lxcri_container_state",
            &[r#"id="s1""#, r#"backend="ssh""#, r#"state="running""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "proxmox_lxcri_container_memory_usage_bytes",
            &[r#"id="s1""#]
        )
        .unwrap_or(0.0)
            > 0.0,
        "{text}"
    );
    // pvesh get /nodes and pvecm status on the node.
    for node in ["sim", "sim2"] {
        let l = format!("node=\"{node}\"");
        assert_eq!(
            sample(&text, "proxmox_lxcri_node_up", &[&l, r#"backend="ssh""#]),
            Some(1.0),
            "{text}"
        );
    }
    assert_eq!(
        sample(&text, "proxmox_lxcri_cluster_quorate", &[]),
        Some(1.0),
        "{text}"
    );
    // GET /nodes/{node}/storage of every online node.
    for node in ["sim", "sim2"] {
        let l = [format!("node=\"{node}\""), r#"storage="local""#.to_string()];
        let l: Vec<&str> = l.iter().map(String::as_str).collect();
        assert!(
            sample(&text, "proxmox_lxcri_node_storage_size_bytes", &l).unwrap_or(0.0) > 0.0,
            "{text}"
        );
        assert!(
            sample(&text, "proxmox_lxcri_node_storage_available_bytes", &l).is_some(),
            "{text}"
        );
    }
    assert!(r.sim.run(&["kill", "s1", "KILL"]).status.success());
    c.wait();
    c.delete();
}
