//! Case bodies shared by the tiers: pve-sim (tests/lifecycle.rs, exec.rs, terminal.rs,
//! update_pause.rs, podman.rs), Proxmox's real `pct` (tests/real_pve.rs) and a spare node
//! (tests/real_node.rs). Each takes the node's `Sim` and leaves nothing behind on success.

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;

use nix::unistd::Pid;

use super::console::{create_with_console, read_until};
use super::podman::{ensure_image, podman, IMAGE};
use super::*;

/// A container `id` whose workload runs (it touched `/main-started`).
pub fn running(sim: &Sim, id: &str) {
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
    wait_for("the workload", Duration::from_secs(30), || {
        bundle.join("rootfs/main-started").exists()
    });
}

/// Each `pct` call is a Perl start-up of about half a second on a node: a lifecycle makes
/// create, start and destroy only (no `pct status`: LXC gives the init pid). Reads the node's
/// `pct.calls` log, so nothing else may call `pct` on it first.
pub fn pct_call_budget(sim: &Sim) {
    let c = create(sim, &sim.bundle("b", "echo ran; exit 4"), "p1");
    assert_eq!(c.status(), "created");
    assert_eq!(c.run(4), "ran\n");
    assert_eq!(c.status(), "stopped");
    c.delete();
    // The destroy may finish after `delete` returned (a CT still going down, src/pending.rs).
    assert!(sim.no_cts());
    let runtime_calls: Vec<String> = sim
        .pct_calls()
        .into_iter()
        .filter(|c| c != "list")
        .collect();
    assert_eq!(
        runtime_calls,
        ["create", "start", "destroy"],
        "`list` is the test's own"
    );
}

/// The only CT of this test on the node.
pub fn only_vmid(sim: &Sim) -> u32 {
    let cts = sim.cts();
    assert_eq!(cts.len(), 1, "one CT expected: {cts:?}");
    cts[0].0
}

/// The live value of a cgroup file of the CT: v1 (this machine) or v2 (a node).
fn ct_cgroup_file(ctrl: &str, vmid: u32, file: &str) -> Option<String> {
    [
        format!("/sys/fs/cgroup/{ctrl}/lxc/{vmid}/{file}"),
        format!("/sys/fs/cgroup/lxc/{vmid}/{file}"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
}

/// `update` of a running container: an API key (`memory`, through `pct set`, which also
/// rewrites the description) and a raw key (`lxc.cgroup2.pids.max`, in the CT config and live);
/// afterwards the CT is still recognised as the container's, so `delete` removes it.
pub fn update(sim: &Sim) {
    let bundle = sim.bundle("b", "exec sleep 1000");
    edit_spec(&bundle, |spec| {
        spec["linux"]["resources"] = serde_json::json!({"memory": {"limit": 268435456}})
    });
    let c = create(sim, &bundle, "u1");
    c.start();
    let vmid = only_vmid(sim);
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("256"));
    let u = sim.run(&["update", "--memory", "512m", "--pids-limit", "64", "u1"]);
    assert!(u.status.success(), "{}", stderr(&u));
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("512"));
    assert_eq!(
        sim.conf_value(vmid, "lxc.cgroup2.pids.max").as_deref(),
        Some("64")
    );
    assert_eq!(
        ct_cgroup_file("pids", vmid, "pids.max").as_deref(),
        Some("64"),
        "the running CT got the raw key"
    );
    let desc = sim.conf_value(vmid, "description").unwrap_or_default();
    assert!(desc.contains("proxmox-lxcri"), "description: {desc:?}");
    assert_eq!(sim.state_json("u1")["status"], "running");
    assert!(sim.run(&["kill", "u1", "KILL"]).status.success());
    assert_eq!(c.wait(), 137);
    c.delete();
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
}

/// `delete --force` of a running container stops and destroys its CT; plain `delete` refuses.
pub fn delete_force_running(sim: &Sim) {
    let c = create(sim, &sim.bundle("b", "exec sleep 1000"), "f1");
    c.start();
    assert!(
        !sim.run(&["delete", "f1"]).status.success(),
        "running container deleted without --force"
    );
    let d = sim.run(&["delete", "--force", "f1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(c.wait(), 137);
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
    assert!(!sim.state_root.join("f1").exists(), "state dir left behind");
}

pub fn lifecycle(sim: &Sim) {
    let bundle = sim.bundle(
        "b",
        "echo out:$FOO; echo err >&2; hostname; pwd; cat /marker; echo pid:$$; [ $$ = 1 ] && echo s6:ok; exit 3",
    );
    std::fs::write(bundle.join("rootfs/marker"), "from-rootfs\n").unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/work")).unwrap();
    edit_spec(&bundle, |spec| {
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=bar".into());
        spec["process"]["cwd"] = "/work".into();
        spec["hostname"] = "lifecycle-ct".into();
    });
    let c = create(sim, &bundle, "c1");
    assert_eq!(c.stdout(), "", "create printed on the container's stdout");
    assert_eq!(c.stderr(), "", "create printed on the container's stderr");

    let st = sim.state_json("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], c.pid);
    assert!(
        nix::sys::signal::kill(Pid::from_raw(c.pid), None).is_ok(),
        "shim {} not alive",
        c.pid
    );
    assert_eq!(st["bundle"], bundle.to_str().unwrap());
    assert!(
        st["created"].as_str().unwrap().contains('T'),
        "created is RFC 3339: {}",
        st["created"]
    );
    assert_eq!(sim.cts().len(), 1, "one CT on the node while created");

    let out = c.run(3);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..4],
        ["out:bar", "lifecycle-ct", "/work", "from-rootfs"],
        "stdout: {out}"
    );
    assert_eq!(
        &lines[4..6],
        ["pid:1", "s6:ok"],
        "the workload is pid 1 of its CT, as under runc (s6-overlay's /init checks): {out}"
    );
    assert_eq!(c.stderr(), "err\n", "stdout and stderr stay separate");

    assert_eq!(c.status(), "stopped");
    assert_eq!(sim.state_json("c1")["pid"], 0);
    let k = sim.run(&["kill", "c1", "KILL"]);
    assert!(!k.status.success());
    assert!(
        stderr(&k).contains("container not running"),
        "{}",
        stderr(&k)
    );

    c.delete();
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
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
}

pub fn kill_kill(sim: &Sim) {
    let c = create(sim, &sim.bundle("b", "echo ready; exec sleep 1000"), "k1");
    c.start();
    assert_eq!(c.status(), "running");
    let k = sim.run(&["kill", "k1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(c.wait(), 137);
    wait_for("stopped", Duration::from_secs(10), || {
        c.status() == "stopped"
    });
    c.delete();
    assert!(sim.no_cts());
}

/// runc's signal semantics for pid 1: a shell without a TERM trap ignores TERM (the kernel drops
/// a signal without a handler for a namespace's init), and KILL ends it with 137.
pub fn term_ignored_by_pid1(sim: &Sim) {
    let c = create(
        sim,
        &sim.bundle("b", "while true; do sleep 0.1; done"),
        "p1",
    );
    c.start();
    std::thread::sleep(Duration::from_millis(300));
    assert!(sim.run(&["kill", "p1", "TERM"]).status.success());
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        c.status(),
        "running",
        "TERM without a trap must not end pid 1"
    );
    assert!(sim.run(&["kill", "p1", "KILL"]).status.success());
    assert_eq!(c.wait(), 137);
    c.delete();
    assert!(sim.no_cts());
}

pub fn term_and_kill_created(sim: &Sim) {
    let bundle = sim.bundle("b", "trap 'exit 42' TERM; while true; do sleep 0.1; done");
    let c = create(sim, &bundle, "t1");
    c.start();
    std::thread::sleep(Duration::from_millis(300));
    assert!(sim.run(&["kill", "t1", "15"]).status.success());
    assert_eq!(c.wait(), 42, "TERM handled by the workload's trap");
    c.delete();

    // kill on a created container ends it (OCI: kill works on created).
    let c = create(sim, &bundle, "t2");
    assert!(sim.run(&["kill", "t2", "TERM"]).status.success());
    assert_eq!(c.wait(), 143);
    assert_eq!(c.status(), "stopped");
    assert!(
        !sim.run(&["start", "t2"]).status.success(),
        "start of a stopped container must fail"
    );
    c.delete();
    assert!(sim.no_cts());
}

pub fn exec_process_file(sim: &Sim) {
    running(sim, "x1");
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

pub fn terminal(sim: &Sim) {
    let bundle = sim.bundle("b", "tty; stty size; echo done");
    edit_spec(&bundle, |spec| {
        spec["process"]["terminal"] = true.into();
        spec["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 111});
    });
    let master = create_with_console(sim, &bundle, "tty1");
    assert!(
        nix::unistd::isatty(master.as_raw_fd()).unwrap(),
        "the fd from the console socket is a tty"
    );

    assert!(sim.run(&["start", "tty1"]).status.success());
    let text = read_until(master, "done");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "tty printed {text:?}");
    assert_eq!(lines[1], "33 111", "consoleSize applied: {text:?}");
    assert_eq!(lines[2], "done");
    wait_for("stopped", Duration::from_secs(10), || {
        sim.state_json("tty1")["status"] == "stopped"
    });
    assert!(sim.run(&["delete", "tty1"]).status.success());
    assert!(sim.no_cts());
}

pub fn podman_run_rm(sim: &Sim) {
    podman_run_rm_as(sim, "plx-run-rm");
}

/// `podman run --rm` of a container called `name` (podman's names are machine-wide).
pub fn podman_run_rm_as(sim: &Sim, name: &str) {
    ensure_image();
    let out = podman(
        sim,
        &[
            "run",
            "--rm",
            "--name",
            name,
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
        sim.no_cts()
    });
}

pub fn podman_exec(sim: &Sim) {
    ensure_image();
    let name = "plx-exec";
    let _ = podman(sim, &["rm", "-f", name]);
    let out = podman(sim, &["run", "-d", "--name", name, IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let out = podman(
        sim,
        &["exec", "-e", "X=y", name, "sh", "-c", "echo in:$X; exit 3"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "in:y\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3));
    let out = podman(sim, &["rm", "-f", name]);
    assert!(out.status.success(), "rm: {}", stderr(&out));
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
}
