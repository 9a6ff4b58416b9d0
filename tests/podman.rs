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
