//! The CT's mount table and /dev on pve-sim (real LXC), compared with what runc makes.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The mount points of a mountinfo text, in order.
fn mount_points(mountinfo: &str) -> Vec<&str> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .collect()
}

/// The optional fields (`shared:N`, `master:N`, ...) of the line mounted at `at`, the last one.
fn propagation_of<'a>(mountinfo: &'a str, at: &str) -> Vec<&'a str> {
    let line = mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(at))
        .unwrap_or_else(|| panic!("nothing mounted at {at}:\n{mountinfo}"));
    line.split(' ').skip(6).take_while(|f| *f != "-").collect()
}

#[test]
fn config_order_of_mounts_is_kept_and_dev_ptmx_is_a_symlink() {
    let sim = Sim::new("mount_order");
    let bundle = sim.bundle(
        "b",
        "cat /proc/self/mountinfo; echo @@; ls -l /dev/ptmx; ls /dev/pts",
    );
    edit_spec(&bundle, |spec| {
        let mounts = spec["mounts"].as_array_mut().unwrap();
        // runc's list is /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, /sys/fs/cgroup.
        mounts.insert(
            1,
            serde_json::json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]}),
        );
        mounts.push(serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    });
    let c = create(&sim, &bundle, "o1");
    let out = c.run(0);
    let (mountinfo, dev) = out.split_once("@@\n").unwrap();
    let points = mount_points(mountinfo);
    // The mount that counts is the last one at a path (what the workload sees).
    let at = |p: &str| {
        points
            .iter()
            .rposition(|x| *x == p)
            .unwrap_or_else(|| panic!("nothing at {p}:\n{mountinfo}"))
    };
    let order = ["/run", "/dev/pts", "/dev/shm", "/dev/mqueue", "/tmp"];
    for w in order.windows(2) {
        assert!(
            at(w[0]) < at(w[1]),
            "{} is mounted after {}:\n{mountinfo}",
            w[0],
            w[1]
        );
    }
    assert_eq!(
        points.iter().filter(|p| **p == "/dev/pts").count(),
        1,
        "one devpts:\n{mountinfo}"
    );
    assert!(
        !points.contains(&"/dev/ptmx"),
        "/dev/ptmx is not a mount:\n{mountinfo}"
    );
    let ptmx = dev.lines().next().unwrap();
    assert!(
        ptmx.starts_with('l') && ptmx.ends_with("/dev/ptmx -> pts/ptmx"),
        "{dev}"
    );
    assert!(dev.lines().any(|l| l == "ptmx"), "{dev}");
    c.delete();
}

/// The bundle's rootfs bind-mounted onto itself and made shared, so that propagation from the
/// host can be seen (this machine's own mounts are all private); undone on drop.
struct SharedRootfs(PathBuf);

impl SharedRootfs {
    fn new(rootfs: &Path) -> SharedRootfs {
        mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let guard = SharedRootfs(rootfs.to_path_buf());
        mount(
            None::<&str>,
            rootfs,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap();
        guard
    }
}

impl Drop for SharedRootfs {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

fn root_propagation(sim: &Sim, id: &str, propagation: Option<&str>) -> Vec<String> {
    let bundle = sim.bundle(id, "cat /proc/self/mountinfo");
    if let Some(p) = propagation {
        edit_spec(&bundle, |spec| {
            spec["linux"]["rootfsPropagation"] = serde_json::json!(p)
        });
    }
    let _shared = SharedRootfs::new(&bundle.join("rootfs"));
    let c = create(sim, &bundle, id);
    let out = c.run(0);
    c.delete();
    propagation_of(&out, "/")
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn root_propagation_slave_and_private() {
    let sim = Sim::new("root_propagation");
    // The host's mounts propagate into a slave root: it has a master.
    let slave = root_propagation(&sim, "p1", Some("slave"));
    assert!(
        slave.iter().any(|f| f.starts_with("master:")),
        "slave: {slave:?}"
    );
    let rslave = root_propagation(&sim, "p2", Some("rslave"));
    assert!(
        rslave.iter().any(|f| f.starts_with("master:")),
        "rslave: {rslave:?}"
    );
    // private: nothing links the CT's root to the host's mounts.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let private = root_propagation(&sim, "p3", Some("private"));
    assert!(
        !private.iter().any(|f| f.starts_with("master:")),
        "private: {private:?}"
    );
    assert!(
        private.iter().all(|f| !host.contains(&format!(" {f} "))),
        "private shares a peer group with the host: {private:?}"
    );
}
