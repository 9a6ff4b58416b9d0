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
    assert!(sim.no_cts() && !sim.state_root.join("n2").exists(), "nothing left");
}

#[test]
fn the_nodes_address_in_cluster_status_reaches_it_over_the_api() {
    let r = ApiRemote::new("cluster_status_address", "sim", "sim", "");
    let sim = &r.sim;
    // pve-sim's /cluster/status gives every node 127.0.0.1, where the test sshd listens.
    std::fs::write(&sim.config, point_ssh_host_nowhere(&sim.config)).unwrap();
    let c = create(sim, &sim.bundle("b", "echo there; exit 6"), "a1");
    assert_eq!(c.run(6), "there\n");
    c.delete();
    assert!(r.cts_on("sim").is_empty(), "destroyed");
}
