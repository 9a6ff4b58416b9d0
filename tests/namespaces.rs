//! Namespaces config.json names by path: a netns made with `ip netns add`, and a pod's pid
//! namespace given as `/proc/<infra shim>/ns/pid`, as CRI-O does for shareProcessNamespace.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn ns_of(pid: i32, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

struct Netns(&'static str);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", self.0])
            .status();
    }
}

#[test]
fn workload_joins_a_netns_file_and_sees_its_addresses() {
    let sim = Sim::new("netns_file");
    let ns = Netns("plx-test-ns");
    let ip = |args: &[&str]| {
        assert!(
            Command::new("ip").args(args).status().unwrap().success(),
            "ip {args:?}"
        )
    };
    let _ = Command::new("ip").args(["netns", "delete", ns.0]).status();
    ip(&["netns", "add", ns.0]);
    // A documentation address (RFC 5737) on the namespace's loopback: nothing is ever sent.
    ip(&["-n", ns.0, "addr", "add", "192.0.2.7/32", "dev", "lo"]);
    let bundle = sim.bundle("b", "cat /proc/net/fib_trie");
    edit_spec(&bundle, |spec| {
        for n in spec["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = format!("/var/run/netns/{}", ns.0).into();
            }
        }
    });
    let c = create(&sim, &bundle, "n1");
    let out = c.run(0);
    assert!(
        out.contains("192.0.2.7"),
        "the workload is in the named netns and sees its address: {out}"
    );
    c.delete();
}

#[test]
fn pod_pid_namespace_given_as_the_infra_shim_means_the_infra_ct() {
    let sim = Sim::new("pod_pid_ns");
    let (infra, member) = pod_of_two(&sim, "exec sleep 5150", "exec sleep 5151");
    let mut found = Vec::new();
    wait_for("both workloads", Duration::from_secs(10), || {
        found = [
            processes_mentioning("sleep\x005150"),
            processes_mentioning("sleep\x005151"),
        ]
        .concat();
        found.len() == 2
    });
    assert_eq!(
        ns_of(found[0], "pid"),
        ns_of(found[1], "pid"),
        "the member runs in the infra CT's pid namespace"
    );
    assert_ne!(
        ns_of(found[1], "pid"),
        ns_of(std::process::id() as i32, "pid"),
        "not in the host's"
    );
    assert!(sim.run(&["delete", "--force", "member"]).status.success());
    assert!(sim.run(&["delete", "--force", "infra"]).status.success());
    assert_eq!((member.wait(), infra.wait()), (137, 137));

    // The host's own pid namespace cannot be joined by a CT.
    let bundle = sim.bundle("hostpid", "true");
    edit_spec(&bundle, |spec| {
        for n in spec["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "pid" {
                n["path"] = format!("/proc/{}/ns/pid", std::process::id()).into();
            }
        }
    });
    let out = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("h1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is the host's"), "{}", stderr(&out));
    assert!(sim.no_cts());
}

/// A UTS namespace bound to a file, as CRI-O's pinns leaves a pod's (no infra container with
/// `drop_infra_ctr`).
struct UtsFile(std::path::PathBuf);

impl Drop for UtsFile {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn hostname_is_set_inside_a_uts_namespace_joined_by_path() {
    let sim = Sim::new("uts_by_path");
    let ns = UtsFile(sim.dir.path().join("utsns"));
    std::fs::write(&ns.0, "").unwrap();
    let made = Command::new("unshare")
        .arg(format!("--uts={}", ns.0.display()))
        .arg("true")
        .status()
        .unwrap();
    assert!(made.success(), "unshare --uts=FILE");
    let bundle = sim.bundle("b", "hostname");
    edit_spec(&bundle, |spec| {
        spec["hostname"] = "webpod".into();
        for n in spec["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "uts" {
                n["path"] = ns.0.to_str().unwrap().into();
            }
        }
    });
    let c = create(&sim, &bundle, "h1");
    assert_eq!(
        c.run(0).trim(),
        "webpod",
        "runc names a joined UTS namespace"
    );
    let seen = Command::new("nsenter")
        .arg(format!("--uts={}", ns.0.display()))
        .arg("hostname")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&seen.stdout).trim(), "webpod");
    c.delete();
}
