//! Per-container networks of remote CTs (docs/network.md): `org.proxmox.lxcri/netN` annotations
//! on a sim node whose bridges are real Linux bridges in a network namespace the test makes and
//! removes (the host's own network is not touched).

mod common;

use std::time::Duration;

use common::netns::Netns;
use common::remote::{ApiRemote, Remote};
use common::*;

/// A busybox bundle running `script` with `net0` (and more) from annotations.
fn bundle_with_nets(
    sim: &Sim,
    name: &str,
    script: &str,
    nets: &[(&str, &str)],
) -> std::path::PathBuf {
    let b = sim.bundle(name, script);
    edit_spec(&b, |spec| {
        let mut ann = serde_json::Map::new();
        for (k, v) in nets {
            ann.insert(format!("org.proxmox.lxcri/{k}"), (*v).into());
        }
        spec["annotations"] = ann.into();
    });
    b
}

/// Waits until something in CT `vmid` listens on TCP `port` (`/proc/net/tcp`, state 0A).
fn wait_listening(sim: &Sim, vmid: u32, port: u16) {
    let needle = format!(":{port:04X} ");
    wait_for("the listener", Duration::from_secs(20), || {
        let o = sim.pct(&[
            "exec",
            &vmid.to_string(),
            "--",
            "cat",
            "/proc/net/tcp",
            "/proc/net/tcp6",
        ]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.contains(&needle) && l.split_whitespace().nth(3) == Some("0A"))
    });
}

/// `netN` of CT `vmid` without what Proxmox adds (`hwaddr`, `type=veth`).
fn net_conf(sim: &Sim, vmid: u32, key: &str) -> String {
    sim.conf_value(vmid, key)
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.starts_with("hwaddr=") && *p != "type=veth")
        .collect::<Vec<_>>()
        .join(",")
}

/// The VMID `create` recorded for `id`.
fn vmid_of(sim: &Sim, id: &str) -> u32 {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join(id).join("state.json")).unwrap())
            .unwrap();
    st["vmid"].as_u64().expect("a vmid") as u32
}

/// Takes one connection and prints its first line: the line is read by a shell on the socket
/// (`-e`), so the listener cannot end before the peer's data is in.
const LISTEN: &str =
    "nc -l -p 7000 -e /bin/sh -c 'read l; echo \"$l\" > /dev/.got' && cat /dev/.got";

fn connect(ip: &str) -> String {
    format!("echo hello-from-peer | nc -w 3 {ip} 7000")
}

#[test]
fn cts_on_one_vlan_tag_talk_and_another_tag_does_not() {
    require_root();
    let r = Remote::ssh("net_vlan", "");
    let sim = &r.sim;
    let ns = Netns::new("vlan", &sim.sim_root);
    // Plain: this kernel has no bridge VLAN filtering, so tags get `vmbr1v<tag>` bridges.
    ns.bridge("vmbr1");
    let a = bundle_with_nets(
        sim,
        "a",
        LISTEN,
        &[("net0", "bridge=vmbr1,tag=20,ip=10.20.0.1/24")],
    );
    let b = bundle_with_nets(
        sim,
        "b",
        &connect("10.20.0.1"),
        &[(
            "net0",
            "bridge=vmbr1,tag=20,ip=10.20.0.2/24,mtu=1400,rate=10",
        )],
    );
    let c = bundle_with_nets(
        sim,
        "c",
        &connect("10.20.0.1"),
        &[
            ("net0", "bridge=vmbr1,tag=30,ip=10.20.0.3/24"),
            (
                "net1",
                "name=side,bridge=vmbr1,tag=31,ip6=fd00:31::3/64,gw6=fd00:31::1",
            ),
        ],
    );
    let ca = create(sim, &a, "a");
    let cb = create(sim, &b, "b");
    let cc = create(sim, &c, "c");
    let (va, vb, vc) = (vmid_of(sim, "a"), vmid_of(sim, "b"), vmid_of(sim, "c"));
    assert_eq!(
        net_conf(sim, va, "net0"),
        "name=eth0,bridge=vmbr1,host-managed=1,ip=10.20.0.1/24,tag=20"
    );
    assert_eq!(
        net_conf(sim, vb, "net0"),
        "name=eth0,bridge=vmbr1,host-managed=1,ip=10.20.0.2/24,mtu=1400,rate=10,tag=20"
    );
    assert_eq!(
        net_conf(sim, vc, "net1"),
        "name=side,bridge=vmbr1,gw6=fd00:31::1,host-managed=1,ip6=fd00:31::3/64,tag=31"
    );

    ca.start();
    wait_listening(sim, va, 7000);
    // The port is on the tag's bridge, as pve-common's activate_bridge_vlan makes it.
    assert_eq!(ns.master(&format!("veth{va}i0")), "vmbr1v20");
    // Another tag: no route to the listener; the CT's own address is set (LXC, host-managed).
    cc.run(1);
    let inside = sim.pct(&[
        "exec",
        &va.to_string(),
        "--",
        "/bin/busybox",
        "ip",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        String::from_utf8_lossy(&inside.stdout).contains("inet 10.20.0.1/24"),
        "{}",
        stderr(&inside)
    );
    // The same tag: connected, and the listener got the line and ended.
    let b_out = cb.run(0);
    assert_eq!(ca.wait(), 0, "a: {}", ca.stderr());
    assert_eq!(
        ca.stdout(),
        "hello-from-peer\n",
        "a's stderr {:?}; b's stdout {b_out:?}, stderr {:?}",
        ca.stderr(),
        cb.stderr()
    );
    for c in [&ca, &cb, &cc] {
        c.delete();
    }
    assert!(sim.no_cts());
}

#[test]
fn a_vnet_is_a_bridge_and_bad_or_unknown_ones_are_refused() {
    require_root();
    let r = Remote::ssh("net_vnet", "");
    let sim = &r.sim;
    let ns = Netns::new("vnet", &sim.sim_root);
    ns.bridge("vmbr0");
    // A simple zone's vnet: a bridge of the vnet's name, which SDN's apply makes on a node.
    ns.bridge("blue");
    let sdn = sim.sim_root.join("etc/pve/sdn");
    std::fs::create_dir_all(&sdn).unwrap();
    std::fs::write(sdn.join("vnets.cfg"), "vnet: blue\n\tzone lan\n\n").unwrap();
    let a = bundle_with_nets(sim, "a", LISTEN, &[("net0", "bridge=blue,ip=10.30.0.1/24")]);
    let b = bundle_with_nets(
        sim,
        "b",
        &connect("10.30.0.1"),
        &[("net0", "bridge=blue,ip=10.30.0.2/24")],
    );
    let ca = create(sim, &a, "a");
    let cb = create(sim, &b, "b");
    ca.start();
    wait_listening(sim, vmid_of(sim, "a"), 7000);
    cb.run(0);
    assert_eq!(ca.wait(), 0);
    assert_eq!(ca.stdout(), "hello-from-peer\n");
    ca.delete();
    cb.delete();

    for (nets, want) in [
        (
            ("net0", "bridge=green,ip=dhcp"),
            "annotations[\"org.proxmox.lxcri/net0\"]: bridge 'green' is neither a bridge of node sim nor an SDN vnet of the cluster",
        ),
        (
            ("net1", "bridge=vmbr0,tag=5000"),
            "annotations[\"org.proxmox.lxcri/net1\"]: net1.tag: value must have a maximum value of 4094",
        ),
        (
            ("net0", "bridge=vmbr0,speed=fast"),
            "annotations[\"org.proxmox.lxcri/net0\"]: invalid format - invalid key in comma-separated list property: speed",
        ),
    ] {
        let bad = bundle_with_nets(sim, "bad", "true", &[nets]);
        let err = sim.create_refused(&bad, "bad");
        assert!(err.trim_end().ends_with(want), "{err}");
        std::fs::remove_dir_all(&bad).unwrap();
    }
}

#[test]
fn the_api_backend_checks_bridges_and_passes_nets() {
    require_root();
    let r = ApiRemote::new("net_api", "sim", "sim", "");
    let sim = &r.sim;
    let ns = Netns::new("api", &sim.sim_root);
    ns.bridge("vmbr1");
    let bad = bundle_with_nets(sim, "bad", "true", &[("net0", "bridge=vmbr9,tag=20")]);
    let err = sim.create_refused(&bad, "bad");
    assert!(
        err.contains("annotations[\"org.proxmox.lxcri/net0\"]: bridge 'vmbr9' is neither a bridge of node sim nor an SDN vnet of the cluster"),
        "{err}"
    );
    assert!(sim.no_cts());
    let ok = bundle_with_nets(
        sim,
        "ok",
        "ip -o addr show eth0 | grep -o 'inet [0-9./]*'; ip -o addr show eth1 | grep -o 'inet [0-9./]*'",
        &[
            ("net0", "bridge=vmbr1,tag=20,ip=10.40.0.5/24,gw=10.40.0.1"),
            ("net1", "bridge=vmbr1,ip=10.41.0.5/16"),
        ],
    );
    let c = create(sim, &ok, "ok");
    let vmid = vmid_of(sim, "ok");
    assert_eq!(
        net_conf(sim, vmid, "net1"),
        "name=eth1,bridge=vmbr1,host-managed=1,ip=10.41.0.5/16"
    );
    assert_eq!(c.run(0), "inet 10.40.0.5/24\ninet 10.41.0.5/16\n");
    c.delete();
}

#[test]
fn the_pct_backend_refuses_net_annotations() {
    require_root();
    let sim = Sim::new("net_pct");
    let b = bundle_with_nets(&sim, "b", "true", &[("net0", "bridge=vmbr0")]);
    let err = sim.create_refused(&b, "c1");
    assert!(
        err.contains("annotations[\"org.proxmox.lxcri/net0\"]: a CT of the pct backend joins the pod's network namespace; netN annotations need the ssh or api backend"),
        "{err}"
    );
}
