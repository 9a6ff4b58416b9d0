//! podman + conmon (Debian packages) -> proxmox-lxcri -> pve-sim -> LXC.

mod common;

use std::time::{Duration, Instant};

use common::cases;
use common::podman::{ensure_image, podman, IMAGE};
use common::*;

#[test]
fn run_rm_prints_and_exits_with_the_workload_status() {
    cases::podman_run_rm(&Sim::new("podman_run_rm"));
}

#[test]
fn run_detached_then_stop_and_rm() {
    ensure_image();
    let sim = Sim::new("podman_run_d");
    let name = "plx-run-d";
    let _ = podman(&sim, &["rm", "-f", name]);
    let out = podman(&sim, &["run", "-d", "--name", name, IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    assert_eq!(sim.cts().len(), 1);
    let t = Instant::now();
    let out = podman(&sim, &["stop", "-t", "2", name]);
    assert!(out.status.success(), "stop: {}", stderr(&out));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        t.elapsed()
    );
    let out = podman(&sim, &["rm", "-f", name]);
    assert!(out.status.success(), "rm: {}", stderr(&out));
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
}

#[test]
fn exec_in_a_running_container() {
    cases::podman_exec(&Sim::new("podman_exec"));
}

#[test]
fn pod_members_share_localhost() {
    ensure_image();
    let sim = Sim::new("podman_pod");
    let pod = "plx-pod";
    let _ = podman(&sim, &["pod", "rm", "-f", pod]);
    let out = podman(&sim, &["pod", "create", "--name", pod]);
    assert!(out.status.success(), "pod create: {}", stderr(&out));
    let out = podman(
        &sim,
        &[
            "run",
            "-d",
            "--pod",
            pod,
            "--name",
            "plx-srv",
            IMAGE,
            "sh",
            "-c",
            "echo pong | nc -l -p 8080",
        ],
    );
    assert!(out.status.success(), "server: {}", stderr(&out));
    let mut answer = String::new();
    for _ in 0..50 {
        let script = "readlink /proc/self/ns/net; nc 127.0.0.1 8080 </dev/null";
        let out = podman(
            &sim,
            &["run", "--rm", "--pod", pod, IMAGE, "sh", "-c", script],
        );
        answer = String::from_utf8_lossy(&out.stdout).into_owned();
        if answer.contains("pong") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(
        lines.get(1),
        Some(&"pong"),
        "the member reached the server over the pod's localhost: {answer:?}"
    );
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        lines[0],
        host.to_str().unwrap(),
        "the pod has its own network namespace, not the host's"
    );
    let out = podman(&sim, &["pod", "rm", "-f", pod]);
    assert!(out.status.success(), "pod rm: {}", stderr(&out));
    wait_for("the CTs to be destroyed", Duration::from_secs(15), || {
        sim.no_cts()
    });
}

/// podman's `stats` reads the cgroup of the pid conmon gives it (our shim), which sits in the
/// CT's own cgroup at `linux.cgroupsPath`: the container's memory and limit, not the shim's.
#[test]
fn stats_show_the_containers_usage_and_limit() {
    ensure_image();
    let sim = Sim::new("podman_stats");
    let name = "plx-stats";
    let _ = podman(&sim, &["rm", "-f", name]);
    // Fills podman's 64 MB /dev/shm, charged to the container's memory.
    let script = "cat /dev/zero > /dev/shm/fill; sleep 1000";
    let out = podman(
        &sim,
        &[
            "run", "-d", "--name", name, "--memory", "128m", IMAGE, "sh", "-c", script,
        ],
    );
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (used, limit, last) = loop {
        let out = podman(
            &sim,
            &["stats", "--no-stream", "--format", "{{.MemUsage}}", name],
        );
        let last = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        let parsed = last
            .trim()
            .split_once(" / ")
            .and_then(|(u, l)| Some((si_bytes(u)?, si_bytes(l)?)));
        if let Some((u, l)) = parsed.filter(|(u, _)| *u >= 60_000_000) {
            break (u, l, last);
        }
        assert!(Instant::now() < deadline, "podman stats: {last}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(used >= 60_000_000, "{last}");
    assert!(
        (130_000_000..=140_000_000).contains(&limit),
        "the 128 MiB limit: {last}"
    );
    let out = podman(&sim, &["rm", "-f", name]);
    assert!(out.status.success(), "rm: {}", stderr(&out));
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
}

/// `62.91MB`, `1.2GB`, `512kB`, `10B` as podman prints sizes (SI units).
fn si_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(end);
    let mult = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some((num.parse::<f64>().ok()? * mult) as u64)
}
