//! `exec` in a running container: foreground (CRI-O's streaming exec) and detached (conmon's
//! ExecSync, podman exec), on pve-sim with real LXC.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

fn running(sim: &Sim, id: &str) {
    let bundle = sim.bundle(id, "echo main > /main-started; exec sleep 1000");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(sim.run(&["start", id]).status.success());
    wait_for("the workload", Duration::from_secs(10), || {
        bundle.join("rootfs/main-started").exists()
    });
}

#[test]
fn foreground_exec_with_a_process_file() {
    let sim = Sim::new("exec_foreground");
    running(&sim, "x1");
    let pfile = sim.dir.path().join("process.json");
    std::fs::write(
        &pfile,
        serde_json::to_vec(&serde_json::json!({
            "args": ["sh", "-c", "echo out:$GREETING; echo err >&2; pwd; id -u; id -g; echo pid:$$; exit 5"],
            "env": ["PATH=/bin", "GREETING=hello"],
            "cwd": "/tmp",
            "user": {"uid": 1234, "gid": 4321}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = sim
        .runtime()
        .args(["exec", "--process"])
        .arg(&pfile)
        .arg("x1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        &lines[..4],
        ["out:hello", "/tmp", "1234", "4321"],
        "{stdout}"
    );
    let pid: i32 = lines[4].strip_prefix("pid:").unwrap().parse().unwrap();
    assert!(pid < 100, "exec runs in the CT's pid namespace, got {pid}");
    assert_eq!(stderr(&out), "err\n");
    assert!(sim.run(&["delete", "--force", "x1"]).status.success());
}

#[test]
fn foreground_exec_with_runc_flags_and_stdin() {
    let sim = Sim::new("exec_flags");
    running(&sim, "x2");
    let mut child = sim
        .runtime()
        .args([
            "exec",
            "--cwd",
            "/bin",
            "-e",
            "A=1",
            "-u",
            "7:8",
            "x2",
            "sh",
            "-c",
            "read l; echo $l:$A:$(pwd):$(id -u)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"line\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line:1:/bin:7\n");
    assert!(sim.run(&["delete", "--force", "x2"]).status.success());
}

#[test]
fn exec_errors() {
    let sim = Sim::new("exec_errors");
    let o = sim.run(&["exec", "nope", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("container does not exist: nope"));
    running(&sim, "x3");
    let o = sim.run(&["exec", "x3", "no-such-cmd"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("executable file not found in $PATH"),
        "{}",
        stderr(&o)
    );
    // runc's --apparmor, decided as at create: no AppArmor here, strict refuses it.
    let o = sim.run(&[
        "exec",
        "--apparmor",
        "containers-default-0.50.1",
        "x3",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("process.apparmorProfile containers-default-0.50.1: AppArmor is not enabled"),
        "{}",
        stderr(&o)
    );
    assert!(sim.run(&["delete", "--force", "x3"]).status.success());
    let o = sim.run(&["exec", "x3", "true"]);
    assert!(!o.status.success());
}
