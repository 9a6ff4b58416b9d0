//! The runtime driven like a shell script would, on pve-sim with real LXC containers.
//! This test binary is a child subreaper, as conmon is: the double-forked shim becomes our child,
//! and its exit status is the container's.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::cases;
use common::*;

#[test]
fn create_start_exit_delete() {
    cases::lifecycle(&Sim::new("create_start_exit_delete"));
}

#[test]
fn term_is_ignored_by_pid1_and_kill_gives_137() {
    cases::term_ignored_by_pid1(&Sim::new("term_ignored_by_pid1"));
}

#[test]
fn kill_kill_gives_137() {
    cases::kill_kill(&Sim::new("kill_kill_gives_137"));
}

#[test]
fn term_reaches_the_workload_and_created_containers_can_be_killed() {
    cases::term_and_kill_created(&Sim::new("term_reaches_the_workload"));
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
fn unprivileged_ct_maps_root_and_keeps_file_ownership() {
    use std::os::unix::fs::MetadataExt;
    let sim = Sim::with_config("unprivileged_ct", "unprivileged = true");
    let bundle = sim.bundle(
        "b",
        "cat /proc/self/uid_map; id -u; echo data > /written; exit 0",
    );
    let out = create(&sim, &bundle, "u1").run(0);
    let map: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        map,
        ["0", "100000", "65536"],
        "the CT's user namespace: {out}"
    );
    assert_eq!(out.lines().nth(1), Some("0"));
    let md = std::fs::metadata(bundle.join("rootfs/written")).unwrap();
    assert_eq!(
        (md.uid(), md.gid()),
        (0, 0),
        "idmap=passthrough keeps on-disk ownership"
    );
    assert!(sim.run(&["delete", "u1"]).status.success());
    assert!(sim.no_cts());
}

#[test]
fn readonly_root_and_sysctls_apply_to_the_workload() {
    let sim = Sim::new("readonly_root_sysctls");
    let script = "touch /probe 2>/dev/null && echo writable || echo readonly; cat /proc/sys/net/ipv4/ping_group_range";
    let bundle = sim.bundle("b", script);
    edit_spec(&bundle, |spec| {
        spec["root"]["readonly"] = true.into();
        spec["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ping_group_range": "0 4242"});
    });
    let c = create(&sim, &bundle, "ro1");
    let out = c.run(0);
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
    c.delete();
}

#[test]
fn exec_failure_is_reported_by_start() {
    let sim = Sim::new("exec_failure");
    let bundle = sim.bundle("b", "true");
    edit_spec(&bundle, |spec| {
        spec["process"]["args"] = serde_json::json!(["no-such-program"])
    });
    let c = create(&sim, &bundle, "e1");
    let s = sim.run(&["start", "e1"]);
    assert!(!s.status.success());
    assert!(
        stderr(&s).contains("executable file not found in $PATH"),
        "{}",
        stderr(&s)
    );
    assert_eq!(stderr(&s).lines().count(), 1);
    assert_eq!(c.wait(), 127);
    c.delete();
    assert!(sim.no_cts());
}

#[test]
fn seccomp_filters_the_workload() {
    let sim = Sim::new("seccomp_filters");
    let bundle = sim.bundle(
        "b",
        "mkdir /made 2>/dev/null && echo made || echo denied; echo after",
    );
    let _ = std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin/mkdir"));
    edit_spec(&bundle, |spec| {
        spec["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let c = create(&sim, &bundle, "sc1");
    assert_eq!(c.run(0), "denied\nafter\n");
    assert!(!bundle.join("rootfs/made").exists());
    c.delete();
}

#[test]
fn umask_applies_and_unsupported_process_fields_are_refused_at_create() {
    let sim = Sim::new("umask_and_refusals");
    let bundle = sim.bundle("b", "umask");
    edit_spec(&bundle, |spec| {
        spec["process"]["user"]["umask"] = 0o027.into()
    });
    let c = create(&sim, &bundle, "um1");
    assert_eq!(c.run(0), "0027\n");
    c.delete();

    edit_spec(&bundle, |spec| {
        spec["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH"})
    });
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
    assert!(sim.no_cts());
}

#[test]
fn kill_all_reaches_every_process_of_the_container() {
    let sim = Sim::new("kill_all");
    // The shell ignores TERM; its child does not. Only `--all` ends the child, and then the shell.
    let bundle = sim.bundle(
        "b",
        "sleep 4242 & trap '' TERM; echo up; wait $!; echo child:$?",
    );
    let c = create(&sim, &bundle, "a1");
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        c.stdout() == "up\n"
    });
    assert!(sim.run(&["kill", "--all", "a1", "TERM"]).status.success());
    assert_eq!(c.wait(), 0);
    assert_eq!(c.stdout(), "up\nchild:143\n");
    c.delete();
}

#[test]
fn an_oom_killed_workload_leaves_the_oom_file_crio_reads() {
    let sim = Sim::new("oom_file");
    let bundle = sim.bundle("b", "dd if=/dev/zero of=/dev/null bs=256M count=1");
    edit_spec(&bundle, |spec| {
        spec["linux"]["resources"] =
            serde_json::json!({"memory": {"limit": 33554432, "swap": 33554432}});
    });
    let c = create(&sim, &bundle, "oom1");
    assert_eq!(c.run(137), "", "killed by the OOM killer");
    assert!(
        bundle.join("oom").exists(),
        "<bundle>/oom written for CRI-O's OOMKilled"
    );
    c.delete();

    let quiet = sim.bundle("q", "true");
    let c = create(&sim, &quiet, "oom2");
    c.run(0);
    assert!(
        !quiet.join("oom").exists(),
        "no oom file without an OOM kill"
    );
    c.delete();
}

#[test]
fn the_shim_sits_in_cgroups_path_until_delete() {
    let sim = Sim::new("cgroups_path");
    let bundle = sim.bundle("b", "true");
    let leaf = format!("plx-test-{}", std::process::id());
    edit_spec(&bundle, |spec| {
        spec["linux"]["cgroupsPath"] = format!("/plx_parent/{leaf}").into()
    });
    let c = create(&sim, &bundle, "cg1");
    let dir = std::path::Path::new("/sys/fs/cgroup/memory/plx_parent").join(&leaf);
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert_eq!(
        procs.trim(),
        c.pid.to_string(),
        "conmon's OOM watcher finds the shim in cgroupsPath"
    );
    c.run(0);
    c.delete();
    // Once the CT is down, which may be after `delete` returned (src/pending.rs).
    wait_for(
        "delete to remove the container's cgroup",
        Duration::from_secs(10),
        || !dir.exists(),
    );
    let _ = std::fs::remove_dir("/sys/fs/cgroup/memory/plx_parent");
    for h in [
        "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "pids", "systemd", "unified",
    ] {
        let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{h}/plx_parent"));
    }
}

/// `MemTotal`/`SwapTotal` of this host in MiB: the node's size for the pct backend.
fn host_memory_mib() -> (String, String) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim_start_matches(':').trim().strip_suffix("kB"))
            .map(|v| (v.trim().parse::<u64>().unwrap() / 1024).to_string())
            .unwrap()
    };
    (kib("MemTotal"), kib("SwapTotal"))
}

#[test]
fn memory_and_swap_are_always_written() {
    // Proxmox would put its 512 MiB defaults into a CT config without the keys.
    let sim = Sim::new("memory_defaults");
    let bundle = sim.bundle("b", "exit 0");
    let c = create(&sim, &bundle, "m1");
    let vmid = sim.cts()[0].0;
    let (ram, swap) = host_memory_mib();
    assert_eq!(
        sim.conf_value(vmid, "memory"),
        Some(ram),
        "no limit is the whole node"
    );
    assert_eq!(sim.conf_value(vmid, "swap"), Some(swap));
    assert_eq!(sim.conf_value(vmid, "lxc.cgroup2.memory.max"), None);
    c.delete();

    let sim = Sim::with_config(
        "memory_defaults_cfg",
        "default_memory = 300\ndefault_swap = 100\n",
    );
    let bundle = sim.bundle("b", "exit 0");
    let c = create(&sim, &bundle, "m2");
    let vmid = sim.cts()[0].0;
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("300"));
    assert_eq!(sim.conf_value(vmid, "swap").as_deref(), Some("100"));
    c.delete();
}

#[test]
fn an_oci_apparmor_profile_never_becomes_the_cts_profile() {
    // On a node a confined lxc-start cannot switch a CT to an OCI profile; the CT keeps
    // Proxmox's. This host has no AppArmor: the profile is skipped with a warning.
    let sim = Sim::with_config("apparmor_profile", "strict = false\n");
    let bundle = sim.bundle("b", "echo ran");
    edit_spec(&bundle, |spec| {
        spec["process"]["apparmorProfile"] = "containers-default-0.50.1".into()
    });
    let c = create(&sim, &bundle, "aa1");
    let vmid = sim.cts()[0].0;
    let conf =
        String::from_utf8_lossy(&sim.pct(&["config", &vmid.to_string()]).stdout).into_owned();
    assert!(!conf.contains("lxc.apparmor.profile"), "{conf}");
    assert_eq!(c.run(0), "ran\n");
    c.delete();
}

#[test]
fn delete_force_of_a_running_container() {
    cases::delete_force_running(&Sim::new("delete_force_running"));
}

#[test]
fn a_lifecycle_makes_at_most_three_pct_calls() {
    cases::pct_call_budget(&Sim::new("pct_call_budget"));
}

/// `delete` right after the workload's exit returns before the CT is down and leaves the destroy
/// to a detached process; if that process is killed, the next `list` (or `create`, `delete`)
/// finishes the job.
#[test]
fn a_destroy_left_by_delete_is_seen_through() {
    let sim = Sim::new("pending_destroy");
    let c = create(&sim, &sim.bundle("b", "exit 0"), "pd1");
    assert_eq!(c.run(0), "");
    let t0 = std::time::Instant::now();
    assert!(sim.run(&["delete", "pd1"]).status.success());
    let took = t0.elapsed();
    assert!(
        !sim.state_root.join("pd1").exists(),
        "the container is gone for its callers"
    );
    // The CT is still on its way down (lxcfs's post-stop hook sleeps half a second) and its
    // destroyer waits for it: kill the destroyer.
    let destroyers = processes_mentioning("delete\0pd1");
    assert!(
        !destroyers.is_empty(),
        "a detached destroy after {took:?}; CTs {:?}",
        sim.cts()
    );
    for p in destroyers {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(sim.cts().len(), 1, "nobody destroys it now");
    assert!(sim.run(&["list"]).status.success());
    assert!(sim.no_cts(), "list's sweep destroyed it");
    assert!(
        std::fs::read_dir(sim.state_root.join(".pending"))
            .unwrap()
            .next()
            .is_none(),
        "no record left"
    );
}
