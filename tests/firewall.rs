//! The Proxmox firewall of remote CTs (docs/network.md "Firewall"): the annotations
//! `org.proxmox.lxcri/firewall`, `firewall-rules` and `firewall-group` become the CT's
//! `<vmid>.fw`, which pve-sim enforces with nftables on the CT's bridge port in the test's
//! network namespace; a connection to a dropped port fails while another connects.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::netns::Netns;
use common::remote::{ApiRemote, Remote};
use common::*;

/// Listeners on 7000, 7001 and 7002, each answering `open-<port>` to every connection.
const SERVE: &str = "for p in 7000 7001 7002; do (while true; do echo open-$p | nc -l -p $p; done) & done; sleep 600";

fn bundle_with(sim: &Sim, name: &str, script: &str, ann: &[(&str, &str)]) -> PathBuf {
    let b = sim.bundle(name, script);
    edit_spec(&b, |spec| {
        let mut m = serde_json::Map::new();
        for (k, v) in ann {
            m.insert(format!("org.proxmox.lxcri/{k}"), (*v).into());
        }
        spec["annotations"] = m.into();
    });
    b
}

fn vmid_of(sim: &Sim, id: &str) -> u32 {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join(id).join("state.json")).unwrap())
            .unwrap();
    st["vmid"].as_u64().expect("a vmid") as u32
}

/// What `nc` in CT `from` gets from `ip:port` (empty when the connection fails).
fn fetch(sim: &Sim, from: u32, ip: &str, port: u16) -> String {
    let o = sim.pct(&[
        "exec",
        &from.to_string(),
        "--",
        "/bin/busybox",
        "nc",
        "-w",
        "2",
        ip,
        &port.to_string(),
    ]);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Waits until `port` answers from CT `from` (the listeners start with the workload).
fn wait_open(sim: &Sim, from: u32, ip: &str, port: u16) {
    wait_for("the listener", Duration::from_secs(30), || {
        fetch(sim, from, ip, port) == format!("open-{port}")
    });
}

fn pvesh(sim: &Sim, args: &[&str]) -> std::process::Output {
    Command::new(sibling_bin("pvesh"))
        .env("PVE_SIM_ROOT", &sim.sim_root)
        .env("PVE_SIM_NODE", "sim")
        .args(args)
        .output()
        .unwrap()
}

/// A security group of the cluster (`cluster.fw`), as the admin makes it.
fn cluster_group(sim: &Sim, name: &str, rules: &str) {
    let dir = sim.sim_root.join("etc/pve/firewall");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("cluster.fw"),
        format!("[OPTIONS]\n\nenable: 1\n\n[group {name}] # test group\n\n{rules}\n\n"),
    )
    .unwrap();
}

/// Server and client on one bridge; the server's firewall from annotations; what connects
/// before and after the rules change; what is left after delete.
fn drops_ports(sim: &Sim, ns: &Netns, node: &str) {
    ns.bridge("vmbr1");
    cluster_group(sim, "no7001", "IN DROP -p tcp -dport 7001");
    let srv = bundle_with(
        sim,
        "srv",
        SERVE,
        &[
            ("net0", "bridge=vmbr1,ip=10.50.0.1/24"),
            ("firewall", "policy_in=ACCEPT,log_level_in=nolog"),
            ("firewall-rules", "IN DROP -p tcp -dport 7000 # closed"),
            ("firewall-group", "no7001"),
        ],
    );
    let cli = bundle_with(
        sim,
        "cli",
        "sleep 600",
        &[("net0", "bridge=vmbr1,ip=10.50.0.2/24")],
    );
    let cs = create(sim, &srv, "srv");
    let cc = create(sim, &cli, "cli");
    let (vs, vc) = (vmid_of(sim, "srv"), vmid_of(sim, "cli"));
    // The interface goes through the firewall; the client's has no firewall annotation.
    assert!(sim
        .conf_value(vs, "net0")
        .unwrap()
        .split(',')
        .any(|p| p == "firewall=1"));
    assert!(!sim.conf_value(vc, "net0").unwrap().contains("firewall"));
    let fw = sim.sim_root.join(format!("etc/pve/firewall/{vs}.fw"));
    let text = std::fs::read_to_string(&fw).unwrap();
    assert!(
        text.contains("[OPTIONS]\n\nenable: 1\nlog_level_in: nolog\npolicy_in: ACCEPT\n"),
        "{text}"
    );
    assert!(
        text.contains("[RULES]\n\nIN DROP -p tcp -dport 7000 # closed\nGROUP no7001\n"),
        "{text}"
    );
    // Over the API's/pvesh's reading too.
    let o = pvesh(
        sim,
        &[
            "get",
            &format!("/nodes/{node}/lxc/{vs}/firewall/rules"),
            "--output-format",
            "json",
        ],
    );
    let rules: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(rules[1]["action"], "no7001", "{}", stderr(&o));
    assert_eq!(rules[0]["dport"], "7000");

    cs.start();
    cc.start();
    wait_open(sim, vc, "10.50.0.1", 7002);
    // The rule's port and the group's port: no connection.
    assert_eq!(fetch(sim, vc, "10.50.0.1", 7000), "");
    assert_eq!(fetch(sim, vc, "10.50.0.1", 7001), "");
    let table = ns.nft(&["list", "table", "bridge", "pve-sim-fw"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(&format!("veth{vs}i0-in")),
        "{}",
        stderr(&table)
    );
    // Without the rule (deleted as an admin would), the port connects: re-applied on change.
    let o = pvesh(
        sim,
        &[
            "delete",
            &format!("/nodes/{node}/lxc/{vs}/firewall/rules/0"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fetch(sim, vc, "10.50.0.1", 7000), "open-7000");
    assert_eq!(fetch(sim, vc, "10.50.0.1", 7001), "");
    // Proxmox's default policy_in (DROP) once the option goes, with one port let in.
    let base = format!("/nodes/{node}/lxc/{vs}/firewall");
    let o = pvesh(
        sim,
        &["set", &format!("{base}/options"), "--delete", "policy_in"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = pvesh(
        sim,
        &[
            "create",
            &format!("{base}/rules"),
            "--type",
            "in",
            "--action",
            "ACCEPT",
            "--proto",
            "tcp",
            "--dport",
            "7002",
            "--enable",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fetch(sim, vc, "10.50.0.1", 7002), "open-7002");
    assert_eq!(fetch(sim, vc, "10.50.0.1", 7000), "");

    for c in [&cs, &cc] {
        let k = sim.run(&["kill", &c.id, "KILL"]);
        assert!(k.status.success(), "{}", stderr(&k));
        c.wait();
        c.delete();
    }
    assert!(!fw.exists(), "the CT's .fw goes with it");
    assert!(sim.no_cts());
    let table = ns.nft(&["list", "table", "bridge", "pve-sim-fw"]);
    assert!(
        !String::from_utf8_lossy(&table.stdout).contains(&format!("veth{vs}")),
        "no rules left for the port"
    );
}

fn refused(sim: &Sim, ann: &[(&str, &str)], want: &str) {
    let bad = bundle_with(sim, "bad", "true", ann);
    let err = sim.create_refused(&bad, "bad");
    assert!(err.trim_end().ends_with(want), "{err}");
    assert!(
        std::fs::read_dir(sim.sim_root.join("etc/pve/firewall"))
            .map(|d| d.flatten().all(|e| e.file_name() == "cluster.fw"))
            .unwrap_or(true),
        "no .fw left"
    );
    std::fs::remove_dir_all(&bad).unwrap();
}

#[test]
fn ssh_a_dropped_port_fails_another_connects_a_group_applies_and_fw_goes_with_the_ct() {
    require_root();
    let r = Remote::ssh("fw_ssh", "");
    let ns = Netns::new("fwssh", &r.sim.sim_root);
    drops_ports(&r.sim, &ns, "sim");
}

#[test]
fn api_a_dropped_port_fails_another_connects_a_group_applies_and_fw_goes_with_the_ct() {
    require_root();
    let r = ApiRemote::new("fw_api", "sim", "sim", "");
    let ns = Netns::new("fwapi", &r.sim.sim_root);
    drops_ports(&r.sim, &ns, "sim");
}

#[test]
fn bad_firewall_annotations_are_refused_in_one_line() {
    require_root();
    let r = Remote::ssh("fw_bad", "");
    let sim = &r.sim;
    let ns = Netns::new("fwbad", &sim.sim_root);
    ns.bridge("vmbr1");
    cluster_group(sim, "web", "IN ACCEPT -p tcp -dport 80");
    let net = ("net0", "bridge=vmbr1,ip=10.60.0.1/24");
    refused(
        sim,
        &[net, ("firewall-rules", "IN DROP -p tcp -dport ssh")],
        "annotations[\"org.proxmox.lxcri/firewall-rules\"]: rule 1 'IN DROP -p tcp -dport ssh': dport: invalid port 'ssh' (a number or a range a:b)",
    );
    refused(
        sim,
        &[net, ("firewall", "policy_in=MAYBE")],
        "annotations[\"org.proxmox.lxcri/firewall\"]: policy_in: value 'MAYBE' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'",
    );
    refused(
        sim,
        &[net, ("firewall-group", "nosuch")],
        "annotations[\"org.proxmox.lxcri/firewall-group\"]: security group 'nosuch' does not exist in the cluster firewall (/cluster/firewall/groups)",
    );
}

#[test]
fn the_pct_backend_refuses_firewall_annotations() {
    require_root();
    let sim = Sim::new("fw_pct");
    let b = bundle_with(&sim, "b", "true", &[("firewall-rules", "IN ACCEPT")]);
    let err = sim.create_refused(&b, "c1");
    assert!(
        err.contains("annotations[\"org.proxmox.lxcri/firewall-rules\"]: a CT of the pct backend joins the pod's network namespace and has no Proxmox interface to filter; firewall annotations need the ssh or api backend"),
        "{err}"
    );
}
