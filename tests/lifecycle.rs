//! The runtime driven like a shell script would, on pve-sim with real LXC containers.
//! This test binary is a child subreaper, as conmon is: the double-forked shim becomes our child,
//! and its exit status is the container's.

mod common;

use std::fs::File;
use std::process::Stdio;
use std::sync::Once;
use std::time::Duration;

use common::*;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| nix::sys::prctl::set_child_subreaper(true).unwrap());
}

/// Wait for our adopted shim and return its exit code as conmon computes it.
fn reap(pid: i32) -> i32 {
    match waitpid(Pid::from_raw(pid), None).unwrap() {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn create_start_exit_delete() {
    become_subreaper();
    let sim = Sim::new("create_start_exit_delete");
    let script = "echo out:$FOO; echo err >&2; hostname; pwd; cat /marker; echo pid:$$; exit 3";
    let bundle = sim.bundle("b", script);
    std::fs::write(bundle.join("rootfs/marker"), "from-rootfs\n").unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/work")).unwrap();
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push("FOO=bar".into());
    spec["process"]["cwd"] = "/work".into();
    spec["hostname"] = "lifecycle-ct".into();
    write_spec(&bundle, &spec);

    let out_path = sim.dir.path().join("stdout");
    let err_path = sim.dir.path().join("stderr");
    let pid_file = sim.dir.path().join("pidfile");
    let status = sim
        .runtime()
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("c1")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "create failed: {}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "",
        "create printed on the container's stdout"
    );
    assert_eq!(
        std::fs::read_to_string(&err_path).unwrap(),
        "",
        "create printed on the container's stderr"
    );

    let st = sim.state_json("c1");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert!(
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok(),
        "shim {pid} not alive"
    );
    assert_eq!(st["bundle"], bundle.to_str().unwrap());
    assert!(
        st["created"].as_str().unwrap().contains('T'),
        "created is RFC 3339: {}",
        st["created"]
    );
    assert_eq!(sim.cts().len(), 1, "one CT on the node while created");

    let start = sim.run(&["start", "c1"]);
    assert!(start.status.success(), "start: {}", stderr(&start));
    assert_eq!(reap(pid), 3, "the shim exits with the workload's status");

    let out = std::fs::read_to_string(&out_path).unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..4],
        ["out:bar", "lifecycle-ct", "/work", "from-rootfs"],
        "stdout: {out}"
    );
    let inner_pid: i32 = lines[4].strip_prefix("pid:").unwrap().parse().unwrap();
    assert!(
        inner_pid < 100,
        "workload sees its own pid namespace, got pid {inner_pid}"
    );
    assert_eq!(err, "err\n");

    assert_eq!(sim.state_json("c1")["status"], "stopped");
    assert_eq!(sim.state_json("c1")["pid"], 0);
    let k = sim.run(&["kill", "c1", "KILL"]);
    assert!(!k.status.success());
    assert!(
        stderr(&k).contains("container not running"),
        "{}",
        stderr(&k)
    );

    let d = sim.run(&["delete", "c1"]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert!(
        bundle.join("rootfs/marker").exists(),
        "delete must not touch the rootfs"
    );
    let s = sim.run(&["state", "c1"]);
    assert!(!s.status.success());
    assert!(
        stderr(&s).contains("container does not exist"),
        "{}",
        stderr(&s)
    );
    assert!(sim.cts().is_empty(), "CT left behind: {:?}", sim.cts());
}

#[test]
fn kill_kill_gives_137() {
    become_subreaper();
    let sim = Sim::new("kill_kill_gives_137");
    let bundle = sim.bundle("b", "echo ready; exec sleep 1000");
    let pid_file = sim.dir.path().join("pidfile");
    let out = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("k1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(sim.run(&["start", "k1"]).status.success());
    assert_eq!(sim.state_json("k1")["status"], "running");
    let k = sim.run(&["kill", "k1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(reap(pid), 137);
    wait_for("stopped", Duration::from_secs(10), || {
        sim.state_json("k1")["status"] == "stopped"
    });
    assert!(sim.run(&["delete", "k1"]).status.success());
    assert!(sim.cts().is_empty());
}

#[test]
fn term_reaches_the_workload_and_created_containers_can_be_killed() {
    become_subreaper();
    let sim = Sim::new("term_reaches_the_workload");
    let bundle = sim.bundle("b", "trap 'exit 42' TERM; while true; do sleep 0.1; done");
    let pid_file = sim.dir.path().join("pidfile");
    let create = |id: &str| {
        let ok = sim
            .runtime()
            .args(["create", "-b"])
            .arg(&bundle)
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    let pid = create("t1");
    assert!(sim.run(&["start", "t1"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(sim.run(&["kill", "t1", "15"]).status.success());
    assert_eq!(reap(pid), 42, "TERM handled by the workload's trap");
    assert!(sim.run(&["delete", "t1"]).status.success());

    // kill on a created container ends it (OCI: kill works on created).
    let pid = create("t2");
    assert!(sim.run(&["kill", "t2", "TERM"]).status.success());
    assert_eq!(reap(pid), 143);
    assert_eq!(sim.state_json("t2")["status"], "stopped");
    let s = sim.run(&["start", "t2"]);
    assert!(
        !s.status.success(),
        "start of a stopped container must fail"
    );
    assert!(sim.run(&["delete", "t2"]).status.success());
    assert!(sim.cts().is_empty());
}

#[test]
fn delete_force_of_unknown_id_succeeds_and_plain_delete_fails() {
    let sim = Sim::new("delete_force_unknown");
    assert!(sim.run(&["delete", "--force", "nope"]).status.success());
    let d = sim.run(&["delete", "nope"]);
    assert!(!d.status.success());
    assert!(stderr(&d).contains("container does not exist"));
    let k = sim.run(&["kill", "nope"]);
    assert!(!k.status.success());
    assert!(stderr(&k).contains("does not exist"));
}

#[test]
fn delete_force_of_a_running_container() {
    become_subreaper();
    let sim = Sim::new("delete_force_running");
    let bundle = sim.bundle("b", "exec sleep 1000");
    let pid_file = sim.dir.path().join("pidfile");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("f1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(sim.run(&["start", "f1"]).status.success());
    let d = sim.run(&["delete", "f1"]);
    assert!(
        !d.status.success(),
        "running container deleted without --force"
    );
    let d = sim.run(&["delete", "--force", "f1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(reap(pid), 137);
    assert!(sim.cts().is_empty());
    assert!(!sim.state_root.join("f1").exists());
}

#[test]
fn unprivileged_ct_maps_root_and_keeps_file_ownership() {
    become_subreaper();
    let sim = Sim::with_config("unprivileged_ct", "unprivileged = true");
    let bundle = sim.bundle(
        "b",
        "cat /proc/self/uid_map; id -u; echo data > /written; exit 0",
    );
    let out_path = sim.dir.path().join("stdout");
    let pid_file = sim.dir.path().join("pidfile");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("u1")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(sim.run(&["start", "u1"]).status.success());
    assert_eq!(reap(pid), 0);
    let out = std::fs::read_to_string(&out_path).unwrap();
    let map: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        map,
        ["0", "100000", "65536"],
        "the CT's user namespace: {out}"
    );
    assert_eq!(out.lines().nth(1), Some("0"));
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(bundle.join("rootfs/written")).unwrap();
    assert_eq!(
        (md.uid(), md.gid()),
        (0, 0),
        "idmap=passthrough keeps on-disk ownership"
    );
    assert!(sim.run(&["delete", "u1"]).status.success());
    assert!(sim.cts().is_empty());
}

#[test]
fn readonly_root_and_sysctls_apply_to_the_workload() {
    become_subreaper();
    let sim = Sim::new("readonly_root_sysctls");
    let script = "touch /probe 2>/dev/null && echo writable || echo readonly; cat /proc/sys/net/ipv4/ping_group_range";
    let bundle = sim.bundle("b", script);
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["root"]["readonly"] = true.into();
    spec["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ping_group_range": "0 4242"});
    write_spec(&bundle, &spec);
    let out_path = sim.dir.path().join("stdout");
    let pid_file = sim.dir.path().join("pidfile");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("ro1")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let s = sim.run(&["start", "ro1"]);
    assert!(s.status.success(), "{}", stderr(&s));
    assert_eq!(reap(pid), 0);
    let out = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "readonly", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "4242"],
        "{out}"
    );
    assert!(!bundle.join("rootfs/probe").exists());
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    assert!(!host.contains("4242"), "the sysctl leaked to the host");
    assert!(sim.run(&["delete", "ro1"]).status.success());
}

#[test]
fn exec_failure_is_reported_by_start() {
    become_subreaper();
    let sim = Sim::new("exec_failure");
    let bundle = sim.bundle("b", "true");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(["no-such-program"]);
    write_spec(&bundle, &spec);
    let pid_file = sim.dir.path().join("pidfile");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("e1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let s = sim.run(&["start", "e1"]);
    assert!(!s.status.success());
    assert!(
        stderr(&s).contains("executable file not found in $PATH"),
        "{}",
        stderr(&s)
    );
    assert_eq!(stderr(&s).lines().count(), 1);
    assert_eq!(reap(pid), 127);
    assert!(sim.run(&["delete", "e1"]).status.success());
    assert!(sim.cts().is_empty());
}

#[test]
fn seccomp_filters_the_workload() {
    become_subreaper();
    let sim = Sim::new("seccomp_filters");
    let bundle = sim.bundle(
        "b",
        "mkdir /made 2>/dev/null && echo made || echo denied; echo after",
    );
    std::fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    let _ = std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin/mkdir"));
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    write_spec(&bundle, &spec);
    let out_path = sim.dir.path().join("stdout");
    let pid_file = sim.dir.path().join("pidfile");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("sc1")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(sim.run(&["start", "sc1"]).status.success());
    assert_eq!(reap(pid), 0);
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "denied\nafter\n"
    );
    assert!(!bundle.join("rootfs/made").exists());
    assert!(sim.run(&["delete", "sc1"]).status.success());
}

#[test]
fn umask_applies_and_unsupported_process_fields_are_refused_at_create() {
    become_subreaper();
    let sim = Sim::new("umask_and_refusals");
    let bundle = sim.bundle("b", "umask");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["process"]["user"]["umask"] = 0o027.into();
    write_spec(&bundle, &spec);
    let out_path = sim.dir.path().join("stdout");
    let pid_file = sim.dir.path().join("pidfile");
    let ok = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("um1")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(sim.run(&["start", "um1"]).status.success());
    assert_eq!(reap(pid), 0);
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "0027\n");
    assert!(sim.run(&["delete", "um1"]).status.success());

    spec["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH"});
    write_spec(&bundle, &spec);
    let out = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("um2")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("process.scheduler: not supported yet"),
        "{}",
        stderr(&out)
    );
    assert!(sim.cts().is_empty());
}
