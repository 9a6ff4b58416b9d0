//! The sim as a cluster seen from a node: `pvecm status`, `pvesh get … --output-format json`
//! and the quorum-loss knob (`$PVE_SIM_ROOT/pve-sim-no-quorum`) for `pct`.

mod common;

use std::fs;
use std::process::{Command, Output};

use common::{code, err, out, root_node, Node, NODE};
use serde_json::Value;

fn tool(n: &Node, bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("PVE_SIM_ROOT", &n.root)
        .env("PVE_SIM_NODE", NODE)
        .env_remove("PVE_SIM_VERSION")
        .env_remove("PVE_SIM_PVE_CONTAINER")
        .output()
        .unwrap()
}

fn pvecm(n: &Node) -> Output {
    tool(n, env!("CARGO_BIN_EXE_pvecm"), &["status"])
}

fn pvesh(n: &Node, path: &str) -> Value {
    let o = tool(
        n,
        env!("CARGO_BIN_EXE_pvesh"),
        &["get", path, "--output-format", "json"],
    );
    assert_eq!(code(&o), 0, "pvesh get {path}: {}", err(&o));
    serde_json::from_str(&out(&o)).unwrap()
}

/// A node `NODE` whose cluster has a second member `n2` (pmxcfs lists members under `nodes/`).
fn two_nodes(n: &Node) {
    fs::create_dir_all(n.root.join("etc/pve/nodes/n2/lxc")).unwrap();
    n.ok(&["list"]);
}

fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}:")))
        .map(str::trim)
}

#[test]
fn pvecm_status_of_a_standalone_node_and_a_cluster() {
    let Some(n) = root_node() else { return };
    n.ok(&["list"]);
    let o = pvecm(&n);
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?\n"
    );

    two_nodes(&n);
    let o = pvecm(&n);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    assert_eq!(field(&text, "Name"), Some("pve-sim"));
    assert_eq!(field(&text, "Quorate"), Some("Yes"));
    assert_eq!(field(&text, "Nodes"), Some("2"));
    assert_eq!(field(&text, "Flags"), Some("Quorate"));
    let members: Vec<&str> = text
        .split("    Nodeid      Votes Name\n")
        .nth(1)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(
        members,
        [
            "0x00000001          1 127.0.0.1 (local)",
            "0x00000002          1 127.0.0.2"
        ]
    );

    fs::write(n.root.join("pve-sim-no-quorum"), "").unwrap();
    let text = out(&pvecm(&n));
    assert_eq!(field(&text, "Quorate"), Some("No"));
    assert_eq!(field(&text, "Quorum"), Some("2 Activity blocked"));

    fs::remove_file(n.root.join("pve-sim-no-quorum")).unwrap();
    fs::write(n.root.join("api-faults.json"), r#"{"offline": ["n2"]}"#).unwrap();
    let text = out(&pvecm(&n));
    assert_eq!(field(&text, "Quorate"), Some("No"), "one of two votes");
    assert_eq!(field(&text, "Nodes"), Some("1"));
}

#[test]
fn pvesh_reads_the_cluster() {
    let Some(n) = root_node() else { return };
    two_nodes(&n);
    n.create(93911, &["--tags", "proxmox-lxcri"]);
    let st = pvesh(&n, "/cluster/status");
    assert_eq!(st[0]["type"], "cluster");
    assert_eq!(st[0]["quorate"], 1);
    assert_eq!(st[1]["name"], NODE);
    assert_eq!(st[1]["local"], 1);
    assert_eq!(st[2]["name"], "n2");
    assert_eq!(st[1]["ip"], "127.0.0.1");
    assert_eq!(st[2]["ip"], "127.0.0.2", "each member its own address");

    let nodes = pvesh(&n, "/nodes");
    let names: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["node"].as_str().unwrap())
        .collect();
    assert_eq!(names, [NODE, "n2"]);
    assert!(
        nodes[0]["maxmem"].as_u64().unwrap() > 0,
        "root sees the load"
    );

    let o = tool(
        &n,
        env!("CARGO_BIN_EXE_pvesh"),
        &[
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json",
        ],
    );
    let vms: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(vms.as_array().unwrap().len(), 1, "{vms}");
    assert_eq!(vms[0]["vmid"], 93911);
    assert_eq!(vms[0]["node"], NODE);
    assert_eq!(vms[0]["tags"], "proxmox-lxcri");

    // A CT's status/current, as the API's handler gives it (proxmox-lxcri's `events`).
    let cur = pvesh(&n, &format!("/nodes/{NODE}/lxc/93911/status/current"));
    assert_eq!(cur["vmid"], 93911, "{cur}");
    assert_eq!(cur["status"], "stopped");
    assert!(cur["maxmem"].as_u64().unwrap() > 0, "{cur}");

    // A node's storages with their use (proxmox-lxcri's `metrics`).
    let sts = pvesh(&n, &format!("/nodes/{NODE}/storage"));
    let local = sts
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["storage"] == "local")
        .unwrap_or_else(|| panic!("local: {sts}"));
    assert!(local["total"].as_u64().unwrap() > 0, "{local}");
    assert_eq!(local["active"], 1, "{local}");

    let o = tool(&n, env!("CARGO_BIN_EXE_pvesh"), &["get", "/nosuch"]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, "no 'get' handler for '/nosuch'\n".into())
    );
}

#[test]
fn pct_without_quorum_changes_nothing() {
    let Some(n) = root_node() else { return };
    two_nodes(&n);
    n.create(93912, &[]);
    let conf = n.conf(93912);
    fs::write(n.root.join("pve-sim-no-quorum"), "").unwrap();

    n.track(93913);
    let rootfs = n.rootfs.to_string_lossy().into_owned();
    let o = n.pct(&[
        "create",
        "93913",
        n.template.to_str().unwrap(),
        "--rootfs",
        &rootfs,
    ]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, "cluster not ready - no quorum?\n".into())
    );
    assert!(!n.conf_path(93913).exists());

    let o = n.pct(&["start", "93912"]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, "cluster not ready - no quorum?\n".into())
    );
    assert_eq!(n.ok(&["status", "93912"]), "status: stopped\n");

    let perm = |o: &Output| {
        let e = err(o);
        assert_eq!(code(o), 255, "{e}");
        assert!(
            e.starts_with("unable to open file '") && e.ends_with("' - Permission denied\n"),
            "{e}"
        );
    };
    perm(&n.pct(&["set", "93912", "--memory", "128"]));
    perm(&n.pct(&["destroy", "93912"]));
    assert_eq!(n.conf(93912), conf, "config untouched");

    fs::remove_file(n.root.join("pve-sim-no-quorum")).unwrap();
    n.ok(&["set", "93912", "--memory", "128"]);
}
