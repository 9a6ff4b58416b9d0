//! Per-container network interfaces of a CT on a remote node: the annotations
//! `org.proxmox.lxcri/net0` .. `net9`, each a Proxmox `netN` property string
//! (pve-container src/PVE/LXC/Config.pm `$netconf_desc`), checked with Proxmox's own schema
//! check before anything is made. Without any of them the configuration's `[network]` gives
//! `net0`. Pure.

use std::collections::BTreeMap;

use super::{invalid, MapError};
use crate::pve::confkeys::{verify_param, NET_FORMAT};
use crate::pve::version::{NodeCaps, PkgVersion, HOST_MANAGED_NET};

pub const NET_PREFIX: &str = "org.proxmox.lxcri/net";
/// How many interfaces the annotations may name (`net0` .. `net9`).
pub const MAX_NETS: u32 = 10;

/// One interface as given: its key (`net2`) and its property string, with `name=` filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRequest {
    pub key: String,
    pub annotation: String,
    pub value: String,
    pub bridge: Option<String>,
}

/// The annotation's name for `netN`.
pub fn annotation_of(key: &str) -> String {
    format!("org.proxmox.lxcri/{key}")
}

fn field(key: &str) -> String {
    format!("annotations[\"{}\"]", annotation_of(key))
}

/// The `netN` interfaces the annotations ask for, in index order; empty when none is given.
/// `node`: the node's pve-container, whether it knows `host-managed` (6.0.15), which the
/// runtime turns on (as Proxmox does for an OCI image's CT, pve-container src/PVE/LXC/Create.pm)
/// so that static addresses are set by LXC: an `ostype: unmanaged` CT configures nothing itself.
pub fn net_requests(
    annotations: &BTreeMap<String, String>,
    node: &NodeCaps,
) -> Result<Vec<NetRequest>, MapError> {
    let mut out = Vec::new();
    for (ann, value) in annotations.range(NET_PREFIX.to_string()..) {
        let Some(idx) = ann.strip_prefix(NET_PREFIX) else {
            break;
        };
        // Other keys under the prefix that start with "net" (`network`, ...) are not ours.
        if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let n: u32 = match idx.parse() {
            Ok(n) if n < MAX_NETS && (idx == "0" || !idx.starts_with('0')) => n,
            _ => {
                return Err(invalid(
                    format!("annotations[\"{ann}\"]"),
                    format!("only net0 .. net{} can be given", MAX_NETS - 1),
                ))
            }
        };
        out.push(request(n, value, node)?);
    }
    Ok(out)
}

fn request(n: u32, value: &str, node: &NodeCaps) -> Result<NetRequest, MapError> {
    let key = format!("net{n}");
    let bad = |reason: String| invalid(field(&key), reason);
    if value.trim().is_empty() {
        return Err(bad(
            "empty; give a netN property string such as bridge=vmbr0,ip=dhcp".into(),
        ));
    }
    // A value without `name=` gets `eth<N>`; NET_FORMAT then checks the rest.
    // Looked for in the raw text: a value that does not parse keeps its own error.
    let named = if value
        .split(',')
        .any(|kv| kv.trim_start().starts_with("name="))
    {
        value.to_string()
    } else {
        format!("name=eth{n},{value}")
    };
    // Proxmox's API/CLI schema check, with its words (the first line of its message).
    verify_param(&key, &named).map_err(|e| {
        let lines: Vec<&str> = e.lines().filter(|l| !l.is_empty()).collect();
        // "invalid format - format error" then "net0.tag: ...": the second names the key.
        bad(lines.get(1).or(lines.first()).unwrap_or(&"").to_string())
    })?;
    let mut p = NET_FORMAT.parse(&named).map_err(|e| bad(e.to_string()))?;
    if p.get("type").is_some_and(|t| t != "veth") {
        return Err(bad("type: only veth".into()));
    }
    let link_up = p.get("link_down").is_none_or(|d| d != "1");
    let knows_host_managed = node.pve_container >= PkgVersion::known(HOST_MANAGED_NET);
    if !p.contains_key("host-managed") && knows_host_managed {
        p.insert("host-managed".into(), "1".into());
    }
    let host_managed = p.get("host-managed").is_some_and(|h| h == "1");
    if !knows_host_managed && p.contains_key("host-managed") {
        return Err(bad(format!(
            "host-managed: the node's pve-container {} does not know it (needs {})",
            node.pve_container, HOST_MANAGED_NET
        )));
    }
    // pve-container src/PVE/LXC/Config.pm (`update_pct_config`), src/PVE/LXC.pm.
    if link_up && host_managed && p.get("ip6").is_some_and(|v| v == "auto") {
        return Err(bad(
            "ip6: SLAAC is not supported for host-managed network configuration".into(),
        ));
    }
    if p.contains_key("gw") && !p.get("ip").is_some_and(|ip| ip.contains('/')) {
        return Err(bad("gw: needs a static ip=ADDR/PREFIX".into()));
    }
    if p.contains_key("gw6") && !p.get("ip6").is_some_and(|ip| ip.contains('/')) {
        return Err(bad("gw6: needs a static ip6=ADDR/PREFIX".into()));
    }
    let value = NET_FORMAT.print(&p).map_err(|e| bad(e.to_string()))?;
    Ok(NetRequest {
        annotation: annotation_of(&key),
        bridge: p.get("bridge").cloned(),
        key,
        value,
    })
}

/// Puts the requested interfaces into a CT's options in place of `[network]`'s `net0`.
pub fn apply(options: &mut BTreeMap<String, String>, nets: &[NetRequest]) {
    if nets.is_empty() {
        return;
    }
    options.retain(|k, _| !(k.starts_with("net") && k[3..].parse::<u32>().is_ok()));
    for n in nets {
        options.insert(n.key.clone(), n.value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeCaps {
        NodeCaps::of_str("6.1.10").unwrap()
    }

    fn ann(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (format!("org.proxmox.lxcri/{k}"), v.to_string()))
            .collect()
    }

    fn err(kv: &[(&str, &str)]) -> String {
        net_requests(&ann(kv), &node()).unwrap_err().to_string()
    }

    #[test]
    fn none_means_the_config_table() {
        assert!(
            net_requests(&ann(&[("ha", "true"), ("network", "x")]), &node())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn several_interfaces_pass_through_with_defaults() {
        let nets = net_requests(
            &ann(&[
                (
                    "net0",
                    "bridge=vmbr1,tag=20,ip=10.0.0.2/24,gw=10.0.0.1,firewall=1",
                ),
                (
                    "net1",
                    "name=data,bridge=vnet7,ip6=fd00::2/64,gw6=fd00::1,mtu=1400,rate=12.5",
                ),
                ("net3", "bridge=vmbr0,ip=dhcp,host-managed=0"),
            ]),
            &node(),
        )
        .unwrap();
        let vals: Vec<(&str, &str)> = nets
            .iter()
            .map(|n| (n.key.as_str(), n.value.as_str()))
            .collect();
        assert_eq!(
            vals,
            [
                (
                    "net0",
                    "name=eth0,bridge=vmbr1,firewall=1,gw=10.0.0.1,host-managed=1,ip=10.0.0.2/24,tag=20"
                ),
                (
                    "net1",
                    "name=data,bridge=vnet7,gw6=fd00::1,host-managed=1,ip6=fd00::2/64,mtu=1400,rate=12.5"
                ),
                ("net3", "name=eth3,bridge=vmbr0,host-managed=0,ip=dhcp"),
            ]
        );
        assert_eq!(nets[1].bridge.as_deref(), Some("vnet7"));
        let mut opts = BTreeMap::from([("net0".to_string(), "name=eth0,bridge=x".to_string())]);
        apply(&mut opts, &nets);
        assert_eq!(opts.len(), 3);
        assert!(opts["net0"].contains("vmbr1"));
    }

    #[test]
    fn an_older_node_gets_no_host_managed() {
        let old = NodeCaps::of_str("6.0.9").unwrap();
        let nets = net_requests(&ann(&[("net0", "bridge=vmbr0,ip=dhcp")]), &old).unwrap();
        assert_eq!(nets[0].value, "name=eth0,bridge=vmbr0,ip=dhcp");
        let e = net_requests(&ann(&[("net0", "bridge=vmbr0,host-managed=1")]), &old)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("host-managed: the node's pve-container 6.0.9"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_annotation() {
        let pre = "config.json: annotations[\"org.proxmox.lxcri/net0\"]: ";
        for (v, want) in [
            ("bridge=vmbr0,tag=5000", "net0.tag: value must have a maximum value of 4094"),
            ("bridge=vmbr0,tag=0", "net0.tag: value must have a minimum value of 1"),
            ("bridge=vmbr0,ip=10.0.0.300/24", "net0.ip: invalid format - value does not look like a valid ipv4 network configuration"),
            ("bridge=vmbr0,ip6=auto", "ip6: SLAAC is not supported for host-managed network configuration"),
            ("bridge=vmbr0,gw=10.0.0.1", "gw: needs a static ip=ADDR/PREFIX"),
            ("bridge=vmbr0,mtu=10", "net0.mtu: value must have a minimum value of 64"),
            ("bridge=vmbr0,colour=red", "invalid format - invalid key in comma-separated list property: colour"),
            ("bridge=vm br0", "net0.bridge: invalid format - invalid bridge ID 'vm br0'"),
            ("bridge=vmbr0,hwaddr=01:00:00:00:00:01", "net0.hwaddr: invalid format - value does not look like a valid unicast MAC address"),
            ("bridge=vmbr0,rate=fast", "net0.rate: type check ('number') failed - got 'fast'"),
            ("", "empty; give a netN property string such as bridge=vmbr0,ip=dhcp"),
            ("name=x,bridge=vmbr0,tag=9999", "net0.tag: value must have a maximum value of 4094"),
            ("name=a b", "net0.name: invalid format - value does not match the regex pattern"),
        ] {
            let e = err(&[("net0", v)]);
            assert_eq!(e, format!("{pre}{want}"), "{v:?}");
            assert!(!e.contains('\n'), "{e:?}");
        }
        assert_eq!(
            err(&[("net10", "bridge=vmbr0")]),
            "config.json: annotations[\"org.proxmox.lxcri/net10\"]: only net0 .. net9 can be given"
        );
    }
}
