//! Nodes of Proxmox VE 8.4 and 9.0 (pve-container before 6.0.15, no `entrypoint` option): the
//! `pct` and `ssh` backends give the CT its init with the raw `lxc.init.cmd` and mount /dev/shm
//! themselves; the node's version comes from pve-sim's `pveversion --verbose` and is cached
//! under the state root.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::cases;
use common::remote::Remote;
use common::*;

/// The workload prints its env and the /dev/shm mount line, then exits 7.
const SCRIPT: &str = "echo out:$FOO; grep ' /dev/shm ' /proc/mounts | cut -d' ' -f3,4; exit 7";

fn bundle(sim: &Sim) -> std::path::PathBuf {
    let b = sim.bundle("b", SCRIPT);
    edit_spec(&b, |spec| {
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=bar".into());
    });
    b
}

fn ct_config(sim: &Sim) -> String {
    // An earlier container's CT may still be on its way out (src/pending.rs).
    let mut cts = sim.cts();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cts.len() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        cts = sim.cts();
    }
    assert_eq!(cts.len(), 1, "one CT on the node");
    let out = sim.pct(&["config", &cts[0].0.to_string()]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// create, check the CT config, run to the exit status, delete; returns the /dev/shm line.
fn lifecycle(sim: &Sim, init: &str, old: bool) -> String {
    let b = bundle(sim);
    let c = create(sim, &b, "v1");
    let conf = ct_config(sim);
    if old {
        assert!(!conf.contains("entrypoint:"), "{conf}");
        assert!(conf.contains(&format!("lxc.init.cmd: {init}")), "{conf}");
        assert!(
            conf.contains("lxc.mount.entry: tmpfs dev/shm tmpfs"),
            "{conf}"
        );
        if init.starts_with("/dev/") {
            // Local: env as the raw key every Proxmox allows (remote: passed to exec).
            assert!(conf.contains("lxc.environment: FOO=bar\n"), "{conf}");
            assert!(!conf.contains("lxc.environment.runtime"), "{conf}");
        }
    } else {
        assert!(conf.contains(&format!("entrypoint: {init}")), "{conf}");
        assert!(!conf.contains("lxc.init.cmd"), "{conf}");
    }
    let out = c.run(7);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "out:bar", "{out}");
    c.delete();
    assert!(sim.no_cts(), "CT destroyed");
    assert!(!sim.state_root.join("v1").exists(), "state dir left");
    lines.get(1).copied().unwrap_or_default().to_string()
}

/// `<root>/.nodes/sim.<tag>.version.json`, if there is one.
fn cache_file(sim: &Sim) -> Option<std::path::PathBuf> {
    std::fs::read_dir(sim.state_root.join(".nodes"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("sim.") && name.ends_with(".version.json")
        })
}

fn cached_version(sim: &Sim) -> String {
    let text =
        std::fs::read_to_string(cache_file(sim).expect("version cached under the state root"))
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["pve_container"].as_str().unwrap().to_string()
}

#[test]
fn lifecycle_on_pve_84() {
    let sim = Sim::new("lifecycle_on_pve_84");
    sim.set_node_version("5.2.6");
    let shm = lifecycle(&sim, "/dev/.proxmox-lxcri-init", true);
    // config.json's own /dev/shm options, as runc mounts it.
    assert!(shm.starts_with("tmpfs ") && shm.contains("noexec"), "{shm}");
    assert_eq!(cached_version(&sim), "5.2.6");
}

#[test]
fn lifecycle_on_pve_90() {
    let sim = Sim::new("lifecycle_on_pve_90");
    sim.set_node_version("6.0.9");
    let shm = lifecycle(&sim, "/dev/.proxmox-lxcri-init", true);
    assert!(shm.starts_with("tmpfs ") && shm.contains("noexec"), "{shm}");
}

#[test]
fn lifecycle_on_pve_91_uses_the_entrypoint_option() {
    let sim = Sim::new("lifecycle_on_pve_91");
    let shm = lifecycle(&sim, "/dev/.proxmox-lxcri-init", false);
    // Proxmox's own /dev/shm (rw,nosuid,nodev).
    assert!(
        shm.starts_with("tmpfs ") && !shm.contains("noexec"),
        "{shm}"
    );
    assert_eq!(cached_version(&sim), NODE_VERSION);
}

#[test]
fn cached_version_is_used_until_it_expires() {
    let sim = Sim::new("cached_version_is_used");
    sim.set_node_version("6.0.9");
    let b = bundle(&sim);
    let c = create(&sim, &b, "v1");
    c.run(7);
    c.delete();
    // The node is upgraded to 9.1 behind the runtime's back; the cache still says 6.0.9, and
    // raw keys work on the newer node too...
    std::fs::write(sim.sim_root.join("pve-sim-version"), "9.1.2\n").unwrap();
    let c = create(&sim, &b, "v2");
    assert!(ct_config(&sim).contains("lxc.init.cmd:"));
    c.run(7);
    c.delete();
    // ...and a stale or broken cache is not trusted.
    std::fs::write(cache_file(&sim).unwrap(), "{\"node\": \"sim\"").unwrap();
    let c = create(&sim, &b, "v3");
    assert!(ct_config(&sim).contains("entrypoint:"));
    c.run(7);
    c.delete();
    assert_eq!(cached_version(&sim), NODE_VERSION);
}

#[test]
fn unknown_version_is_taken_for_pve_84_with_a_warning() {
    let sim = Sim::new("unknown_version");
    // A `pveversion` that names no pve-container.
    std::fs::write(
        sim.dir.path().join("pveversion"),
        "#!/bin/sh\necho 'pve-manager: 9.1.2'\n",
    )
    .unwrap();
    let b = bundle(&sim);
    let log = sim.dir.path().join("create.log");
    // The container's stdio outlives create (the shim keeps it): a file, not a pipe.
    let err = sim.dir.path().join("u1.err");
    let status = sim
        .runtime()
        .arg("--log")
        .arg(&log)
        .args(["create", "--bundle"])
        .arg(&b)
        .arg("u1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("node sim: cannot learn the pve-container version")
            && log.contains("no pve-container line")
            && log.contains("assuming Proxmox VE 8.4"),
        "{log}"
    );
    assert!(ct_config(&sim).contains("lxc.init.cmd: /dev/.proxmox-lxcri-init"));
    assert!(cache_file(&sim).is_none(), "a guess is not cached");
    let d = sim.run(&["delete", "--force", "u1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(sim.no_cts());
}

#[test]
fn ssh_lifecycle_on_pve_90() {
    let r = Remote::ssh("ssh_lifecycle_on_pve_90", "");
    let sim = &r.sim;
    sim.set_node_version("6.0.9");
    let shm = lifecycle(sim, "/.proxmox-lxcri-init", true);
    assert!(shm.starts_with("tmpfs ") && shm.contains("noexec"), "{shm}");
}

#[test]
fn ssh_raw_keys_that_cannot_be_written_leave_nothing() {
    let r = Remote::ssh("ssh_raw_keys_fail", "");
    let sim = &r.sim;
    sim.set_node_version("6.0.9");
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let pve_dir = sim.sim_root.join("etc/pve").display().to_string();
    std::fs::write(&sim.config, conf.replace(&pve_dir, "/nonexistent/pve")).unwrap();
    let b = bundle(sim);
    let out = sim.run(&["create", "--bundle", b.to_str().unwrap(), "f1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("adding raw keys to /nonexistent/pve/lxc/"),
        "{err}"
    );
    assert!(sim.no_cts(), "CT left");
    assert!(!sim.state_root.join("f1").exists(), "state dir left");
}

/// podman + conmon on nodes of Proxmox VE 8.4 and 9.0: the sim refuses `entrypoint` there, even
/// though podman's environment does not reach it (its version file does).
#[test]
fn podman_on_pve_84() {
    let sim = Sim::new("podman_on_pve_84");
    sim.set_node_version("5.2.6");
    cases::podman_run_rm_as(&sim, "plx-run-rm-84");
}

#[test]
fn podman_on_pve_90() {
    let sim = Sim::new("podman_on_pve_90");
    sim.set_node_version("6.0.9");
    cases::podman_run_rm_as(&sim, "plx-run-rm-90");
}
