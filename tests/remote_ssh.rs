//! The `ssh` backend end to end: the runtime on "this host", the CT on a sim node reached through
//! a real OpenSSH server on loopback, its rootfs shipped as a template.

mod common;

use common::remote::Remote;
use common::*;

#[test]
fn lifecycle_over_ssh() {
    let r = Remote::ssh("lifecycle_over_ssh", "");
    let sim = &r.sim;
    let bundle = sim.bundle(
        "b",
        "echo out:$FOO; echo err >&2; hostname; pwd; cat /marker; cat /etc/shipped; id -u; exit 3",
    );
    std::fs::write(bundle.join("rootfs/marker"), "from-rootfs\n").unwrap();
    let shipped = sim.dir.path().join("shipped");
    std::fs::write(&shipped, "bind source copied\n").unwrap();
    edit_spec(&bundle, |spec| {
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=bar baz".into());
        spec["process"]["cwd"] = "/work".into();
        spec["hostname"] = "remote-ct".into();
        spec["mounts"] = serde_json::json!([{"destination": "/etc/shipped", "type": "bind",
            "source": shipped, "options": ["rbind", "ro"]}]);
    });
    let c = create(sim, &bundle, "c1");
    assert_eq!((c.stdout(), c.stderr()), (String::new(), String::new()));
    assert_eq!(sim.state_json("c1")["status"], "created");
    let cts = sim.cts();
    assert_eq!(cts.len(), 1, "one CT on the node");
    let vmid = cts[0].0.to_string();
    let conf = String::from_utf8_lossy(&sim.pct(&["config", &vmid]).stdout).into_owned();
    assert!(conf.contains("unprivileged: 1"), "{conf}");
    assert!(
        conf.contains(&format!("rootfs: local-lvm:vm-{vmid}-disk-0,")),
        "{conf}"
    );
    assert!(conf.contains("entrypoint: /.proxmox-lxcri-init"), "{conf}");
    // No limit: the node's whole RAM (read over SSH), not Proxmox's 512 MiB default.
    let ram_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap();
    assert!(
        conf.contains(&format!("memory: {}\n", ram_kib / 1024)),
        "{conf}"
    );
    assert_eq!(r.templates().len(), 1, "the rootfs went up as one template");

    let out = c.run(3);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "out:bar baz",
            "remote-ct",
            "/work",
            "from-rootfs",
            "bind source copied",
            "0"
        ]
    );
    assert_eq!(c.stderr(), "err\n");
    assert_eq!(sim.state_json("c1")["status"], "stopped");
    c.delete();
    assert!(sim.no_cts(), "CT destroyed");
    assert_eq!(
        r.templates().len(),
        1,
        "the template is kept for the next container"
    );

    // The same image again: no second template.
    let c2 = create(sim, &bundle, "c2");
    assert_eq!(r.templates().len(), 1, "cached by digest");
    let images = sim.run(&["images"]);
    let listing = String::from_utf8_lossy(&images.stdout).into_owned();
    assert!(
        listing.contains("proxmox-lxcri-") && listing.contains(" yes"),
        "{listing}"
    );
    let prune = sim.run(&["images", "--prune"]);
    assert!(prune.status.success(), "{}", stderr(&prune));
    assert_eq!(r.templates().len(), 1, "in use by c2: kept");
    c2.run(3);
    c2.delete();
    let prune = sim.run(&["images", "--prune"]);
    assert!(prune.status.success(), "{}", stderr(&prune));
    assert!(r.templates().is_empty(), "unused template pruned");
}

#[test]
fn hard_arguments_reach_the_workload_unchanged() {
    let r = Remote::ssh("hard_arguments_reach_the_workload", "");
    let sim = &r.sim;
    let hard = [
        "two words",
        "it's",
        "\"double\"",
        "$(touch /pwned)",
        "`touch /pwned2`",
        "a; touch /pwned3",
        "line1\nline2",
        "tab\there",
        "*",
        "-n",
        "ü€",
        "",
    ];
    let bundle = sim.bundle("b", "");
    edit_spec(&bundle, |spec| {
        let mut args = vec![
            serde_json::json!("sh"),
            serde_json::json!("-c"),
            serde_json::json!("for a in \"$@\"; do echo \"[$a]\"; done"),
            serde_json::json!("sh"),
        ];
        args.extend(hard.iter().map(|h| serde_json::json!(h)));
        spec["process"]["args"] = serde_json::Value::Array(args);
    });
    let c = create(sim, &bundle, "c1");
    let out = c.run(0);
    let want: String = hard.iter().map(|h| format!("[{h}]\n")).collect();
    assert_eq!(out, want);
    for p in ["pwned", "pwned2", "pwned3"] {
        assert!(!bundle.join("rootfs").join(p).exists());
        assert!(!std::path::Path::new("/").join(p).exists());
    }
    c.delete();
}

#[test]
fn signals_and_exec_reach_the_remote_process() {
    let r = Remote::ssh("signals_and_exec_reach_the_remote", "");
    let sim = &r.sim;
    let bundle = sim.bundle(
        "b",
        "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.1; done",
    );
    let c = create(sim, &bundle, "c1");
    c.start();
    wait_for("ready", std::time::Duration::from_secs(20), || {
        c.stdout().contains("ready")
    });
    let ex = sim.run(&["exec", "c1", "sh", "-c", "echo in-exec:$FOO; exit 5"]);
    assert_eq!(ex.status.code(), Some(5), "{}", stderr(&ex));
    assert_eq!(String::from_utf8_lossy(&ex.stdout), "in-exec:\n");
    let k = sim.run(&["kill", "c1", "TERM"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(
        c.wait(),
        42,
        "the workload's own trap ran: the signal reached it"
    );
    assert!(c.stdout().contains("got-term"));
    c.delete();
    assert!(sim.no_cts());
}

#[test]
fn storages_without_the_content_type_are_refused_before_anything_is_made() {
    // A stock node: `local` holds no CT volumes, `local-lvm` no templates.
    for (extra, want) in [
        (
            "rootfs_storage = \"local\"\n",
            "storage 'local' on node sim does not allow content type 'rootdir'",
        ),
        (
            "storage = \"local-lvm\"\n",
            "storage 'local-lvm' on node sim does not allow content type 'vztmpl'",
        ),
        (
            "rootfs_storage = \"nope\"\n",
            "storage 'nope' on node sim does not allow content type 'rootdir' (or does not exist)",
        ),
    ] {
        let r = Remote::ssh("storage_content", extra);
        let sim = &r.sim;
        let bundle = sim.bundle("b", "true");
        let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "c1"]);
        assert!(!out.status.success(), "{extra}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "{err:?} does not name {want:?}");
        assert!(sim.no_cts(), "no CT");
        assert!(r.templates().is_empty(), "nothing uploaded");
        assert!(!sim.state_root.join("c1").exists(), "no state dir left");
    }
}

#[test]
fn a_passed_storage_check_is_trusted_for_a_minute() {
    let r = Remote::ssh("storage_check_cached", "");
    let sim = &r.sim;
    // Log every `pvesm` the node runs, then run pve-sim's.
    let pvesm = sim.dir.path().join("node-bin/pvesm");
    let real = std::fs::read_to_string(&pvesm).unwrap();
    let log = sim.dir.path().join("pvesm.log");
    std::fs::write(
        &pvesm,
        real.replacen(
            "exec ",
            &format!("echo \"$*\" >> '{}'\nexec ", log.display()),
            1,
        ),
    )
    .unwrap();
    let checks = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("status --content"))
            .count()
    };
    let bundle = sim.bundle("b", "true");
    for id in ["c1", "c2"] {
        let c = create(sim, &bundle, id);
        c.run(0);
        c.delete();
    }
    assert_eq!(checks(), 2, "one check (vztmpl, rootdir) for both creates");
    // Other storages are another check, and a failure is not remembered.
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    std::fs::write(
        &sim.config,
        conf.replace(
            "strict = false",
            "strict = false\nrootfs_storage = \"local\"",
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "c3"]);
        assert!(stderr(&out).contains("does not allow content type 'rootdir'"));
    }
    assert_eq!(checks(), 6);
}

#[test]
fn unknown_host_key_is_refused_and_nothing_is_left() {
    let r = Remote::ssh("unknown_host_key_is_refused", "");
    let sim = &r.sim;
    std::fs::write(&r.sshd.known_hosts, "").unwrap();
    let bundle = sim.bundle("b", "true");
    let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "c1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("127.0.0.1") && err.contains("SHA256:"),
        "{err}"
    );
    assert!(sim.no_cts(), "no CT");
    assert!(
        !sim.state_root.join("c1").exists(),
        "no state dir left behind"
    );
}

#[test]
fn podman_runs_a_container_on_the_remote_node() {
    common::podman::ensure_image();
    let r = Remote::ssh("podman_over_ssh", "");
    let name = "plx-remote-ssh";
    let _ = common::podman::podman(&r.sim, &["rm", "-f", name]);
    let out = common::podman::podman(
        &r.sim,
        &[
            "run",
            "--rm",
            "--name",
            name,
            "--hostname",
            "far-away",
            common::podman::IMAGE,
            "sh",
            "-c",
            "echo hi from $(hostname); echo file:$(cat /etc/hostname); exit 7",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi from far-away\nfile:far-away\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert!(r.sim.no_cts(), "podman's cleanup destroyed the CT");
}

#[test]
fn terminal_over_ssh() {
    let r = Remote::ssh("terminal_over_ssh", "");
    let sim = &r.sim;
    let bundle = sim.bundle(
        "b",
        "test -t 0 && echo stdin-is-a-tty; stty size; echo ready; sleep 2; stty size; echo done",
    );
    edit_spec(&bundle, |spec| {
        spec["process"]["terminal"] = true.into();
        spec["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 111});
    });
    let master = common::console::create_with_console(sim, &bundle, "t1");
    let shim: i32 = sim.state_json("t1")["pid"].as_i64().unwrap() as i32;
    let s = sim.run(&["start", "t1"]);
    assert!(s.status.success(), "{}", stderr(&s));
    let resize = master.try_clone().unwrap();
    let text = common::console::read_until(master.try_clone().unwrap(), "ready");
    assert!(text.contains("stdin-is-a-tty\n33 111\n"), "{text:?}");
    // conmon resizes the master; the remote terminal follows.
    let ws = libc::winsize {
        ws_row: 50,
        ws_col: 150,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    use std::os::fd::AsRawFd;
    assert_eq!(
        // SAFETY: TIOCSWINSZ reads the winsize `ws`.
        unsafe { libc::ioctl(resize.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
    let text = common::console::read_until(master, "done");
    assert!(text.contains("50 150\n"), "{text:?}");
    common::wait_for("shim exit", std::time::Duration::from_secs(20), || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim), None).is_err()
            || sim.state_json("t1")["status"] == "stopped"
    });
    let d = sim.run(&["delete", "--force", "t1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(sim.no_cts());
}

/// The ssh backend's economy: no `pct status`, no `pct config` (the CT config file is read over
/// the connection), no `pct stop` (the CT's init is ended through LXC on the node): besides the
/// workload's own `pct exec`, create, start and destroy.
#[test]
fn a_lifecycle_over_ssh_makes_at_most_three_pct_calls_besides_exec() {
    let r = Remote::ssh("ssh_pct_call_budget", "");
    let sim = &r.sim;
    let c = create(sim, &sim.bundle("b", "echo ran; exit 4"), "p1");
    assert_eq!(c.run(4), "ran\n");
    c.delete();
    let calls: Vec<String> = sim
        .pct_calls()
        .into_iter()
        .filter(|c| c != "exec")
        .collect();
    assert_eq!(calls, ["create", "start", "destroy"]);
}

/// The CT config file is read where `pct.pve_dir` says; where it is not (a node whose pmxcfs is
/// mounted elsewhere), `pct config` decides, and `delete --force` of a created container still
/// removes its running CT.
#[test]
fn a_config_file_not_at_pve_dir_falls_back_to_pct_config() {
    let r = Remote::ssh("ssh_pve_dir_fallback", "");
    let sim = &r.sim;
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let wrong = conf.replace(
        &format!("pve_dir = \"{}\"", sim.sim_root.join("etc/pve").display()),
        "pve_dir = \"/nonexistent/pve\"",
    );
    assert_ne!(conf, wrong, "the sim config names its pve_dir");
    std::fs::write(&sim.config, wrong).unwrap();
    let _c = create(sim, &sim.bundle("b", "exec sleep 1000"), "f1");
    let vmid = sim.cts()[0].0;
    let d = sim.run(&["delete", "--force", "f1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(sim.no_cts(), "CT left behind: {:?}", sim.cts());
    wait_for(
        "no CT processes",
        std::time::Duration::from_secs(10),
        || processes_mentioning(&format!("pve-sim-ct-{vmid}")).is_empty(),
    );
}

/// A second member of the sim's cluster (pmxcfs lists members under `/etc/pve/nodes`).
/// `pvecm status` over SSH: without quorum `create` is refused with one line and leaves
/// nothing; `delete` too, keeping the container; `state` and `list` keep answering.
#[test]
fn without_quorum_create_and_delete_are_refused_over_ssh() {
    let r = Remote::cluster("without_quorum_ssh", &["sim", "n2"], "");
    let sim = &r.sim;
    let bundle = sim.bundle("b", "true");
    let knob = sim.sim_root.join("pve-sim-no-quorum");
    std::fs::write(&knob, "").unwrap();
    let want = "node sim: cluster pve-sim has no quorum";
    let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "nq"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(want), "{err}");
    assert!(sim.no_cts(), "no CT");
    assert!(r.templates().is_empty(), "nothing uploaded");
    assert!(!sim.state_root.join("nq").exists(), "no state dir left");

    std::fs::remove_file(&knob).unwrap();
    let c = create(sim, &bundle, "c1");
    std::fs::write(&knob, "").unwrap();
    assert_eq!(sim.state_json("c1")["status"], "created");
    let list = sim.run(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout), "c1\n");
    let d = sim.run(&["delete", "--force", "c1"]);
    let err = stderr(&d);
    assert!(!d.status.success() && err.contains(want), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!sim.no_cts(), "the CT stays");

    std::fs::remove_file(&knob).unwrap();
    c.delete();
    assert!(sim.no_cts());
}

/// `node = "auto"` over SSH: `pvesh get /nodes` picks the least-loaded online node, and
/// `list --cluster` reads `pvesh get /cluster/resources`, without an API token.
#[test]
fn node_auto_and_list_cluster_through_pvesh() {
    let r = Remote::cluster("node_auto_ssh", &["sim", "n2", "n3"], "");
    let sim = &r.sim;
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    std::fs::write(
        &sim.config,
        conf.replace("node = \"sim\"\n", "node = \"auto\"\n"),
    )
    .unwrap();
    // `n2` is down (two of three votes keep the quorum); `sim` and `n3` carry the same load
    // (one machine), so the name decides: `n3`.
    std::fs::write(
        sim.sim_root.join("api-faults.json"),
        r#"{"offline": ["n2"]}"#,
    )
    .unwrap();
    let bundle = sim.bundle("b", "true");
    let c = create(sim, &bundle, "a");
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join("a/state.json")).unwrap())
            .unwrap();
    assert_eq!(st["config"]["node"], "n3");
    let vmid = st["vmid"].as_u64().unwrap();
    // Made by n3's own `pct`, reached at n3's address: the config is in n3's dir.
    assert_eq!(r.cts_on("n3"), vec![vmid as u32]);
    assert!(r.cts_on("sim").is_empty());
    let list = sim.run(&["list", "--cluster", "-q"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        format!("{vmid}\n"),
        "our CT, through pvesh"
    );
    c.delete();
    let list = sim.run(&["list", "--cluster", "-q"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout), "");

    // Every node down but this one: no quorum, so nothing is placed anywhere.
    std::fs::write(
        sim.sim_root.join("api-faults.json"),
        r#"{"offline": ["n2", "n3"]}"#,
    )
    .unwrap();
    let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "b"]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("node sim: cluster pve-sim has no quorum"),
        "{err}"
    );
    assert!(sim.no_cts());
}
