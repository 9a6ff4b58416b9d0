//! Each CT's node is reached at its own SSH address: `[ssh.nodes]`, else the node's address in
//! `/cluster/status`, else `[ssh] host`. Here `[ssh] host` never reaches the node, so a
//! container that runs proves the address came from the other two.

mod common;

use common::remote::{ApiRemote, Remote};
use common::*;

/// `[ssh] host` to no one: the name does not resolve (RFC 6761 `.invalid`).
const NOWHERE: &str = "host = \"nowhere.invalid\"";

fn point_ssh_host_nowhere(config: &std::path::Path) -> String {
    let conf = std::fs::read_to_string(config).unwrap();
    let wrong = conf.replace("host = \"127.0.0.1\"", NOWHERE);
    assert_ne!(conf, wrong, "the test config names [ssh] host");
    wrong
}

#[test]
fn ssh_nodes_entry_reaches_the_node_when_ssh_host_does_not() {
    let r = Remote::ssh("ssh_nodes_entry", "");
    let sim = &r.sim;
    // The entry's port wins over `[ssh] port`, which is wrong too.
    let conf = point_ssh_host_nowhere(&sim.config)
        .replace(&format!("port = {}\n", r.sshd.port), "port = 1\n")
        + &format!("\n[ssh.nodes]\nsim = \"127.0.0.1:{}\"\n", r.sshd.port);
    std::fs::write(&sim.config, conf).unwrap();
    let c = create(sim, &sim.bundle("b", "echo here; exit 5"), "n1");
    assert_eq!(sim.cts().len(), 1, "the CT is on the node");
    assert_eq!(c.run(5), "here\n");
    c.delete();
    assert!(sim.no_cts(), "destroyed on the node: {:?}", sim.cts());

    // A malformed entry is refused with one line naming it.
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let bad = conf.replace(&format!("127.0.0.1:{}", r.sshd.port), "127.0.0.1:ssh");
    std::fs::write(&sim.config, bad).unwrap();
    let bundle = sim.bundle("b2", "true");
    let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "n2"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("ssh.nodes.sim"), "{err}");
    assert!(
        sim.no_cts() && !sim.state_root.join("n2").exists(),
        "nothing left"
    );
}

#[test]
fn the_nodes_address_in_cluster_status_reaches_it_over_the_api() {
    let r = ApiRemote::new("cluster_status_address", "sim", "sim", "");
    let sim = &r.sim;
    // pve-sim's /cluster/status gives `sim` (the first node) 127.0.0.1, where its sshd listens.
    std::fs::write(&sim.config, point_ssh_host_nowhere(&sim.config)).unwrap();
    let c = create(sim, &sim.bundle("b", "echo there; exit 6"), "a1");
    assert_eq!(c.run(6), "there\n");
    c.delete();
    assert!(r.cts_on("sim").is_empty(), "destroyed");
}

/// The `ssh` backend asks `[ssh] host` (`localhost` here) for `/cluster/status` with `pvesh`,
/// and reaches the CT's node at the address found there (`127.0.0.1`), remembered for a minute.
#[test]
fn the_nodes_address_in_cluster_status_reaches_it_over_ssh() {
    let r = Remote::ssh("cluster_status_address_ssh", "");
    let sim = &r.sim;
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    std::fs::write(
        &sim.config,
        conf.replace("host = \"127.0.0.1\"", "host = \"localhost\""),
    )
    .unwrap();
    // One sshd answers both names; the log tells which name each session used.
    let key = r
        .sshd
        .host_key_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut kh = std::fs::read_to_string(&r.sshd.known_hosts).unwrap();
    kh.push_str(&format!("[localhost]:{} {key}\n", r.sshd.port));
    std::fs::write(&r.sshd.known_hosts, kh).unwrap();

    let c = create(sim, &sim.bundle("b", "echo hi; exit 7"), "s1");
    assert_eq!(c.run(7), "hi\n");
    let cached: Vec<_> = std::fs::read_dir(sim.state_root.join(".nodes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sim.") && n.ends_with(".addr.json"))
        .collect();
    assert_eq!(cached.len(), 1, "the address is cached");
    let log = sim.dir.path().join("delete.log");
    let d = sim.run(&["--debug", "--log", log.to_str().unwrap(), "delete", "s1"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(sim.no_cts(), "destroyed: {:?}", sim.cts());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("ssh 127.0.0.1: "), "{log}");
    assert!(
        !log.contains("ssh localhost: "),
        "cached, and not [ssh] host: {log}"
    );
}

/// `gc` destroys an orphan on its node through the node's `[ssh.nodes]` entry.
#[test]
fn gc_reaches_the_orphans_node_through_ssh_nodes() {
    let r = Remote::ssh("gc_ssh_nodes_entry", "");
    let sim = &r.sim;
    let conf = point_ssh_host_nowhere(&sim.config)
        + &format!("\n[ssh.nodes]\nsim = \"127.0.0.1:{}\"\n", r.sshd.port);
    std::fs::write(&sim.config, conf).unwrap();
    let lost = create(sim, &sim.bundle("b", "sleep 1000"), "lost");
    // A create killed after `pct create` whose caller gave up: the CT, no shim, no state.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lost.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    lost.wait();
    std::fs::remove_dir_all(sim.state_root.join("lost")).unwrap();
    assert_eq!(sim.cts().len(), 1);
    let out = sim.run(&["gc"]);
    assert!(out.status.success(), "gc: {}", stderr(&out));
    assert!(sim.no_cts(), "orphan destroyed: {:?}", sim.cts());
}

/// A container placed on another node of a sim cluster runs there: pve-sim gives each node its
/// own address and sshd (whose `pct` acts only on that node's CTs), so the workload's `pct exec`
/// must reach the CT's own node, found in `/cluster/status` with `pvesh` on `[ssh] host`.
#[test]
fn a_container_on_another_node_runs_there_over_ssh() {
    let r = Remote::cluster("other_node_ssh", &["sim", "n2"], "");
    let sim = &r.sim;
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    std::fs::write(
        &sim.config,
        conf.replace("node = \"sim\"\n", "node = \"n2\"\n"),
    )
    .unwrap();
    let c = create(sim, &sim.bundle("b", "echo on $(hostname); exit 3"), "o1");
    let vmid = vmid_of(sim, "o1");
    assert_eq!((r.cts_on("n2"), r.cts_on("sim")), (vec![vmid], vec![]));
    assert!(c.run(3).starts_with("on "));
    c.delete();
    assert!(r.cts_on("n2").is_empty(), "destroyed on n2");
}

/// The same over the API: the CT is made through `/nodes/n2/lxc`, the workload runs through
/// n2's sshd at n2's address from `/cluster/status`.
#[test]
fn a_container_on_another_node_runs_there_over_the_api() {
    let r = ApiRemote::new("other_node_api", "sim,n2", "n2", "");
    let sim = &r.sim;
    let c = create(sim, &sim.bundle("b", "echo there; exit 4"), "o2");
    let vmid = vmid_of(sim, "o2");
    assert_eq!((r.cts_on("n2"), r.cts_on("sim")), (vec![vmid], vec![]));
    assert_eq!(c.run(4), "there\n");
    c.delete();
    assert!(r.cts_on("n2").is_empty(), "destroyed on n2");
}

/// The VMID the runtime recorded for container `id`.
fn vmid_of(sim: &Sim, id: &str) -> u32 {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join(id).join("state.json")).unwrap())
            .unwrap();
    st["vmid"].as_u64().unwrap() as u32
}
