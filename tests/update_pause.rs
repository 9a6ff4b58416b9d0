//! `update`, `pause` and `resume` on pve-sim with real LXC containers (this host: cgroup v1).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::cases;
use common::*;

fn vmid_of(sim: &Sim) -> u32 {
    let cts = sim.cts();
    assert_eq!(cts.len(), 1, "one CT expected: {cts:?}");
    cts[0].0
}

fn cg(ctrl: &str, vmid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/lxc/{vmid}/{file}"))
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// This host's `SwapTotal` in MiB: the node's swap for the pct backend.
fn host_swap_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SwapTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse::<u64>().unwrap() / 1024)
        .unwrap()
}

fn fails_with(out: &std::process::Output, text: &str) {
    assert!(!out.status.success(), "expected failure with {text:?}");
    let e = stderr(out);
    assert!(e.contains(text), "{e}");
    assert_eq!(e.lines().count(), 1, "one error line: {e}");
}

/// Nothing of the container is left: CT, state dir, LXC processes, cgroups.
fn assert_gone(sim: &Sim, id: &str, vmid: u32) {
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
    assert!(!sim.state_root.join(id).exists(), "state dir left behind");
    let needle = format!("pve-sim-ct-{vmid}");
    wait_for("no CT processes", Duration::from_secs(10), || {
        processes_mentioning(&needle).is_empty()
    });
    assert!(
        !cg("freezer", vmid, "").exists(),
        "the CT's freezer cgroup is left"
    );
}

#[test]
fn update_of_an_api_key_and_a_raw_key() {
    cases::update(&Sim::new("update_api_and_raw"));
}

#[test]
fn update_changes_the_ct_config_and_the_running_cgroup() {
    let sim = Sim::new("update_resources");
    let bundle = sim.bundle("b", "exec sleep 1000");
    edit_spec(&bundle, |spec| {
        spec["linux"]["resources"] = serde_json::json!({"memory": {"limit": 268435456}})
    });
    let c = create(&sim, &bundle, "u1");
    c.start();
    let vmid = vmid_of(&sim);
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("256"));
    let limit = cg("memory", vmid, "memory.limit_in_bytes");
    assert_eq!(read(&limit), (256u64 << 20).to_string());

    // runc's flags.
    let u = sim.run(&["update", "--memory", "512m", "--pids-limit", "64", "u1"]);
    assert!(u.status.success(), "{}", stderr(&u));
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("512"));
    assert_eq!(read(&limit), (512u64 << 20).to_string());
    assert_eq!(
        sim.conf_value(vmid, "lxc.cgroup2.pids.max").as_deref(),
        Some("64")
    );
    assert_eq!(read(&cg("pids", vmid, "pids.max")), "64");
    // Unlimited swap, as create maps a limit without swap: the node's whole swap.
    let memsw: u64 = read(&cg("memory", vmid, "memory.memsw.limit_in_bytes"))
        .parse()
        .unwrap();
    let swap_mib = host_swap_mib();
    assert_eq!(
        sim.conf_value(vmid, "swap"),
        Some(swap_mib.to_string()),
        "swap is the node's"
    );
    assert_eq!(
        memsw,
        (512 + swap_mib) << 20,
        "swap not the node's whole swap"
    );

    // LinuxResources on stdin, as CRI-O sends it.
    let mut child = sim
        .runtime()
        .args(["update", "--resources", "-", "u1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            br#"{"memory": {"limit": 314572800, "swap": 419430400},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
                "pids": {"limit": -1}}"#,
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("300"));
    assert_eq!(sim.conf_value(vmid, "swap").as_deref(), Some("100"));
    assert_eq!(
        sim.conf_value(vmid, "lxc.cgroup2.memory.swap.max"),
        None,
        "a swap limit ends the unlimited-swap raw key"
    );
    assert_eq!(sim.conf_value(vmid, "cpulimit").as_deref(), Some("0.5"));
    assert_eq!(read(&limit), (300u64 << 20).to_string());
    assert_eq!(
        read(&cg("memory", vmid, "memory.memsw.limit_in_bytes")),
        (400u64 << 20).to_string()
    );
    assert_eq!(read(&cg("cpu", vmid, "cpu.cfs_quota_us")), "50000");
    assert_eq!(
        read(&cg("cpu", vmid, "cpu.shares")),
        "1024",
        "shares are written in the node's unit (v1 here)"
    );
    assert_eq!(read(&cg("pids", vmid, "pids.max")), "max");
    assert_eq!(read(&cg("cpuset", vmid, "cpuset.cpus")), "0");
    assert_eq!(
        read(&cg("cpuset", vmid, "ns/cpuset.cpus")),
        "0",
        "the CT's inner cgroup follows on v1"
    );
    assert_eq!(
        sim.conf_value(vmid, "lxc.cgroup2.pids.max").as_deref(),
        Some("max"),
        "the raw key is replaced, not repeated"
    );

    // --resources=FILE, and errors.
    let file = sim.dir.path().join("res.json");
    std::fs::write(&file, r#"{"memory": {"limit": 1}"#).unwrap();
    let arg = format!("--resources={}", file.display());
    fails_with(
        &sim.run(&["update", &arg, "u1"]),
        "update u1: invalid resources JSON",
    );
    std::fs::write(&file, r#"{"memory": {"limt": 1}}"#).unwrap();
    fails_with(
        &sim.run(&["update", &arg, "u1"]),
        "update u1: linux.resources.memory.limt: unknown field",
    );
    std::fs::write(&file, r#"{"blockIO": {"weight": 10}}"#).unwrap();
    fails_with(
        &sim.run(&["update", "-r", file.to_str().unwrap(), "u1"]),
        "update u1: linux.resources.blockIO:",
    );
    fails_with(
        &sim.run(&["update", "--memory", "1g", "nope"]),
        "container does not exist: nope",
    );
    assert_eq!(
        read(&limit),
        (300u64 << 20).to_string(),
        "errors change nothing"
    );

    // No limit: the node's whole RAM and swap, so Proxmox shows the truth; no raw keys.
    let u = sim.run(&["update", "--memory=-1", "u1"]);
    assert!(u.status.success(), "{}", stderr(&u));
    let ram_mib = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse::<u64>().unwrap() / 1024)
        .unwrap();
    assert_eq!(sim.conf_value(vmid, "memory"), Some(ram_mib.to_string()));
    assert_eq!(
        sim.conf_value(vmid, "swap"),
        Some(host_swap_mib().to_string())
    );
    assert_eq!(sim.conf_value(vmid, "lxc.cgroup2.memory.max"), None);
    assert_eq!(read(&limit), (ram_mib << 20).to_string());

    assert!(sim.run(&["kill", "u1", "KILL"]).status.success());
    assert_eq!(c.wait(), 137);
    fails_with(
        &sim.run(&["update", "--memory", "1g", "u1"]),
        "container not running: u1",
    );
    c.delete();
    assert_gone(&sim, "u1", vmid);
}

#[test]
fn cpu_shares_are_the_v1_cgroup_shares_on_a_v1_node() {
    let sim = Sim::new("shares_v1");
    let bundle = sim.bundle("b", "exec sleep 1000");
    edit_spec(&bundle, |spec| {
        spec["linux"]["resources"] = serde_json::json!({"cpu": {"shares": 512}})
    });
    let c = create(&sim, &bundle, "s1");
    c.start();
    let vmid = vmid_of(&sim);
    // This host mounts cpu on v1: Proxmox writes cpuunits to cpu.shares as it is.
    assert_eq!(sim.conf_value(vmid, "cpuunits").as_deref(), Some("512"));
    assert_eq!(read(&cg("cpu", vmid, "cpu.shares")), "512");
    assert!(sim.run(&["kill", "s1", "KILL"]).status.success());
    assert_eq!(c.wait(), 137);
    c.delete();
    assert_gone(&sim, "s1", vmid);
}

/// A workload that appends a line to /ticks every 50 ms and exits 7 on TERM.
fn ticking<'a>(sim: &'a Sim, id: &str) -> (Ctr<'a>, PathBuf) {
    let bundle = sim.bundle(
        id,
        "trap 'exit 7' TERM; while true; do echo x >> /ticks; sleep 0.05; done",
    );
    let c = create(sim, &bundle, id);
    c.start();
    let ticks = bundle.join("rootfs/ticks");
    wait_for("ticks", Duration::from_secs(10), || size(&ticks) > 2);
    (c, ticks)
}

fn size(p: &PathBuf) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn grows(p: &PathBuf) -> bool {
    let before = size(p);
    std::thread::sleep(Duration::from_millis(400));
    size(p) > before
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let sim = Sim::new("pause_resume");
    let (c, ticks) = ticking(&sim, "p1");
    let vmid = vmid_of(&sim);
    fails_with(&sim.run(&["resume", "p1"]), "container not paused: p1");

    let p = sim.run(&["pause", "p1"]);
    assert!(p.status.success(), "{}", stderr(&p));
    let st = sim.state_json("p1");
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("paused"), Some(c.pid as i64))
    );
    assert_eq!(read(&cg("freezer", vmid, "freezer.state")), "FROZEN");
    assert!(!grows(&ticks), "a paused workload made progress");
    fails_with(&sim.run(&["pause", "p1"]), "container not running: p1");

    let r = sim.run(&["resume", "p1"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(c.status(), "running");
    assert!(grows(&ticks), "the workload did not resume");

    // A signal other than KILL waits for resume, as with runc.
    assert!(sim.run(&["pause", "p1"]).status.success());
    let k = sim.run(&["kill", "p1", "TERM"]);
    assert!(k.status.success(), "{}", stderr(&k));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.status(), "paused");
    let r = sim.run(&["resume", "p1"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(c.wait(), 7, "TERM delivered on resume");
    fails_with(&sim.run(&["pause", "p1"]), "container not running: p1");
    c.delete();
    assert_gone(&sim, "p1", vmid);
}

#[test]
fn kill_and_delete_force_of_a_paused_container() {
    let sim = Sim::new("paused_kill_delete");
    let (c, _) = ticking(&sim, "k1");
    let vmid = vmid_of(&sim);
    assert!(sim.run(&["pause", "k1"]).status.success());
    let k = sim.run(&["kill", "k1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(c.wait(), 137);
    assert_eq!(c.status(), "stopped");
    c.delete();
    assert_gone(&sim, "k1", vmid);

    let (c, _) = ticking(&sim, "d1");
    let vmid = vmid_of(&sim);
    assert!(sim.run(&["pause", "d1"]).status.success());
    fails_with(&sim.run(&["delete", "d1"]), "paused");
    let d = sim.run(&["delete", "--force", "d1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(c.wait(), 137);
    assert_gone(&sim, "d1", vmid);
}

#[test]
fn a_created_container_can_be_paused_like_with_runc() {
    let sim = Sim::new("pause_created");
    let c = create(&sim, &sim.bundle("b", "exit 3"), "c1");
    let vmid = vmid_of(&sim);
    assert!(sim.run(&["pause", "c1"]).status.success());
    assert_eq!(c.status(), "paused");
    fails_with(&sim.run(&["start", "c1"]), "paused");
    assert!(sim.run(&["resume", "c1"]).status.success());
    assert_eq!(c.status(), "created");
    assert_eq!(c.run(3), "");
    c.delete();
    assert_gone(&sim, "c1", vmid);
}
