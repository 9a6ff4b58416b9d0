//! The node's network (README.md, "Networks"): bridges in a network namespace the test makes,
//! `netN` checks of `update_pct_config`, the up-script's plugging, `pvesh get` of the node's
//! bridges and the cluster's SDN vnets.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::{code, err, out, root_node, Node, NODE};

/// A namespace named for the test, with its bridges; removed on drop.
struct Netns(String);

impl Netns {
    fn new(n: &Node, name: &str) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        let ns = Netns(name.to_string());
        ns.ip(&["netns", "add", name]);
        fs::create_dir_all(&n.root).unwrap();
        fs::write(n.root.join("pve-sim-netns"), format!("/run/netns/{name}\n")).unwrap();
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let o = Command::new("ip").args(args).output().unwrap();
        assert!(o.status.success(), "ip {args:?}: {}", err(&o));
        out(&o)
    }

    fn bridge(&self, name: &str, mtu: &str) {
        self.ip(&[
            "-n", &self.0, "link", "add", name, "mtu", mtu, "type", "bridge",
        ]);
        self.ip(&["-n", &self.0, "link", "set", name, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn pvesh(n: &Node, path: &str) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_pvesh"))
        .args(["get", path, "--output-format", "json"])
        .env("PVE_SIM_ROOT", &n.root)
        .env("PVE_SIM_NODE", NODE)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "pvesh get {path}: {}", err(&o));
    serde_json::from_str(&out(&o)).unwrap()
}

#[test]
fn bridges_vnets_and_the_netn_checks() {
    let Some(n) = root_node() else { return };
    let ns = Netns::new(&n, "pvesim-simtest-net");
    ns.bridge("vmbr1", "1400");
    ns.bridge("blue", "1500");
    fs::create_dir_all(n.root.join("etc/pve/sdn")).unwrap();
    fs::write(
        n.root.join("etc/pve/sdn/vnets.cfg"),
        "vnet: blue\n\tzone lan\n\ttag 20\n",
    )
    .unwrap();

    let bridges = pvesh(&n, &format!("/nodes/{NODE}/network"));
    let names: Vec<&str> = bridges
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["iface"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vmbr1"], "{bridges}");
    assert_eq!(bridges[0]["type"], "bridge");
    let vnets = pvesh(&n, "/cluster/sdn/vnets");
    assert_eq!(
        vnets,
        serde_json::json!([{"vnet": "blue", "type": "vnet", "zone": "lan", "tag": 20}])
    );

    // update_pct_config: the bridge's MTU, and a bridge the node lacks once an MTU is given.
    let rootfs = n.rootfs.to_string_lossy().into_owned();
    let id = "93871";
    let create = |net0: &str| {
        n.pct(&[
            "create",
            id,
            n.template.to_str().unwrap(),
            "--rootfs",
            &rootfs,
            "--ostype",
            "unmanaged",
            "--net0",
            net0,
        ])
    };
    let o = create("name=eth0,bridge=vmbr1,mtu=1500");
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "net0: MTU size '1500' is bigger than bridge MTU '1400'\n"
    );
    let o = create("name=eth0,bridge=nosuch,mtu=1400");
    assert_eq!(err(&o), "bridge 'nosuch' does not exist\n");
    let o = create("name=eth0,bridge=vmbr1,ip6=auto,host-managed=1");
    assert_eq!(
        err(&o),
        "net0: SLAAC is not supported for host-managed network configuration.\n"
    );
    assert!(!n.conf_path(93871).exists());

    // A tagged port on the plain vmbr1 joins vmbr1v7; the address is set by LXC.
    n.create(
        93872,
        &[
            "--net0",
            "name=eth0,bridge=vmbr1,tag=7,ip=10.7.0.1/24,host-managed=1",
        ],
    );
    n.ok(&["start", "93872"]);
    let ports = ns.ip(&["-n", &ns.0, "-o", "link", "show", "master", "vmbr1v7"]);
    assert!(ports.contains("veth93872i0"), "{ports}");
    let addr = n.sh_ok(93872, "/bin/busybox ip -o addr show eth0");
    assert!(addr.contains("inet 10.7.0.1/24"), "{addr}");
    // Not in the host's namespace.
    assert!(!std::path::Path::new("/sys/class/net/veth93872i0").exists());
    let o = n.pct(&["set", "93872", "--net1", "name=eth1,bridge=vmbr1,mtu=9000"]);
    assert_eq!(
        err(&o),
        "net1: MTU size '9000' is bigger than bridge MTU '1400'\n"
    );
    n.ok(&["stop", "93872"]);
}
