//! Proxmox's real `pct` (pve-container's Perl, pmxcfs, LXC) instead of pve-sim: the `pct`
//! backend's lifecycle, exec, terminal, update, kill and delete, with the case bodies the pve-sim
//! tests run (tests/common/cases.rs). `PROXMOX_LXCRI_REAL_PVE` names the real-pve harness
//! directory; the runtime runs inside its sandbox (where `/etc/pve` and `/run/lock/lxc` are),
//! which is started if needed and stopped at exit if this binary started it. Without the variable
//! every test reports itself skipped and passes.

mod common;

use common::*;

tier_cases!(Sim::real_pve);
tier_case!(
    Sim::real_pve,
    three_pct_calls_per_lifecycle,
    cases::pct_call_budget
);

/// A node before pve-container 6.0.15 as the runtime sees it: the init and env go in as raw
/// `lxc.init.cmd` and `lxc.environment`, which the real pct must accept and LXC must run.
#[test]
fn lifecycle_with_the_raw_keys_of_an_older_node() {
    let Some(node) = Sim::real_pve_as("raw_keys_older_node", Some("6.0.9")) else {
        return;
    };
    let b = node.bundle("b", "echo out:$FOO; exit 5");
    edit_spec(&b, |spec| {
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=bar".into())
    });
    let c = create(&node, &b, "r1");
    let vmid = node.cts()[0].0;
    let conf =
        String::from_utf8_lossy(&node.pct(&["config", &vmid.to_string()]).stdout).into_owned();
    assert!(
        conf.contains("lxc.init.cmd: /dev/.proxmox-lxcri-init"),
        "{conf}"
    );
    assert!(!conf.contains("entrypoint:"), "{conf}");
    assert_eq!(c.run(5), "out:bar\n");
    c.delete();
    assert!(node.no_cts(), "CT left");
}
