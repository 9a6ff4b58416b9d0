//! `exec` in a running container: foreground (CRI-O's streaming exec) and detached (conmon's
//! ExecSync, podman exec), on pve-sim with real LXC.

mod common;

use std::process::Stdio;

use common::cases::{self, running};
use common::*;

#[test]
fn foreground_exec_with_a_process_file() {
    cases::exec_process_file(&Sim::new("exec_foreground"));
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
