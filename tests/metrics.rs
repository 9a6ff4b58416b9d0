//! `metrics`: one Prometheus text exposition of every container under `--root` (a local CT's
//! cgroup, a remote CT's status/current), the api backend's nodes and the cluster's quorum; on
//! pve-sim with real LXC containers, checked by `promtool check metrics`.

mod common;

use std::time::Duration;

use common::remote::{ApiRemote, Remote};
use common::*;

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

/// `metrics`' output, checked by promtool.
fn scrape(sim: &Sim) -> String {
    let out = sim.run(&["metrics"]);
    assert!(out.status.success(), "metrics: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    common::promtool(&text);
    text
}

/// `proxmox_lxcri_operations_total` of `sub` with `result`; 0 when absent.
fn ops(text: &str, sub: &str, result: &str) -> f64 {
    let (s, r) = (
        format!("subcommand=\"{sub}\""),
        format!("result=\"{result}\""),
    );
    sample(text, "proxmox_lxcri_operations_total", &[&s, &r]).unwrap_or(0.0)
}

/// `proxmox_lxcri_backend_calls_total` of `backend`'s `call` with `result`; 0 when absent.
fn calls(text: &str, backend: &str, call: &str, result: &str) -> f64 {
    let l = [
        format!("backend=\"{backend}\""),
        format!("call=\"{call}\""),
        format!("result=\"{result}\""),
    ];
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    sample(text, "proxmox_lxcri_backend_calls_total", &l).unwrap_or(0.0)
}

/// Every subcommand's (and backend call's) histogram counts what its counters count.
fn histograms_match_counts(text: &str) {
    let mut seen = 0;
    for l in text.lines().filter(|l| {
        l.starts_with("proxmox_lxcri_operation_duration_seconds_count{")
            || l.starts_with("proxmox_lxcri_backend_call_duration_seconds_count{")
    }) {
        let (labels, n) = l.rsplit_once(' ').unwrap();
        let labels = &labels[labels.find('{').unwrap() + 1..labels.len() - 1];
        let counter = if l.starts_with("proxmox_lxcri_operation") {
            "proxmox_lxcri_operations_total"
        } else {
            "proxmox_lxcri_backend_calls_total"
        };
        let sum: f64 = ["ok", "error"]
            .iter()
            .map(|r| sample(text, counter, &[labels, &format!("result=\"{r}\"")]).unwrap_or(0.0))
            .sum();
        assert_eq!(n.parse::<f64>().unwrap(), sum, "{l}\n{text}");
        let inf = format!(
            "{}_bucket{{{labels},le=\"+Inf\"}} {n}",
            &l[..l.find("_count").unwrap()]
        );
        assert!(text.contains(&inf), "{inf}\n{text}");
        seen += 1;
    }
    assert!(seen > 0, "no histograms: {text}");
}

#[test]
fn the_runtimes_own_operations_for_a_pod_of_two() {
    let sim = Sim::new("metrics_ops");
    let (infra, member) = pod_of_two(&sim, "exec sleep 5250", "exec sleep 5251");
    for _ in 0..3 {
        assert!(sim.run(&["state", "infra"]).status.success());
    }
    assert!(!sim.run(&["state", "nosuch"]).status.success());
    let infra_bundle = sim.dir.path().join("infra");
    let bad = sim.run(&[
        "create",
        "--bundle",
        infra_bundle.to_str().unwrap(),
        "bad/id",
    ]);
    assert!(!bad.status.success());
    // A bundle without config.json and a signal runc does not know are the caller's faults too.
    let missing = sim.run(&["create", "--bundle", "/nonexistent", "c9"]);
    assert!(!missing.status.success());
    assert!(!sim.run(&["kill", "infra", "NOSIG"]).status.success());

    let text = scrape(&sim);
    for id in ["infra", "member"] {
        let l = format!("id=\"{id}\"");
        assert_eq!(
            sample(
                &text,
                "proxmox_lxcri_container_state",
                &[&l, "state=\"running\""]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "proxmox_lxcri_container_restarts_total", &[&l]),
            Some(0.0),
            "{text}"
        );
    }
    assert_eq!(ops(&text, "create", "ok"), 2.0, "{text}");
    assert_eq!(ops(&text, "create", "error"), 2.0, "{text}");
    assert_eq!(ops(&text, "start", "ok"), 2.0, "{text}");
    assert_eq!(ops(&text, "state", "ok"), 3.0, "{text}");
    assert_eq!(ops(&text, "state", "error"), 1.0, "{text}");
    let failures = "proxmox_lxcri_operation_failures_total";
    assert_eq!(
        sample(
            &text,
            failures,
            &["subcommand=\"state\"", "reason=\"not_found\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            failures,
            &["subcommand=\"create\"", "reason=\"bad_input\""]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            failures,
            &["subcommand=\"kill\"", "reason=\"bad_input\""]
        ),
        Some(1.0),
        "{text}"
    );
    // `metrics` counts no operation of its own.
    assert!(!text.contains("subcommand=\"metrics\""), "{text}");
    // Each create ran one `pct create` and one `pct start`.
    assert_eq!(calls(&text, "pct", "create", "ok"), 2.0, "{text}");
    assert_eq!(calls(&text, "pct", "start", "ok"), 2.0, "{text}");
    histograms_match_counts(&text);

    for c in [&member, &infra] {
        assert!(sim.run(&["kill", &c.id, "KILL"]).status.success());
        assert_eq!(c.wait(), 137);
        c.delete();
    }
    // The CTs' destroys may finish in a detached process after `delete` returned
    // (src/pending.rs); it counts them when it ends.
    let mut text = String::new();
    wait_for("both destroys counted", Duration::from_secs(30), || {
        text = scrape(&sim);
        calls(&text, "pct", "destroy", "ok") == 2.0
    });
    assert_eq!(ops(&text, "kill", "ok"), 2.0, "{text}");
    assert_eq!(ops(&text, "delete", "ok"), 2.0, "{text}");
    assert_eq!(ops(&text, "state", "ok"), 3.0, "{text}");
    histograms_match_counts(&text);
    assert!(sim.no_cts());
}

#[test]
fn api_requests_and_ssh_commands_are_counted_by_template() {
    let r = ApiRemote::new("metrics_ops_api", "sim", "sim", "");
    // A workload that ends by itself: its stand-in (a KILL would end it at once) counts its
    // SSH command as it exits.
    let b = r.sim.bundle("b", "echo up");
    let c = create(&r.sim, &b, "a1");
    let vmid = r.sim.state_json("a1")["vmid"].to_string();
    assert_eq!(c.run(0), "up\n");
    assert!(r.sim.run(&["state", "a1"]).status.success());
    c.delete();
    // A create Proxmox refuses: the failure's reason is the API call's.
    r.faults(r#"{"status_500": ["POST /nodes/{node}/lxc"]}"#);
    r.sim.create_refused(&b, "a2");
    r.faults(r#"{"status_500": ["GET /cluster/status"]}"#);
    let text = scrape(&r.sim);
    r.faults("{}");

    for (backend, call, result) in [
        ("api", "POST /nodes/{node}/lxc", "ok"),
        // The refused create.
        ("api", "POST /nodes/{node}/lxc", "error"),
        ("api", "GET /nodes/{node}/tasks/{upid}/status", "ok"),
        // This scrape's own quorum question failed, and is already in what it shows.
        ("api", "GET /cluster/status", "error"),
        // The workload ran through `pct exec` over SSH, counted by its stand-in as it ended.
        ("ssh", "pct exec attached", "ok"),
    ] {
        assert!(
            calls(&text, backend, call, result) >= 1.0,
            "{backend} {call} {result}: {text}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "proxmox_lxcri_operation_failures_total",
            &["subcommand=\"create\"", "reason=\"proxmox_refused\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(ops(&text, "create", "ok"), 1.0, "{text}");
    // No label holds an ID: the VMID nor the node's name.
    for l in text
        .lines()
        .filter(|l| l.starts_with("proxmox_lxcri_backend_call"))
    {
        assert!(!l.contains(&vmid) && !l.contains("/sim"), "{l}");
    }
    histograms_match_counts(&text);
}

/// Benchmark, not a test (docs/performance.md, "Operation metrics"): what merging one
/// invocation's counts into the state root's file costs, against a file as full as a busy
/// node's (every subcommand, 60 backend calls), in the test's state root and in a tmpfs
/// (`/dev/shm`, as `/run` is on a node), next to a whole `state` invocation;
/// `PLX_BENCH_ROUNDS` merges (2000). Run with `--release --ignored --nocapture`.
#[test]
#[ignore]
fn bench_operation_counting() {
    use proxmox_lxcri::opstats::{self, Tally};
    let rounds: usize = std::env::var("PLX_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let sim = Sim::new("metrics_bench");
    std::fs::create_dir_all(&sim.state_root).unwrap();
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let subs = [
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "list",
        "exec",
        "update",
        "pause",
        "resume",
        "events",
        "features",
        "doctor",
        "gc",
        "migrate",
        "evacuate",
        "rebalance",
        "backup",
        "backups",
        "restore",
        "images",
        "images-import",
    ];
    // What one `state` adds.
    let mut add = Tally::default();
    add.operations.insert("state".into(), Default::default());
    let bench = |root: &std::path::Path| {
        // A full file: what a busy node's processes have merged.
        for i in 0..60 {
            let mut t = Tally::default();
            t.operations.entry(subs[i % subs.len()].into()).or_default();
            t.backend_calls
                .entry(["pct", "api", "ssh"][i % 3].into())
                .or_default()
                .entry(format!("GET /call/{i}"))
                .or_default();
            opstats::merge_into(root, &t).unwrap();
        }
        let mut took = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            opstats::merge_into(root, &add).unwrap();
            took.push(t.elapsed().as_micros());
        }
        took.sort_unstable();
        let size = std::fs::metadata(root.join(opstats::FILE)).unwrap().len();
        format!(
            "{size}-byte file: median {} µs, p99 {} µs",
            took[rounds / 2],
            took[rounds * 99 / 100]
        )
    };
    let disk = bench(&sim.state_root);
    let tmpfs = bench(shm.path());
    // A whole `state`, for scale.
    let b = sim.bundle("b", "sleep 1000");
    let c = create(&sim, &b, "s1");
    let mut state = Vec::new();
    for _ in 0..50 {
        let t = std::time::Instant::now();
        assert!(sim.run(&["state", "s1"]).status.success());
        state.push(t.elapsed().as_micros());
    }
    state.sort_unstable();
    eprintln!(
        "merge ({rounds} rounds): state root {disk}; tmpfs {tmpfs}; whole `state`: median {} µs (50 runs)",
        state[25]
    );
    assert!(sim.run(&["delete", "--force", "s1"]).status.success());
    c.wait();
}
