//! `gc` on pve-sim with real LXC: it destroys this host's CTs whose container has no state, and
//! removes state whose CT is gone; it never touches another host's CT, a CT the runtime did not
//! tag, or a container that runs (docs/cluster.md, "Orphans").

mod common;

use std::process::Stdio;

use common::*;

/// The VMID `create` recorded for `id`.
fn vmid_of(sim: &Sim, id: &str) -> u32 {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join(id).join("state.json")).unwrap())
            .unwrap();
    st["vmid"].as_u64().expect("a vmid") as u32
}

/// What a `create` SIGKILLed after `pct create` leaves once its caller gave up: the CT (here
/// running the idle init), no shim, no state.
fn orphan(ctr: &Ctr, sim: &Sim) -> u32 {
    let vmid = vmid_of(sim, &ctr.id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ctr.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    ctr.wait();
    std::fs::remove_dir_all(sim.state_root.join(&ctr.id)).unwrap();
    vmid
}

fn gc(sim: &Sim, args: &[&str]) -> (String, String, bool) {
    let mut a = vec!["gc"];
    a.extend_from_slice(args);
    let o = sim.run(&a);
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr(&o),
        o.status.success(),
    )
}

fn has_ct(sim: &Sim, vmid: u32) -> bool {
    sim.cts().iter().any(|(v, _)| *v == vmid)
}

#[test]
fn gc_destroys_a_ct_without_state_and_leaves_a_running_container() {
    let sim = Sim::new("gc_destroys_orphans");
    let b = sim.bundle("b", "sleep 1000");
    let running = create(&sim, &b, "running");
    running.start();
    let lost = create(&sim, &b, "lost");
    let vmid = orphan(&lost, &sim);
    let running_vmid = vmid_of(&sim, "running");

    let (out, err, ok) = gc(&sim, &["--dry-run"]);
    assert!(ok, "gc --dry-run: {err}");
    assert_eq!(out, format!("would destroy CT {vmid} (container lost)\n"));
    assert!(has_ct(&sim, vmid), "a dry run destroys nothing");

    let (out, err, ok) = gc(&sim, &[]);
    assert!(ok, "gc: {err}");
    assert_eq!(out, format!("destroyed CT {vmid} (container lost)\n"));
    assert!(!has_ct(&sim, vmid));
    // The running container is untouched.
    assert!(has_ct(&sim, running_vmid));
    assert_eq!(running.status(), "running");
    // Nothing left to do.
    let (out, _, ok) = gc(&sim, &[]);
    assert!(ok && out.is_empty(), "{out}");
    sim.run(&["kill", "running", "KILL"]);
    running.wait();
    running.delete();
    assert!(sim.no_cts());
}

/// The runtime of another host sharing this node: the test's config with `host_id` set.
fn other_runtime(sim: &Sim) -> std::process::Command {
    let text = std::fs::read_to_string(&sim.config).unwrap();
    let path = sim.dir.path().join("other-host.toml");
    std::fs::write(&path, format!("host_id = \"other-host\"\n{text}")).unwrap();
    let mut c = std::process::Command::new(runtime_bin());
    c.arg("--root")
        .arg(&sim.state_root)
        .arg("--config")
        .arg(path);
    c
}

#[test]
fn gc_leaves_other_hosts_cts_and_untagged_cts_alone() {
    let sim = Sim::new("gc_leaves_others_alone");
    let b = sim.bundle("b", "sleep 1000");
    // Made by the runtime of another host (same state root path, another host id).
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    // The container's stdio (the shim keeps it) goes to a file, not to a pipe we would wait on.
    let err = sim.dir.path().join("other.err");
    let status = other_runtime(&sim)
        .args(["create", "--bundle"])
        .arg(&b)
        .arg("other")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "create: {}",
        std::fs::read_to_string(&err).unwrap()
    );
    let other_vmid = vmid_of(&sim, "other");
    let pid = sim.state_json("other")["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    std::fs::remove_dir_all(sim.state_root.join("other")).unwrap();

    // Ours, but its tag removed by hand: not the runtime's any more.
    let untagged = create(&sim, &b, "untagged");
    let untagged_vmid = orphan(&untagged, &sim);
    let set = sim.pct(&["set", &untagged_vmid.to_string(), "--tags", "web"]);
    assert!(set.status.success(), "pct set: {}", stderr(&set));

    // Ours, its description rewritten by hand to name another host.
    let foreign = create(&sim, &b, "foreign");
    let foreign_vmid = orphan(&foreign, &sim);
    let root = std::fs::canonicalize(&sim.state_root).unwrap();
    let descr = format!(
        "proxmox-lxcri id: foreign\nproxmox-lxcri host: someone-else\nproxmox-lxcri root: {}",
        root.display()
    );
    let set = sim.pct(&["set", &foreign_vmid.to_string(), "--description", &descr]);
    assert!(set.status.success(), "pct set: {}", stderr(&set));

    for args in [&["--dry-run"][..], &[]] {
        let (out, err, ok) = gc(&sim, args);
        assert!(ok, "gc {args:?}: {err}");
        assert_eq!(out, "", "gc {args:?}");
    }
    for v in [other_vmid, untagged_vmid, foreign_vmid] {
        assert!(has_ct(&sim, v), "CT {v} is left alone");
    }
    // The other host's gc takes its own.
    let o = other_runtime(&sim).arg("gc").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("destroyed CT {other_vmid} (container other)\n")
    );
    assert!(!has_ct(&sim, other_vmid));
}

#[test]
fn gc_removes_state_whose_ct_is_gone_and_finishes_a_dead_create() {
    let sim = Sim::new("gc_removes_state");
    let b = sim.bundle("b", "sleep 1000");
    // Destroyed behind the runtime's back.
    let gone = create(&sim, &b, "gone");
    let gone_vmid = vmid_of(&sim, "gone");
    let d = sim.pct(&["destroy", &gone_vmid.to_string(), "--force", "1"]);
    assert!(d.status.success(), "pct destroy: {}", stderr(&d));
    gone.wait(); // the shim ends with the CT
                 // A create killed after `pct create`: the state records the VMID but no shim, and nobody
                 // holds the container's lock.
    let dead = create(&sim, &b, "dead");
    let dead_vmid = vmid_of(&sim, "dead");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dead.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    dead.wait();
    let path = sim.state_root.join("dead/state.json");
    let mut st: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    st["shim"] = serde_json::Value::Null;
    std::fs::write(&path, serde_json::to_vec(&st).unwrap()).unwrap();
    assert_eq!(dead.status(), "creating");

    let (out, err, ok) = gc(&sim, &["--dry-run"]);
    assert!(ok, "gc --dry-run: {err}");
    assert_eq!(
        out,
        format!(
            "would destroy CT {dead_vmid} (container dead)\nwould remove state dead\nwould remove state gone\n"
        )
    );
    assert!(sim.state_root.join("gone").exists() && has_ct(&sim, dead_vmid));

    let (out, err, ok) = gc(&sim, &[]);
    assert!(ok, "gc: {err}");
    assert_eq!(
        out,
        format!(
            "destroyed CT {dead_vmid} (container dead)\nremoved state dead\nremoved state gone\n"
        )
    );
    assert!(!sim.state_root.join("gone").exists());
    assert!(!sim.state_root.join("dead").exists());
    assert!(sim.no_cts());
}

#[test]
fn gc_leaves_a_container_being_created() {
    let sim = Sim::new("gc_leaves_creating");
    let b = sim.bundle("b", "sleep 1000");
    let ctr = create(&sim, &b, "busy");
    let vmid = orphan(&ctr, &sim);
    // A create of that id in progress holds the container's lock (its state names no VMID yet).
    let dir = sim.state_root.join("busy");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = nix::fcntl::Flock::lock(
        std::fs::File::create(dir.join("lock")).unwrap(),
        nix::fcntl::FlockArg::LockExclusive,
    )
    .unwrap();
    let (out, err, ok) = gc(&sim, &[]);
    assert!(ok && out.is_empty(), "gc: {out}{err}");
    assert!(has_ct(&sim, vmid));
    drop(lock);
    std::fs::remove_dir_all(&dir).unwrap();
    let (out, _, ok) = gc(&sim, &[]);
    assert!(ok, "gc");
    assert_eq!(out, format!("destroyed CT {vmid} (container busy)\n"));
}

#[test]
fn the_systemd_service_runs_gc_with_the_crio_root_and_config() {
    use clap::Parser;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let unit = std::fs::read_to_string(dir.join("proxmox-lxcri-gc.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    let cli = proxmox_lxcri::cli::Cli::try_parse_from(&argv).expect("the runtime's command line");
    assert!(matches!(
        cli.command,
        Some(proxmox_lxcri::cli::Command::Gc(ref a)) if !a.dry_run
    ));
    // The root CRI-O's drop-in passes, and the default configuration.
    let crio = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/crio/50-proxmox-lxcri.conf"),
    )
    .unwrap();
    let root = cli.global.root.unwrap();
    assert!(crio.contains(&format!("runtime_root = \"{}\"", root.display())));
    assert_eq!(
        cli.global.config.unwrap(),
        std::path::PathBuf::from(proxmox_lxcri::config::DEFAULT_PATH)
    );
    let timer = std::fs::read_to_string(dir.join("proxmox-lxcri-gc.timer")).unwrap();
    assert!(timer.contains("OnUnitActiveSec=1h") && timer.contains("WantedBy=timers.target"));
}

/// `create` with another config file; the shim's pid (we are its subreaper).
fn create_with(sim: &Sim, config: &std::path::Path, bundle: &std::path::Path, id: &str) -> i32 {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let err = sim.dir.path().join(format!("{id}.err"));
    let pid_file = sim.dir.path().join(format!("{id}.pid"));
    let status = std::process::Command::new(runtime_bin())
        .arg("--root")
        .arg(&sim.state_root)
        .arg("--config")
        .arg(config)
        .args(["create", "--bundle"])
        .arg(bundle)
        .arg(format!("--pid-file={}", pid_file.display()))
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "create {id}: {}",
        std::fs::read_to_string(&err).unwrap()
    );
    std::fs::read_to_string(&pid_file).unwrap().parse().unwrap()
}

#[test]
fn gc_over_ssh() {
    let r = common::remote::Remote::ssh("gc_over_ssh", "");
    let sim = &r.sim;
    let b = sim.bundle("b", "sleep 1000");
    let lost = create(sim, &b, "lost");
    let vmid = orphan(&lost, sim);
    let kept = create(sim, &b, "kept");
    let kept_vmid = vmid_of(sim, "kept");

    let (out, err, ok) = gc(sim, &["--dry-run"]);
    assert!(ok, "gc --dry-run: {err}");
    assert_eq!(out, format!("would destroy CT {vmid} (container lost)\n"));
    assert!(has_ct(sim, vmid));
    let (out, err, ok) = gc(sim, &[]);
    assert!(ok, "gc: {err}");
    assert_eq!(out, format!("destroyed CT {vmid} (container lost)\n"));
    assert!(!has_ct(sim, vmid) && has_ct(sim, kept_vmid));
    assert_eq!(kept.status(), "created");

    // Destroyed behind the runtime's back: the state goes.
    let d = sim.pct(&["destroy", &kept_vmid.to_string(), "--force", "1"]);
    assert!(d.status.success(), "pct destroy: {}", stderr(&d));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(kept.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    kept.wait();
    let (out, err, ok) = gc(sim, &[]);
    assert!(ok, "gc: {err}");
    assert_eq!(out, "removed state kept\n");
    assert!(!sim.state_root.join("kept").exists());
}

#[test]
fn gc_over_the_api_destroys_orphans_on_each_node() {
    let r = common::remote::ApiRemote::new("gc_over_api", "n1,n2", "n1", "");
    let sim = &r.sim;
    let b = sim.bundle("b", "sleep 1000");
    let on_n1 = create(sim, &b, "a");
    let v1 = orphan(&on_n1, sim);
    let n2_config = sim.dir.path().join("n2.toml");
    std::fs::write(
        &n2_config,
        std::fs::read_to_string(&sim.config)
            .unwrap()
            .replace("node = \"n1\"\n", "node = \"n2\"\n"),
    )
    .unwrap();
    let pid = create_with(sim, &n2_config, &b, "b");
    let v2 = vmid_of(sim, "b");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    std::fs::remove_dir_all(sim.state_root.join("b")).unwrap();
    assert_eq!((r.cts_on("n1"), r.cts_on("n2")), (vec![v1], vec![v2]));

    let (out, err, ok) = gc(sim, &["--dry-run"]);
    assert!(ok, "gc --dry-run: {err}");
    let mut want = [
        (v1, format!("CT {v1} (container a)")),
        (v2, format!("CT {v2} (container b)")),
    ];
    want.sort();
    let lines = |prefix: &str| -> String {
        want.iter()
            .map(|(_, w)| format!("{prefix} {w}\n"))
            .collect()
    };
    assert_eq!(out, lines("would destroy"));
    assert_eq!((r.cts_on("n1").len(), r.cts_on("n2").len()), (1, 1));
    let (out, err, ok) = gc(sim, &[]);
    assert!(ok, "gc: {err}");
    assert_eq!(out, lines("destroyed"));
    assert!(r.cts_on("n1").is_empty() && r.cts_on("n2").is_empty());
}

#[test]
fn a_failed_destroy_is_one_line_and_a_non_zero_exit_and_the_next_run_finishes() {
    let sim = Sim::new("gc_failed_destroy");
    let b = sim.bundle("b", "sleep 1000");
    let lost = create(&sim, &b, "lost");
    let vmid = orphan(&lost, &sim);
    let o = sim
        .runtime()
        .arg("gc")
        .env("PVE_SIM_FAIL", "destroy")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "gc: CT {vmid} (container lost): pct destroy {vmid}: "
        )),
        "{err}"
    );
    assert_eq!(lines[1], "gc: 1 action(s) failed");
    assert!(has_ct(&sim, vmid));
    let (out, err, ok) = gc(&sim, &[]);
    assert!(ok, "gc: {err}");
    assert_eq!(out, format!("destroyed CT {vmid} (container lost)\n"));
}
