//! Bad input: one clear line on stderr naming the culprit, a non-zero exit, and nothing left
//! behind (no CT on the node, no state dir, no stray process).

mod common;

use std::process::Stdio;

use common::*;

/// `create` with stderr in a file: a successful create hands its stdio to the shim, so pipes
/// would stay open for the container's life.
fn create(
    sim: &Sim,
    bundle: &std::path::Path,
    id: &str,
    fail: Option<&str>,
) -> std::process::Output {
    let err_path = sim
        .dir
        .path()
        .join(format!("{}.create-stderr", id.replace('/', "_")));
    let mut c = sim.runtime();
    c.args(["create", "--bundle"])
        .arg(bundle)
        .arg("--pid-file")
        .arg(sim.dir.path().join("pidfile"))
        .arg(id);
    if let Some(f) = fail {
        c.env("PVE_SIM_FAIL", f);
    }
    let status = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

fn assert_clean(sim: &Sim, id: &str) {
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
    assert!(!sim.state_root.join(id).exists(), "state dir left behind");
    let strays = processes_mentioning(&sim.sim_root.to_string_lossy());
    assert!(strays.is_empty(), "processes left behind: {strays:?}");
}

fn one_line_naming(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.contains(needle), "{err:?} does not name {needle:?}");
}

#[test]
fn malformed_config_json() {
    let sim = Sim::new("bad_malformed");
    let b = sim.bundle("b", "true");
    std::fs::write(b.join("config.json"), "{ not json").unwrap();
    let out = create(&sim, &b, "m1", None);
    one_line_naming(&out, "config.json");
    assert_clean(&sim, "m1");
}

#[test]
fn missing_rootfs() {
    let sim = Sim::new("bad_rootfs");
    let b = sim.bundle("b", "true");
    std::fs::remove_dir_all(b.join("rootfs")).unwrap();
    let out = create(&sim, &b, "r1", None);
    one_line_naming(&out, "rootfs");
    assert_clean(&sim, "r1");
}

#[test]
fn duplicate_id_keeps_the_first() {
    let sim = Sim::new("bad_duplicate");
    let b = sim.bundle("b", "true");
    let first = create(&sim, &b, "d1", None);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = create(&sim, &b, "d1", None);
    one_line_naming(&out, "d1");
    assert!(stderr(&out).contains("already exists"));
    assert_eq!(
        sim.state_json("d1")["status"],
        "created",
        "the first container is untouched"
    );
    assert_eq!(sim.cts().len(), 1);
    assert!(sim.run(&["delete", "--force", "d1"]).status.success());
    assert_clean(&sim, "d1");
}

#[test]
fn bad_and_unknown_ids() {
    let sim = Sim::new("bad_ids");
    let b = sim.bundle("b", "true");
    for bad in ["../x", "a/b", ".."] {
        let out = create(&sim, &b, bad, None);
        one_line_naming(&out, "invalid container id");
    }
    for cmd in ["state", "start", "kill", "delete"] {
        let out = sim.run(&[cmd, "unknown-id"]);
        one_line_naming(&out, "container does not exist: unknown-id");
    }
    assert!(sim.no_cts());
}

#[test]
fn each_failing_create_step_leaves_nothing() {
    let sim = Sim::new("bad_sim_fail");
    let b = sim.bundle("b", "true");
    for (step, id) in [("create", "f-create"), ("start", "f-start")] {
        let out = create(&sim, &b, id, Some(step));
        assert!(!out.status.success(), "{step}: create succeeded");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{step}: {err:?}");
        assert!(err.contains("pct"), "{step}: {err:?} does not name pct");
        assert_clean(&sim, id);
    }
}

#[test]
fn a_failed_create_whose_ct_cannot_be_destroyed_keeps_its_state() {
    let sim = Sim::new("bad_create_cleanup");
    let b = sim.bundle("b", "true");
    // The start fails and so does the cleanup's destroy: the CT exists, so the state (with its
    // VMID) stays for `delete --force` rather than leaving a CT nobody knows of.
    let out = create(&sim, &b, "k1", Some("start,destroy"));
    one_line_naming(&out, "pct start");
    assert_eq!(sim.cts().len(), 1, "the CT could not be destroyed");
    assert!(
        sim.state_root.join("k1").exists(),
        "state removed while the CT exists"
    );
    let d = sim.run(&["delete", "--force", "k1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert_clean(&sim, "k1");
}

#[test]
fn failing_destroy_keeps_state_for_a_retry() {
    let sim = Sim::new("bad_destroy");
    let b = sim.bundle("b", "true");
    assert!(create(&sim, &b, "x1", None).status.success());
    let mut c = sim.runtime();
    let out = c
        .args(["delete", "--force", "x1"])
        .env("PVE_SIM_FAIL", "destroy")
        .output()
        .unwrap();
    one_line_naming(&out, "destroy");
    assert!(
        sim.state_root.join("x1").exists(),
        "state removed while the CT still exists"
    );
    assert!(sim.run(&["delete", "--force", "x1"]).status.success());
    assert_clean(&sim, "x1");
}

#[test]
fn kill_of_a_stuck_shim_with_a_failing_stop_is_cleaned_by_delete() {
    let sim = Sim::new("bad_stop");
    let b = sim.bundle("b", "exec sleep 1000");
    assert!(create(&sim, &b, "s1", None).status.success());
    assert!(sim.run(&["start", "s1"]).status.success());
    let shim = sim.state_json("s1")["pid"].as_i64().unwrap() as i32;
    // A shim that cannot run any more: `kill KILL` must end the container without it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let out = sim
        .runtime()
        .args(["kill", "s1", "KILL"])
        .env("PVE_SIM_FAIL", "stop")
        .output()
        .unwrap();
    // The workload was the CT's pid 1: the CT ended with it, so the failing `pct stop` is never
    // needed.
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sim.pct_calls().iter().any(|c| c == "stop"));
    assert_eq!(sim.state_json("s1")["status"], "stopped");
    assert!(sim.run(&["delete", "--force", "s1"]).status.success());
    assert_clean(&sim, "s1");
}

#[test]
fn preserve_fds_naming_a_closed_fd() {
    let sim = Sim::new("bad_preserve_fds");
    let b = sim.bundle("b", "true");
    // Only stdio open: the runtime's own files would otherwise land on fd 3 and pass for the
    // container's.
    let mut c = sim.runtime();
    // SAFETY: between fork and exec the hook makes one async-signal-safe syscall.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let out = c
        .args(["create", "--preserve-fds", "2", "--bundle"])
        .arg(&b)
        .arg("p1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    one_line_naming(&out, "fd 3 is not open");
    assert_clean(&sim, "p1");
}

#[test]
fn apparmor_profile_that_cannot_be_applied_under_strict() {
    // No AppArmor on this host: strict refuses before any CT exists.
    let sim = Sim::new("bad_apparmor");
    let b = sim.bundle("b", "true");
    edit_spec(&b, |spec| {
        spec["process"]["apparmorProfile"] = "containers-default-0.50.1".into()
    });
    let out = create(&sim, &b, "aa1", None);
    one_line_naming(
        &out,
        "process.apparmorProfile containers-default-0.50.1: AppArmor is not enabled on this host",
    );
    assert_clean(&sim, "aa1");
}

#[test]
fn fifo_in_the_rootfs_at_a_masked_path_or_mount_destination() {
    // LXC opens mount targets: a FIFO there used to hang `pct start` until its timeout and
    // leave the CT locked. create refuses at once, before any CT exists.
    let sim = Sim::new("bad_fifo");
    let b = sim.bundle("b", "true");
    std::fs::create_dir_all(b.join("rootfs/etc")).unwrap();
    let fifo = b.join("rootfs/etc/trap");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let base = std::fs::read_to_string(b.join("config.json")).unwrap();
    for (id, field, edit) in [
        (
            "f1",
            "linux.maskedPaths[1]: /etc/trap is a fifo in the rootfs",
            serde_json::json!({"maskedPaths": ["/proc/kcore", "/etc/trap"]}),
        ),
        (
            "f2",
            "mounts[0].destination: /etc/trap is a fifo in the rootfs",
            serde_json::json!(null),
        ),
    ] {
        std::fs::write(b.join("config.json"), &base).unwrap();
        edit_spec(&b, |spec| {
            if edit.is_null() {
                spec["mounts"] = serde_json::json!([{"destination": "/etc/trap", "type": "tmpfs",
                    "source": "tmpfs"}]);
            } else {
                spec["linux"]["maskedPaths"] = edit["maskedPaths"].clone();
            }
        });
        let t = std::time::Instant::now();
        let out = create(&sim, &b, id, None);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{id}: took {:?}",
            t.elapsed()
        );
        one_line_naming(&out, field);
        assert_clean(&sim, id);
    }
}

#[test]
fn namespace_paths_of_the_wrong_type() {
    // As runc: the file must be a namespace of the declared type, before any CT exists.
    let sim = Sim::new("bad_ns_type");
    let b = sim.bundle("b", "true");
    let base = std::fs::read_to_string(b.join("config.json")).unwrap();
    for (id, typ, path, want) in [
        (
            "n1",
            "ipc",
            "/proc/self/ns/mnt",
            "is a mnt namespace, not ipc",
        ),
        ("n2", "network", "/etc/hostname", "not a namespace file"),
    ] {
        std::fs::write(b.join("config.json"), &base).unwrap();
        let mut at = 0;
        edit_spec(&b, |spec| {
            let nss = spec["linux"]["namespaces"].as_array_mut().unwrap();
            at = nss.iter().position(|n| n["type"] == typ).unwrap();
            nss[at]["path"] = path.into();
        });
        let out = create(&sim, &b, id, None);
        one_line_naming(&out, &format!("linux.namespaces[{at}].path: {path}"));
        one_line_naming(&out, want);
        assert_clean(&sim, id);
    }
}

#[test]
fn a_shim_that_dies_leaves_nothing_plain_delete_cannot_remove() {
    // The shim can fail after create returned (killed, or its pod namespaces gone): the CT keeps
    // running, the container reads `stopped`, and a plain `delete` must still remove the CT.
    let sim = Sim::new("bad_dead_shim");
    let b = sim.bundle("b", "exec sleep 1000");
    for (id, start) in [("k1", false), ("k2", true)] {
        assert!(create(&sim, &b, id, None).status.success());
        if start {
            assert!(sim.run(&["start", id]).status.success());
        }
        let shim = sim.state_json(id)["pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(shim),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_for(
            "the shim to die",
            std::time::Duration::from_secs(10),
            || sim.state_json(id)["status"] == "stopped",
        );
        assert_eq!(sim.cts().len(), 1, "{id}: the CT outlives its shim");
        let out = sim.run(&["delete", id]);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        assert_clean(&sim, id);
    }
}

/// The `pct` backend relies on Proxmox's own refusal without quorum (`cluster not ready - no
/// quorum?`) and says it in the runtime's words.
#[test]
fn create_without_quorum_on_the_node() {
    let sim = Sim::new("create_without_quorum_on_the_node");
    let bundle = sim.bundle("b", "true");
    std::fs::write(sim.sim_root.join("pve-sim-no-quorum"), "").unwrap();
    let out = create(&sim, &bundle, "nq", None);
    one_line_naming(&out, "the cluster of this node has no quorum");
    assert_clean(&sim, "nq");
}
