//! The node's network: its bridges and how a CT's veth is plugged into one.
//!
//! A node whose root has the file `pve-sim-netns` (a network namespace's path, such as
//! `/run/netns/<name>`, made by the test) keeps its whole network there: `lxc-start` runs in it,
//! so each CT's veth host end is made there, and the bridges the node has are the bridges in
//! it. Without the file the bridges are the host's (and the sim attaches nothing to a bridge
//! it does not find, as before). The host's own network is never changed by a node with a
//! namespace.
//!
//! Plugging follows pve-common src/PVE/Network.pm (`tap_plug`, `$bridge_add_interface`), run by
//! pve-container's `lxcnetaddbr` hook as LXC's `lxc.net.N.script.up`: the port joins the bridge,
//! and on a VLAN-aware bridge its default VLANs go (`bridge vlan del vid 1-4094`) and the tag
//! becomes its untagged PVID (`bridge vlan add vid TAG pvid untagged`; untagged ports get
//! `2-4094` and PVID 1, or the trunks).

use std::fs;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;

use crate::sim::Sim;

/// The file under a node's root that names its network namespace.
pub const NETNS_FILE: &str = "pve-sim-netns";

/// A bridge of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub vlan_aware: bool,
    pub mtu: u32,
}

/// The node's network namespace, if it has one.
pub fn netns(sim: &Sim) -> Option<PathBuf> {
    let text = fs::read_to_string(sim.root.join(NETNS_FILE)).ok()?;
    let p = text.trim();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// How `pct start` tells the CT's supervisor (src/ct.rs) the node's namespace.
const SUPERVISOR_NETNS: &str = "PVE_SIM_SUPERVISOR_NETNS";

/// Before the supervisor is forked: its namespace, or none.
pub fn pass_to_supervisor(sim: &Sim) {
    match netns(sim) {
        Some(p) => std::env::set_var(SUPERVISOR_NETNS, p),
        None => std::env::remove_var(SUPERVISOR_NETNS),
    }
}

/// In the supervisor: moves this (single-threaded) process into the node's namespace.
pub fn enter_from_env() -> Result<(), String> {
    let Some(path) = std::env::var_os(SUPERVISOR_NETNS) else {
        return Ok(());
    };
    std::env::remove_var(SUPERVISOR_NETNS);
    let f = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.to_string_lossy()))?;
    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns {}: {e}", path.to_string_lossy()))
}

/// `ip ARGS`, in the node's namespace when it has one.
fn ip_cmd(sim: &Sim, prog: &str) -> Command {
    match netns(sim) {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg(prog);
            c
        }
        None => Command::new(prog),
    }
}

/// The node's Linux bridges (`ip -d -j link show type bridge`).
pub fn bridges(sim: &Sim) -> Vec<Bridge> {
    let Ok(out) = ip_cmd(sim, "ip")
        .args(["-d", "-j", "link", "show", "type", "bridge"])
        .output()
    else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some(Bridge {
                name: l["ifname"].as_str()?.to_string(),
                vlan_aware: l["linkinfo"]["info_data"]["vlan_filtering"].as_u64() == Some(1),
                mtu: l["mtu"].as_u64().unwrap_or(1500) as u32,
            })
        })
        .collect()
}

/// The `lxc.net.N.script.up` line value that plugs the veth into `bridge` (LXC appends
/// `<name> net up veth <host end>`).
pub fn up_script(bridge: &str, tag: Option<&str>, trunks: Option<&str>) -> String {
    let exe = std::env::current_exe()
        .map(|e| e.with_file_name("pve-sim"))
        .unwrap_or_else(|_| PathBuf::from("pve-sim"));
    format!(
        "{} lxcnetaddbr {bridge} {} {}",
        exe.display(),
        tag.unwrap_or("0"),
        trunks.unwrap_or("-")
    )
}

/// `pve-sim lxcnetaddbr BRIDGE TAG TRUNKS <name> net up veth IFACE`: the hook. Runs in the
/// node's namespace (lxc-start's); its errors go to LXC, which fails the start.
pub fn hook_main(args: &[String]) -> i32 {
    let (Some(bridge), Some(tag), Some(trunks), Some(iface)) =
        (args.first(), args.get(1), args.get(2), args.last())
    else {
        eprintln!("lxcnetaddbr: missing arguments");
        return 2;
    };
    match plug(bridge, tag, trunks, iface) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn run(argv: &[&str]) -> Result<(), String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "command '{}' failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn plug(bridge: &str, tag: &str, trunks: &str, iface: &str) -> Result<(), String> {
    // sysfs shows the namespace it was mounted in, so ask `ip` which this process is in.
    let out = Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", bridge])
        .output()
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let Some(info) = v.get(0).filter(|l| l["linkinfo"]["info_kind"] == "bridge") else {
        return Err(format!("bridge '{bridge}' does not exist"));
    };
    let vlan_aware = info["linkinfo"]["info_data"]["vlan_filtering"].as_u64() == Some(1);
    let tag = (tag != "0").then_some(tag);
    let trunks = (trunks != "-").then_some(trunks);
    if !vlan_aware && (tag.is_some() || trunks.is_some()) {
        // Proxmox makes a `<bridge>v<tag>` bridge here (`activate_bridge_vlan`); the sim does not.
        return Err(format!(
            "pve-sim: bridge '{bridge}' is not VLAN-aware; tagging on a plain bridge is not simulated"
        ));
    }
    run(&["ip", "link", "set", "dev", iface, "master", bridge])?;
    if vlan_aware {
        run(&["bridge", "vlan", "del", "dev", iface, "vid", "1-4094"])
            .map_err(|e| format!("failed to remove default vlan tags of {iface} - {e}"))?;
        if let Some(t) = trunks {
            for t in t.split(';') {
                run(&["bridge", "vlan", "add", "dev", iface, "vid", t])
                    .map_err(|e| format!("unable to add vlan {t} to interface {iface} - {e}"))?;
            }
        } else if tag.is_none() {
            run(&["bridge", "vlan", "add", "dev", iface, "vid", "2-4094"]).map_err(|e| {
                format!("unable to add default vlan tags to interface {iface} - {e}")
            })?;
        }
        let t = tag.unwrap_or("1");
        run(&[
            "bridge", "vlan", "add", "dev", iface, "vid", t, "pvid", "untagged",
        ])
        .map_err(|e| format!("unable to add vlan {t} to interface {iface} - {e}"))?;
    }
    run(&["ip", "link", "set", "dev", iface, "up"])
}
