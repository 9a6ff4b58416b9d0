//! `create --console-socket` with `process.terminal`: the runtime sends a pty master over the
//! socket the way conmon receives it, and the workload runs on the matching slave.

mod common;

use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use common::cases;
use common::console::{create_with_console, read_until, receive_fd};
use common::*;

#[test]
fn console_socket_gets_a_pty_and_the_workload_runs_on_it() {
    cases::terminal(&Sim::new("terminal"));
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let sim = Sim::new("terminal_refused");
    let bundle = sim.bundle("b", "true");
    edit_spec(&bundle, |spec| spec["process"]["terminal"] = true.into());
    let out = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("t2")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("process.terminal needs --console-socket"),
        "{}",
        stderr(&out)
    );
    assert!(sim.no_cts());
}

#[test]
fn detached_exec_with_a_terminal() {
    let sim = Sim::new("terminal_exec");
    let c = create(&sim, &sim.bundle("b", "exec sleep 1000"), "te1");
    c.start();
    let sock = sim.dir.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let pfile = sim.dir.path().join("p.json");
    std::fs::write(&pfile, r#"{"terminal": true, "args": ["sh", "-c", "tty; echo exec-done"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#).unwrap();
    let mut exec = sim
        .runtime()
        .args(["exec", "--detach", "--tty", "--process"])
        .arg(&pfile)
        .arg("--console-socket")
        .arg(&sock)
        .arg("te1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let master = receive_fd(&listener);
    assert!(exec.wait().unwrap().success());
    let text = read_until(master, "exec-done");
    assert!(text.starts_with("/dev/pts/"), "{text:?}");
    assert!(text.contains("exec-done"));
    assert!(sim.run(&["delete", "--force", "te1"]).status.success());
    assert_eq!(c.wait(), 137);
}

#[test]
fn an_unprivileged_ct_owns_its_terminal() {
    let sim = Sim::with_config("terminal_unpriv", "unprivileged = true");
    let bundle = sim.bundle("b", "stat -c owner:%u $(tty); echo done");
    edit_spec(&bundle, |spec| spec["process"]["terminal"] = true.into());
    let master = create_with_console(&sim, &bundle, "tu1");
    assert!(sim.run(&["start", "tu1"]).status.success());
    let text = read_until(master, "done");
    assert!(
        text.contains("owner:0"),
        "the pty belongs to the CT's root, not to nobody: {text:?}"
    );
    wait_for("stopped", Duration::from_secs(10), || {
        sim.state_json("tu1")["status"] == "stopped"
    });
    assert!(sim.run(&["delete", "tu1"]).status.success());
}
