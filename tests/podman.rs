//! podman + conmon (Debian packages) -> proxmox-lxcri -> pve-sim -> LXC.

mod common;

use std::time::{Duration, Instant};

use common::podman::{ensure_image, podman, IMAGE};
use common::*;

#[test]
fn run_rm_prints_and_exits_with_the_workload_status() {
    ensure_image();
    let sim = Sim::new("podman_run_rm");
    let out = podman(
        &sim,
        &[
            "run",
            "--rm",
            "--name",
            "plx-run-rm",
            IMAGE,
            "sh",
            "-c",
            "echo hi; exit 7",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    // podman removes the container from conmon's exit command, which may finish after `run`.
    wait_for("the CT to be destroyed", Duration::from_secs(15), || {
        sim.cts().is_empty()
    });
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
    assert!(sim.cts().is_empty(), "CT left behind: {:?}", sim.cts());
}

#[test]
fn exec_in_a_running_container() {
    ensure_image();
    let sim = Sim::new("podman_exec");
    let name = "plx-exec";
    let _ = podman(&sim, &["rm", "-f", name]);
    let out = podman(&sim, &["run", "-d", "--name", name, IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let out = podman(
        &sim,
        &["exec", "-e", "X=y", name, "sh", "-c", "echo in:$X; exit 3"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "in:y\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3));
    let out = podman(&sim, &["rm", "-f", name]);
    assert!(out.status.success(), "rm: {}", stderr(&out));
    assert!(sim.cts().is_empty(), "CT left behind: {:?}", sim.cts());
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
        sim.cts().is_empty()
    });
}
