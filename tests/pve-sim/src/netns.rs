//! The node's network: its bridges and how a CT's veth is plugged into one.
//!
//! A node whose root has the file `pve-sim-netns` (a network namespace's path, such as
//! `/run/netns/<name>`, made by the test) keeps its bridges there, and each CT's veth host end
//! is moved there by the up-script before it is plugged (`lxc-start` itself stays in the host's
//! namespace: LXC's command socket is an abstract socket, which `lxc-info` and `lxc-attach`
//! reach only from the same namespace). The host end is in the host's namespace only between
//! LXC making it and the script moving it, and is never attached to anything there. Without the
//! file the bridges are the host's (and the sim attaches nothing to a bridge it does not find).
//!
//! Plugging follows pve-common src/PVE/Network.pm (`tap_plug`, `$bridge_add_interface`), run by
//! pve-container's `lxcnetaddbr` hook as LXC's `lxc.net.N.script.up`: the port joins the bridge,
//! and on a VLAN-aware bridge its default VLANs go (`bridge vlan del vid 1-4094`) and the tag
//! becomes its untagged PVID (`bridge vlan add vid TAG pvid untagged`; untagged ports get
//! `2-4094` and PVID 1, or the trunks). On a plain bridge a tagged port joins the bridge
//! `<bridge>v<tag>` instead (`activate_bridge_vlan`), which is what a kernel without bridge VLAN
//! filtering (such as the test machine's) can do.

use std::fs;
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
pub fn up_script(sim: &Sim, bridge: &str, tag: Option<&str>, trunks: Option<&str>) -> String {
    let exe = std::env::current_exe()
        .map(|e| e.with_file_name("pve-sim"))
        .unwrap_or_else(|_| PathBuf::from("pve-sim"));
    let ns = netns(sim).map_or("-".to_string(), |p| p.to_string_lossy().into_owned());
    format!(
        "{} lxcnetaddbr {ns} {bridge} {} {}",
        exe.display(),
        tag.unwrap_or("0"),
        trunks.unwrap_or("-")
    )
}

/// `pve-sim lxcnetaddbr NETNS BRIDGE TAG TRUNKS <name> net up veth IFACE`: the hook; its errors
/// go to LXC, which fails the start.
pub fn hook_main(args: &[String]) -> i32 {
    let (Some(ns), Some(bridge), Some(tag), Some(trunks), Some(iface)) = (
        args.first(),
        args.get(1),
        args.get(2),
        args.get(3),
        args.last(),
    ) else {
        eprintln!("lxcnetaddbr: missing arguments");
        return 2;
    };
    let ns = (ns != "-").then_some(ns.as_str());
    if let Some(ns) = ns {
        if let Err(e) = run(None, &["ip", "link", "set", "dev", iface, "netns", ns]) {
            eprintln!("{e}");
            return 1;
        }
    }
    match plug(ns, bridge, tag, trunks, iface) {
        Ok(()) => {
            // The port exists now: its CT's firewall applies (src/firewall.rs).
            crate::firewall::sync(&Sim::from_env());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `argv` in namespace `ns` (or here).
fn command(ns: Option<&str>, argv: &[&str]) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={ns}")).args(argv);
            c
        }
        None => {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        }
    }
}

fn run(ns: Option<&str>, argv: &[&str]) -> Result<(), String> {
    let out = command(ns, argv)
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

fn plug(
    ns: Option<&str>,
    bridge: &str,
    tag: &str,
    trunks: &str,
    iface: &str,
) -> Result<(), String> {
    // sysfs shows the namespace it was mounted in, so `ip` is asked.
    let out = command(ns, &["ip", "-d", "-j", "link", "show", "dev", bridge])
        .output()
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let Some(info) = v.get(0).filter(|l| l["linkinfo"]["info_kind"] == "bridge") else {
        return Err(format!("bridge '{bridge}' does not exist"));
    };
    let vlan_aware = info["linkinfo"]["info_data"]["vlan_filtering"].as_u64() == Some(1);
    let tag = (tag != "0").then_some(tag);
    let trunks = (trunks != "-").then_some(trunks);
    if !vlan_aware && trunks.is_some() {
        return Err("vlan aware feature need to be enabled to use trunks".into());
    }
    // A plain bridge with a tag: the port joins `<bridge>v<tag>` (`activate_bridge_vlan`).
    let vbridge;
    let bridge = match tag.filter(|_| !vlan_aware) {
        Some(t) => {
            vbridge = vlan_bridge(ns, bridge, t)?;
            vbridge.as_str()
        }
        None => bridge,
    };
    run(ns, &["ip", "link", "set", "dev", iface, "master", bridge])?;
    if vlan_aware {
        run(
            ns,
            &["bridge", "vlan", "del", "dev", iface, "vid", "1-4094"],
        )
        .map_err(|e| format!("failed to remove default vlan tags of {iface} - {e}"))?;
        if let Some(t) = trunks {
            for t in t.split(';') {
                run(ns, &["bridge", "vlan", "add", "dev", iface, "vid", t])
                    .map_err(|e| format!("unable to add vlan {t} to interface {iface} - {e}"))?;
            }
        } else if tag.is_none() {
            run(
                ns,
                &["bridge", "vlan", "add", "dev", iface, "vid", "2-4094"],
            )
            .map_err(|e| format!("unable to add default vlan tags to interface {iface} - {e}"))?;
        }
        let t = tag.unwrap_or("1");
        run(
            ns,
            &[
                "bridge", "vlan", "add", "dev", iface, "vid", t, "pvid", "untagged",
            ],
        )
        .map_err(|e| format!("unable to add vlan {t} to interface {iface} - {e}"))?;
    }
    run(ns, &["ip", "link", "set", "dev", iface, "up"])
}

/// pve-common src/PVE/Network.pm `activate_bridge_vlan`: the bridge `<bridge>v<tag>`, made if
/// missing, with the bridge's physical ports' `<port>.<tag>` VLAN devices in it. Proxmox refuses
/// a bridge without a physical port ("no physical interface on bridge"); the sim's test bridges
/// have none (and this kernel may lack 802.1Q devices), so there the tag's bridge is the whole
/// VLAN: CTs with one tag share it, other tags are other bridges.
fn vlan_bridge(ns: Option<&str>, bridge: &str, tag: &str) -> Result<String, String> {
    let vb = format!("{bridge}v{tag}");
    let exists = command(ns, &["ip", "link", "show", "dev", &vb])
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        run(ns, &["ip", "link", "add", &vb, "type", "bridge"])?;
    }
    let out = command(ns, &["ip", "-j", "link", "show", "master", bridge])
        .output()
        .map_err(|e| e.to_string())?;
    let ports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    for p in ports.as_array().into_iter().flatten() {
        let Some(name) = p["ifname"].as_str() else {
            continue;
        };
        // `get_physical_bridge_ports`: not the guests' ports.
        if name.starts_with("veth") || name.starts_with("tap") || name.starts_with("fwpr") {
            continue;
        }
        let sub = format!("{name}.{tag}");
        let _ = run(
            ns,
            &[
                "ip", "link", "add", "link", name, "name", &sub, "type", "vlan", "id", tag,
            ],
        );
        run(ns, &["ip", "link", "set", "dev", &sub, "master", &vb])?;
        run(ns, &["ip", "link", "set", "dev", &sub, "up"])?;
    }
    run(ns, &["ip", "link", "set", "dev", &vb, "up"])?;
    Ok(vb)
}

/// The `netN` part of pve-container src/PVE/LXC/Config.pm `update_pct_config` (`pct create`,
/// `pct set` and the API's): an `mtu` above the bridge's (`read_bridge_mtu`, which fails for a
/// bridge the node does not have), and SLAAC on a host-managed interface.
pub fn update_check(sim: &Sim, key: &str, value: &str) -> Result<(), String> {
    let Ok(net) = proxmox_lxcri::pve::confkeys::NET_FORMAT.parse(value) else {
        return Ok(());
    };
    if let Some(mtu) = net.get("mtu").and_then(|m| m.parse::<u32>().ok()) {
        let br = net.get("bridge").map_or("", String::as_str);
        let Some(b) = bridges(sim).into_iter().find(|b| b.name == br) else {
            return Err(format!("bridge '{br}' does not exist"));
        };
        if mtu > b.mtu {
            return Err(format!(
                "{key}: MTU size '{mtu}' is bigger than bridge MTU '{}'",
                b.mtu
            ));
        }
    }
    let link_up = net.get("link_down").is_none_or(|d| d != "1");
    if link_up
        && net.get("host-managed").is_some_and(|h| h == "1")
        && net.get("ip6").is_some_and(|v| v == "auto")
    {
        return Err(format!(
            "{key}: SLAAC is not supported for host-managed network configuration."
        ));
    }
    Ok(())
}
