//! `linux.cgroupsPath` on pve-sim (real LXC; this host: cgroup v1): the CT's own cgroup is made
//! there, so the container's memory, CPU and pids usage and its limits are where CRI-O, cadvisor
//! and podman read them, and `update` changes them there and in the CT's Proxmox config alike.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// A test-unique parent cgroup (the pod's, say); what is left below it is removed when dropped.
struct Parent(String);

impl Parent {
    fn new(name: &str) -> Parent {
        Parent(format!("plx-cg-{}-{name}", std::process::id()))
    }

    /// `linux.cgroupsPath` of container `leaf` (cgroupfs form).
    fn cgroups_path(&self, leaf: &str) -> String {
        format!("/{}/{leaf}", self.0)
    }

    fn dir(&self, ctrl: &str, leaf: &str) -> PathBuf {
        PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/{}/{leaf}", self.0))
    }

    fn read(&self, ctrl: &str, leaf: &str, file: &str) -> String {
        let p = self.dir(ctrl, leaf).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    fn num(&self, ctrl: &str, leaf: &str, file: &str) -> u64 {
        self.read(ctrl, leaf, file).parse().unwrap()
    }

    /// Directories of `leaf` (or below it) left in any hierarchy.
    fn left(&self, leaf: &str) -> Vec<PathBuf> {
        hierarchies()
            .map(|h| h.join(&self.0).join(leaf))
            .filter(|d| d.exists())
            .collect()
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        for h in hierarchies() {
            remove_tree(&h.join(&self.0));
        }
    }
}

fn hierarchies() -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
}

fn remove_tree(dir: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The CT's init, from LXC (not `pct`, whose calls the tests count).
fn init_pid(sim: &Sim, vmid: u32) -> i32 {
    let out = std::process::Command::new("lxc-info")
        .arg("-P")
        .arg(sim.sim_root.join("lxc"))
        .args(["-n", &vmid.to_string(), "-p", "-H"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no init pid from lxc-info: {}", stderr(&out)))
}

/// Every live process of the CT: those in its init's pid namespace (whatever their cgroup).
/// Zombies are left out: the kernel shows them in the root cgroup.
fn ct_processes(init: i32) -> Vec<i32> {
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let zombie = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |s| {
            s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z'))
        })
    };
    let want = ns(init).expect("the init runs");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(*p).as_ref() == Some(&want) && !zombie(*p))
        .collect()
}

/// The path of `pid`'s cgroup in the v1 hierarchy of `ctrl`.
fn cgroup_of(pid: i32, ctrl: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| c == ctrl)
                .then(|| path.to_string())
        })
        .unwrap_or_default()
}

/// user + system CPU time of `pid` in nanoseconds (`/proc/<pid>/stat`, clock ticks of 10 ms).
fn cpu_ns(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks * 10_000_000
}

/// A busybox bundle with `head` (to fill the CT's /dev/shm tmpfs, charged to its memory cgroup).
fn bundle(sim: &Sim, name: &str, script: &str) -> PathBuf {
    let b = sim.bundle(name, script);
    let _ = std::os::unix::fs::symlink("busybox", b.join("rootfs/bin/head"));
    b
}

const MIB: u64 = 1 << 20;

#[test]
fn usage_and_limits_are_at_cgroups_path() {
    // Dropped after the sim, which deletes what a failed test left running.
    let parent = Parent::new("usage");
    let sim = Sim::new("cgroups_path_usage");
    // 40 MiB in a tmpfs, two more processes, some CPU; then it signals readiness and waits.
    let script = "head -c 40m /dev/zero > /dev/shm/fill; sleep 1000 & sleep 1000 & \
                  i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; touch /dev/shm/ready; wait";
    let b = bundle(&sim, "b", script);
    edit_spec(&b, |spec| {
        spec["linux"]["cgroupsPath"] = parent.cgroups_path("c1").into();
        spec["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": 256 * MIB},
            "pids": {"limit": 64},
            "cpu": {"quota": 50000, "period": 100000}
        });
    });
    let c = create(&sim, &b, "c1");
    // The limits are there from `create` on, as with runc.
    assert_eq!(
        parent.num("memory", "c1", "memory.limit_in_bytes"),
        256 * MIB
    );
    assert_eq!(parent.read("pids", "c1", "pids.max"), "64");
    assert_eq!(parent.read("cpu", "c1", "cpu.cfs_quota_us"), "50000");
    c.start();
    let vmid = cases::only_vmid(&sim);
    let init = init_pid(&sim, vmid);
    let ready = PathBuf::from(format!("/proc/{init}/root/dev/shm/ready"));
    wait_for("the workload's memory", Duration::from_secs(30), || {
        ready.exists()
    });

    let usage = parent.num("memory", "c1", "memory.usage_in_bytes");
    assert!(
        usage >= 40 * MIB,
        "memory.usage_in_bytes at cgroupsPath: {usage}"
    );
    let procs = ct_processes(init);
    assert!(
        procs.len() >= 3,
        "the workload (sh, the CT's pid 1) and two sleeps: {procs:?}"
    );
    let want = parent.cgroups_path("c1");
    for p in &procs {
        let cg = cgroup_of(*p, "pids");
        assert!(
            cg == want || cg.starts_with(&format!("{want}/")),
            "CT process {p} in pids cgroup {cg}, not below {want}"
        );
    }
    let pids = parent.num("pids", "c1", "pids.current");
    assert!(
        pids >= procs.len() as u64,
        "pids.current {pids} < the CT's {} processes",
        procs.len()
    );
    // The shim is there for conmon's OOM watch and podman's statistics, but not in the freezer:
    // `pause` must not freeze it.
    assert_eq!(cgroup_of(c.pid, "memory"), want);
    assert_ne!(cgroup_of(c.pid, "freezer"), want);
    let used: u64 = procs.iter().map(|p| cpu_ns(*p)).sum();
    let acct = parent.num("cpuacct", "c1", "cpuacct.usage");
    assert!(
        used > 0 && acct + 10_000_000 * procs.len() as u64 >= used,
        "cpuacct.usage {acct} ns does not hold the CT's {used} ns"
    );

    let k = sim.run(&["kill", "c1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(c.wait(), 137);
    c.delete();
    assert!(sim.no_cts(), "CT left: {:?}", sim.cts());
    // The init in the caller's cgroup is still found through LXC, not a `pct status`.
    let calls: Vec<String> = sim
        .pct_calls()
        .into_iter()
        .filter(|c| c != "list")
        .collect();
    assert_eq!(calls, ["create", "start", "destroy"]);
    wait_for("the cgroups to go", Duration::from_secs(10), || {
        parent.left("c1").is_empty()
    });
}

#[test]
fn update_changes_the_callers_cgroup_and_the_ct() {
    // Dropped after the sim, which deletes what a failed test left running.
    let parent = Parent::new("update");
    let sim = Sim::new("cgroups_path_update");
    // The pod's cgroup exists already, below a parent of its own (podman's
    // `libpod_parent/<pod>`): v1 cpusets without cpus that pass nothing to new children. LXC
    // readies only the top directory of the path.
    let pod = PathBuf::from(format!("/sys/fs/cgroup/cpuset/{}/pod", parent.0));
    std::fs::create_dir_all(&pod).unwrap();
    std::fs::write(pod.join("cgroup.clone_children"), "0").unwrap();
    let b = bundle(&sim, "b", "exec sleep 1000");
    edit_spec(&b, |spec| {
        spec["linux"]["cgroupsPath"] = parent.cgroups_path("pod/u1").into();
        spec["linux"]["resources"] = serde_json::json!({"memory": {"limit": 256 * MIB}});
    });
    let c = create(&sim, &b, "u1");
    c.start();
    let vmid = cases::only_vmid(&sim);
    let init = init_pid(&sim, vmid);
    // The CT's own cgroup (what Proxmox's hot-plug writes to) is the caller's.
    let want = parent.cgroups_path("pod/u1");
    assert_eq!(
        cgroup_of(init, "memory").strip_suffix("/ns"),
        Some(want.as_str())
    );

    let u = sim.run(&["update", "--memory", "300m", "--pids-limit", "50", "u1"]);
    assert!(u.status.success(), "update: {}", stderr(&u));
    assert_eq!(
        parent.num("memory", "pod/u1", "memory.limit_in_bytes"),
        300 * MIB
    );
    assert_eq!(parent.read("pids", "pod/u1", "pids.max"), "50");
    assert_eq!(sim.conf_value(vmid, "memory").as_deref(), Some("300"));
    assert_eq!(
        sim.conf_value(vmid, "lxc.cgroup2.pids.max").as_deref(),
        Some("50")
    );

    // pause freezes the CT's cgroup, wherever it is.
    let p = sim.run(&["pause", "u1"]);
    assert!(p.status.success(), "pause: {}", stderr(&p));
    assert_eq!(parent.read("freezer", "pod/u1", "freezer.state"), "FROZEN");
    let r = sim.run(&["resume", "u1"]);
    assert!(r.status.success(), "resume: {}", stderr(&r));
    assert_eq!(parent.read("freezer", "pod/u1", "freezer.state"), "THAWED");

    let k = sim.run(&["kill", "u1", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(c.wait(), 137);
    c.delete();
    // Removed once the CT is down, which may be after `delete` returned (src/pending.rs).
    wait_for("the cgroups to go", Duration::from_secs(10), || {
        parent.left("pod/u1").is_empty()
    });
}

#[test]
fn a_path_in_proxmoxs_tree_is_refused() {
    let sim = Sim::new("cgroups_path_bad");
    let b = bundle(&sim, "b", "true");
    edit_spec(&b, |spec| spec["linux"]["cgroupsPath"] = "/lxc/100".into());
    // No stdio of ours for the container: a create that wrongly succeeds must not hang here.
    let out = sim
        .runtime()
        .args(["create", "--bundle", b.to_str().unwrap(), "bad1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(sim.dir.path().join("bad1.err")).unwrap())
        .status()
        .unwrap();
    let e = std::fs::read_to_string(sim.dir.path().join("bad1.err")).unwrap();
    assert!(!out.success());
    assert!(e.contains("linux.cgroupsPath"), "{e}");
    assert_eq!(e.lines().count(), 1, "one error line: {e}");
    assert!(sim.no_cts());
    assert!(!sim.state_root.join("bad1").exists());
}

#[test]
fn a_failed_create_leaves_no_cgroup_behind() {
    let parent = Parent::new("failed");
    let sim = Sim::new("cgroups_path_failed");
    let b = bundle(&sim, "b", "true");
    edit_spec(&b, |spec| {
        spec["linux"]["cgroupsPath"] = parent.cgroups_path("f1").into();
        // Fails once the CT runs in its cgroup at the path.
        spec["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let out = sim
        .runtime()
        .args(["create", "--bundle", b.to_str().unwrap(), "f1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(sim.dir.path().join("f1.err")).unwrap())
        .status()
        .unwrap();
    let e = std::fs::read_to_string(sim.dir.path().join("f1.err")).unwrap();
    assert!(!out.success());
    assert!(e.contains("createRuntime hook"), "{e}");
    assert!(sim.no_cts(), "CT left: {:?}", sim.cts());
    assert_eq!(parent.left("f1"), Vec::<PathBuf>::new(), "cgroups left");
}
