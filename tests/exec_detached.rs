//! `exec --detach` as conmon runs it: an exec shim whose pid is in `--pid-file` and whose exit
//! status is the command's. This binary is a child subreaper, like conmon, and reaps like it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

fn exec_detached(sim: &Sim, id: &str, out: Stdio, cmd: &[&str]) -> i32 {
    let pid_file = sim.dir.path().join("exec.pid");
    let ok = sim
        .runtime()
        .args(["exec", "--detach", "--pid-file"])
        .arg(&pid_file)
        .arg(id)
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::read_to_string(&pid_file).unwrap().parse().unwrap()
}

#[test]
fn exec_shim_exits_with_the_status_and_takes_the_process_with_it() {
    let sim = Sim::new("exec_detached");
    let bundle = sim.bundle("b", "echo main > /main-started; exec sleep 1000");
    let c = create(&sim, &bundle, "x4");
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        bundle.join("rootfs/main-started").exists()
    });

    let out_file = sim.dir.path().join("exec.out");
    let pid = exec_detached(
        &sim,
        "x4",
        std::fs::File::create(&out_file).unwrap().into(),
        &["sh", "-c", "echo detached; exit 9"],
    );
    assert_eq!(
        waitpid(Pid::from_raw(pid), None).unwrap(),
        WaitStatus::Exited(Pid::from_raw(pid), 9)
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "detached\n");

    // conmon's ExecSync timeout SIGKILLs the exec shim: the process in the CT must die too.
    let pid = exec_detached(&sim, "x4", Stdio::null(), &["sleep", "4343"]);
    let mut sleeping = Vec::new();
    wait_for("sleep 4343", Duration::from_secs(5), || {
        // The process itself, not the exec shim, whose command line names it too.
        sleeping = processes_mentioning("sleep\x004343")
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0"))
            })
            .collect();
        !sleeping.is_empty()
    });
    nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = waitpid(Pid::from_raw(pid), None);
    // The process dies with its shim (parent-death signal); its zombie is re-parented to us, the
    // subreaper, which reaps it as conmon would. Until then the CT could not stop.
    let orphan = Pid::from_raw(sleeping[0]);
    wait_for("sleep 4343 to die", Duration::from_secs(5), || {
        matches!(
            waitpid(orphan, Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::Signaled(
                _,
                nix::sys::signal::Signal::SIGKILL,
                _
            ))
        )
    });
    assert!(sim.run(&["delete", "--force", "x4"]).status.success());
    assert_eq!(c.wait(), 137);
    assert!(sim.no_cts());
}
