//! `GET /nodes/{node}/network` (pve-manager PVE/API2/Network.pm `index`: the node's interfaces;
//! here its bridges, src/netns.rs) and `GET /cluster/sdn/vnets` (pve-network
//! src/PVE/API2/Network/SDN/Vnets.pm `index`: only the vnets the user has `SDN.Audit` or
//! `SDN.Allocate` on at `/sdn/zones/<zone>/<vnet>`).

use serde_json::{json, Value};

use super::reply::ApiResult;
use super::Call;
use crate::{netns, sdn};

pub fn node_network(c: &Call) -> ApiResult {
    let sim = c.ctx.sim(c.node());
    let vnets: Vec<String> = sdn::vnets(&sim).into_iter().map(|v| v.vnet).collect();
    let all = netns::bridges(&sim);
    let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
    // A vnet's bridge is SDN's and `<bridge>v<tag>` is made at start: neither is in the node's
    // interfaces file.
    let tag_bridge = |n: &str| {
        n.rsplit_once('v').is_some_and(|(br, t)| {
            names.contains(&br) && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
        })
    };
    let list: Vec<Value> = all
        .iter()
        .filter(|b| !vnets.contains(&b.name) && !tag_bridge(&b.name))
        .map(|b| {
            let mut e = json!({
                "iface": &b.name,
                "type": "bridge",
                "active": 1,
                "autostart": 1,
                "method": "manual",
                "method6": "manual",
                "families": ["inet"],
                "priority": 3,
                "bridge_ports": "",
                "bridge_stp": "off",
                "bridge_fd": "0",
            });
            if b.vlan_aware {
                e["bridge_vlan_aware"] = json!(1);
            }
            e
        })
        .collect();
    Ok(Value::Array(list).into())
}

pub fn sdn_vnets(c: &Call) -> ApiResult {
    let sim = c.ctx.sim(&c.ctx.local);
    let acl = &c.ctx.acl;
    let list: Vec<Value> = sdn::vnets(&sim)
        .into_iter()
        .filter(|v| {
            let path = format!("/sdn/zones/{}/{}", v.zone(), v.vnet);
            acl.has(&path, "SDN.Audit") || acl.has(&path, "SDN.Allocate")
        })
        .map(|v| {
            let mut e = json!({"vnet": v.vnet, "type": "vnet"});
            for (k, val) in &v.props {
                e[k] = match val.parse::<u64>() {
                    Ok(n) if k == "tag" || k == "vlanaware" || k == "isolate-ports" => json!(n),
                    _ => json!(val),
                };
            }
            e
        })
        .collect();
    Ok(Value::Array(list).into())
}
