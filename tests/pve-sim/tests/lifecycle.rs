//! A real CT through its whole life: create, start, status, exec, stop, destroy.

mod common;

use std::fs;

use common::{code, err, is_root, out, owner, root_node, tree_state, Node};

#[test]
fn create_start_exec_stop_destroy() {
    let Some(n) = root_node() else { return };
    let before = tree_state(&n.rootfs);
    let mp = n.dir.path().join("mpsrc");
    fs::create_dir(&mp).unwrap();
    fs::write(mp.join("f"), "on the host\n").unwrap();
    let mp0 = format!("{},mp=/mnt/data", mp.display());
    n.create(
        93101,
        &[
            "--hostname",
            "life",
            "--mp0",
            &mp0,
            "--tags",
            "proxmox-lxcri",
            "--description",
            "oci id: abc",
        ],
    );
    n.append_conf(
        93101,
        "lxc.environment.runtime: GREETING=hi there\nlxc.init.cwd: /tmp\n",
    );

    let o = n.pct(&["start", "93101"]);
    assert_eq!(code(&o), 0, "start: {}", err(&o));
    assert_eq!(out(&o), "", "a successful start prints nothing");

    let status = n.ok(&["status", "93101"]);
    assert_eq!(status, "status: running\n");
    let verbose = n.ok(&["status", "93101", "--verbose"]);
    let keys: Vec<&str> = verbose
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "status --verbose keys are sorted");
    let pid: i32 = verbose
        .lines()
        .find_map(|l| l.strip_prefix("pid: "))
        .expect("pid when running")
        .parse()
        .unwrap();
    assert!(
        fs::metadata(format!("/proc/{pid}")).is_ok(),
        "pid {pid} is a live process"
    );
    assert!(
        verbose.contains("name: life\n")
            && verbose.contains("type: lxc\n")
            && verbose.contains("vmid: 93101\n")
    );
    assert!(verbose.contains(&format!("maxmem: {}\n", 64 * 1024 * 1024)));

    // exec: output, environment from the config, exit statuses like lxc-attach.
    assert_eq!(
        n.sh_ok(
            93101,
            "echo $GREETING; cat /etc/hello /mnt/data/f; hostname"
        ),
        "hi there\nhello from the image\non the host\nlife\n"
    );
    assert_eq!(code(&n.sh(93101, "exit 7")), 7);
    assert_eq!(
        code(&n.pct(&["exec", "93101", "--", "/no/such/program"])),
        127
    );
    assert_eq!(code(&n.sh(93101, "kill -9 $$")), 137);
    // The init's cwd comes from the raw key.
    let o = n.sh(93101, "ls -l /proc/1/cwd");
    assert!(out(&o).ends_with("-> /tmp\n"), "init cwd: {}", out(&o));

    let list = n.ok(&["list"]);
    assert_eq!(
        list,
        format!(
            "{:<10} {:<10} {:<12} {:<20}\n{:<10} {:<10} {:<12} {:<20}\n",
            "VMID", "Status", "Lock", "Name", 93101, "running", "", "life"
        )
    );

    let o = n.pct(&["stop", "93101"]);
    assert_eq!(
        (code(&o), out(&o), err(&o)),
        (0, String::new(), String::new())
    );
    assert_eq!(n.ok(&["status", "93101"]), "status: stopped\n");
    assert!(!n.ok(&["status", "93101", "--verbose"]).contains("pid:"));
    assert!(n.wait_no_processes().is_empty(), "nothing runs after stop");

    let o = n.pct(&["destroy", "93101", "--purge"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(!n.conf_path(93101).exists());
    assert!(!n.lxc_path().join("93101").exists());
    assert_eq!(n.ok(&["list"]), "");
    // The bind-mounted rootfs and the mount point source are exactly as before.
    assert_eq!(tree_state(&n.rootfs), before);
    assert_eq!(fs::read_to_string(mp.join("f")).unwrap(), "on the host\n");
    assert!(n.mounts().is_empty());
}

#[test]
fn force_destroy_of_a_running_ct_stops_it_and_keeps_the_rootfs() {
    let Some(n) = root_node() else { return };
    n.create(93102, &[]);
    n.ok(&["start", "93102"]);
    // Files written inside the CT belong to the host directory and survive the CT.
    n.sh_ok(93102, "echo kept > /tmp/written");
    let before = tree_state(&n.rootfs);
    let o = n.pct(&["destroy", "93102", "--force", "--purge"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        out(&o),
        "WARN: forced to stop CT 93102 before destroying!\npurging CT 93102 from related configurations..\n"
    );
    assert_eq!(err(&o), "Task finished with 1 warning(s)!\n");
    assert!(!n.conf_path(93102).exists());
    assert_eq!(tree_state(&n.rootfs), before);
    assert_eq!(
        fs::read_to_string(n.rootfs.join("tmp/written")).unwrap(),
        "kept\n"
    );
    assert!(n.wait_no_processes().is_empty());
}

#[test]
fn unprivileged_with_idmap_passthrough_writes_as_host_root() {
    let Some(n) = root_node() else { return };
    let rootfs = format!("{},idmap=passthrough", n.rootfs.display());
    n.create_from(93103, n.template.to_str().unwrap(), &rootfs, &[]);
    assert!(
        n.conf(93103).contains("unprivileged: 1\n"),
        "unprivileged is the create default"
    );
    n.ok(&["start", "93103"]);
    let lxc_conf = fs::read_to_string(n.lxc_path().join("93103/config")).unwrap();
    assert!(lxc_conf.contains("lxc.idmap = u 0 100000 65536\n"));
    assert!(lxc_conf.contains("lxc.rootfs.options = idmap=container\n"));
    assert_eq!(
        n.sh_ok(93103, "id -u; stat -c %u /etc/hello; echo x > /tmp/ct-root"),
        "0\n0\n"
    );
    assert_eq!(
        owner(&n.rootfs.join("tmp/ct-root")).0,
        0,
        "CT root writes host-root-owned files"
    );
    // The init really runs in a user namespace mapped to 100000.
    let pid = n
        .ok(&["status", "93103", "--verbose"])
        .lines()
        .find_map(|l| l.strip_prefix("pid: ").map(str::to_string))
        .unwrap();
    let map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    n.ok(&["stop", "93103"]);
    n.ok(&["destroy", "93103"]);
}

#[test]
fn a_host_binary_mounted_into_dev_lands_in_the_autodev_tmpfs() {
    let Some(n) = root_node() else { return };
    let before = tree_state(&n.rootfs);
    n.create(93104, &["--entrypoint", "/dev/sleep 100000"]);
    // Any static idle binary works; busybox picks the applet from the file name.
    n.append_conf(
        93104,
        "lxc.mount.entry: /bin/busybox dev/sleep none bind,ro,create=file 0 0\n",
    );
    let o = n.pct(&["start", "93104"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = n.sh(
        93104,
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /dev/sleep",
    );
    assert_eq!(out(&o), "/dev/sleep 100000 \n/dev/sleep\n", "{}", err(&o));
    n.ok(&["stop", "93104"]);
    n.ok(&["destroy", "93104"]);
    assert_eq!(
        tree_state(&n.rootfs),
        before,
        "nothing was written into the rootfs"
    );
}

#[test]
fn shutdown_without_force_times_out_and_force_stops() {
    let Some(n) = root_node() else { return };
    // busybox sleep as pid 1 ignores SIGPWR, so only a kill ends it.
    n.create(93105, &[]);
    n.ok(&["start", "93105"]);
    let o = n.pct(&["shutdown", "93105", "--timeout", "1"]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, "container did not stop\n".to_string())
    );
    assert_eq!(n.ok(&["status", "93105"]), "status: running\n");
    let o = n.pct(&["shutdown", "93105", "--timeout", "1", "--forceStop", "1"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(n.ok(&["status", "93105"]), "status: stopped\n");

    // A shell init that exits on the halt signal shuts down cleanly. It is a script file:
    // LXC 5.0 splits lxc.init.cmd on whitespace only, quotes stay literal.
    std::fs::write(
        n.rootfs.join("halt.sh"),
        "trap exit PWR\nwhile :; do sleep 1; done\n",
    )
    .unwrap();
    n.ok(&["set", "93105", "--entrypoint", "/bin/sh /halt.sh"]);
    n.ok(&["start", "93105"]);
    let o = n.pct(&["shutdown", "93105", "--timeout", "20"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(n.ok(&["status", "93105"]), "status: stopped\n");

    // An init that exits at once still counts as started (Proxmox returns on RUNNING);
    // lxc-start's status is recorded like systemd's ExecMainStatus.
    std::fs::write(n.rootfs.join("halt.sh"), "exit 3\n").unwrap();
    for _ in 0..3 {
        n.ok(&["start", "93105"]);
        assert!(n.wait_no_processes().is_empty());
        let exit = std::fs::read_to_string(n.root.join("run/pve/ct-93105.exit")).unwrap();
        assert_eq!(
            exit, "0\n",
            "lxc-start -F does not pass the init's status on"
        );
    }
    n.ok(&["destroy", "93105"]);
}

#[test]
fn limits_are_enforced_through_cgroup_v1() {
    if !is_root() {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
        && !std::path::Path::new("/sys/fs/cgroup/memory").is_dir()
    {
        eprintln!("skipped: no cgroup v1 memory controller");
        return;
    }
    let n = Node::new();
    n.create(93106, &["--cpulimit", "0.5", "--cores", "1"]);
    n.append_conf(93106, "lxc.cgroup2.pids.max: 42\n");
    n.ok(&["start", "93106"]);
    let read = |p: &str| {
        fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        read("/sys/fs/cgroup/memory/lxc/93106/memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read("/sys/fs/cgroup/cpu/lxc/93106/cpu.cfs_quota_us"),
        "50000"
    );
    assert_eq!(read("/sys/fs/cgroup/pids/lxc/93106/pids.max"), "42");
    assert_eq!(
        read("/sys/fs/cgroup/cpuset/lxc/93106/cpuset.cpus")
            .split(',')
            .count(),
        1
    );
    // Memory is hot-pluggable.
    n.ok(&["set", "93106", "--memory", "96"]);
    assert_eq!(
        read("/sys/fs/cgroup/memory/lxc/93106/memory.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert!(n.conf(93106).contains("memory: 96\n"));
    n.ok(&["stop", "93106"]);
    n.ok(&["destroy", "93106"]);
}
