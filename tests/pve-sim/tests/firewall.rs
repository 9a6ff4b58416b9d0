//! A CT's firewall config (README.md, "Firewall"): `<vmid>.fw` in Proxmox's format written by
//! `pvesh set/create/delete` of `/nodes/{node}/lxc/{vmid}/firewall/...` with pve-firewall's
//! checks, the cluster's security groups, and `pct destroy` removing the file. (Enforcement
//! with nftables is tested end to end by the runtime's tests/firewall.rs.)

mod common;

use std::fs;
use std::process::{Command, Output};

use common::{code, err, out, root_node, NODE};

fn pvesh(root: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvesh"))
        .args(args)
        .env("PVE_SIM_ROOT", root)
        .env("PVE_SIM_NODE", NODE)
        .output()
        .unwrap()
}

#[test]
fn fw_config_over_pvesh_and_destroy_removes_it() {
    let Some(n) = root_node() else { return };
    let base = format!("/nodes/{NODE}/lxc/94201/firewall");
    let o = pvesh(
        &n.root,
        &[
            "create",
            &format!("{base}/rules"),
            "--type",
            "in",
            "--action",
            "ACCEPT",
        ],
    );
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains(&format!(
            "Configuration file 'nodes/{NODE}/lxc/94201.conf' does not exist"
        )),
        "{}",
        err(&o)
    );
    n.create(94201, &[]);
    let fw = n.root.join("etc/pve/firewall/94201.fw");

    let o = pvesh(
        &n.root,
        &["set", &format!("{base}/options"), "--policy_in", "MAYBE"],
    );
    assert_ne!(code(&o), 0);
    assert!(err(&o).contains("policy_in"), "{}", err(&o));
    assert!(!fw.exists());

    let o = pvesh(
        &n.root,
        &[
            "set",
            &format!("{base}/options"),
            "--enable",
            "1",
            "--policy_in",
            "DROP",
        ],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        fs::read_to_string(&fw).unwrap(),
        "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n"
    );

    let o = pvesh(
        &n.root,
        &[
            "create",
            &format!("{base}/rules"),
            "--type",
            "in",
            "--action",
            "DROP",
            "--dport",
            "22",
        ],
    );
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("missing property - 'dport' requires this property"),
        "{}",
        err(&o)
    );
    // Without --enable a rule is stored disabled; a new rule goes to the top.
    for args in [
        &[
            "--type", "in", "--action", "DROP", "--proto", "tcp", "--dport", "22",
        ][..],
        &[
            "--type",
            "out",
            "--action",
            "ACCEPT",
            "--dest",
            "10.0.0.0/8",
            "--enable",
            "1",
        ][..],
        &["--type", "group", "--action", "web", "--enable", "1"][..],
    ] {
        let rules = format!("{base}/rules");
        let mut a = vec!["create", rules.as_str()];
        a.extend_from_slice(args);
        let o = pvesh(&n.root, &a);
        assert_eq!(code(&o), 0, "{args:?}: {}", err(&o));
    }
    assert_eq!(
        fs::read_to_string(&fw).unwrap(),
        "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nGROUP web\nOUT ACCEPT -dest 10.0.0.0/8\n|IN DROP -p tcp -dport 22\n\n"
    );
    let o = pvesh(
        &n.root,
        &["get", &format!("{base}/rules"), "--output-format", "json"],
    );
    let rules: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(rules[1]["type"], "out");
    assert_eq!(rules[1]["dest"], "10.0.0.0/8");
    assert_eq!(rules[2]["enable"], 0);
    let o = pvesh(&n.root, &["delete", &format!("{base}/rules/0")]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(!fs::read_to_string(&fw).unwrap().contains("GROUP web"));

    fs::write(
        n.root.join("etc/pve/firewall/cluster.fw"),
        "[group web] # web servers\n\nIN ACCEPT -p tcp -dport 80\n\n",
    )
    .unwrap();
    let o = pvesh(
        &n.root,
        &["get", "/cluster/firewall/groups", "--output-format", "json"],
    );
    let groups: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(
        groups,
        serde_json::json!([{"group": "web", "count": 1, "comment": "web servers"}])
    );

    n.ok(&["destroy", "94201"]);
    assert!(!fw.exists(), "destroy_vm removes the CT's .fw");
}
