//! Whether the bridges a CT's `netN` names exist, asked before anything is made: a plain bridge
//! of the node (`GET /nodes/{node}/network`, pve-manager PVE/API2/Network.pm) or an SDN vnet of
//! the cluster (`GET /cluster/sdn/vnets`, pve-network src/PVE/API2/Network/SDN/Vnets.pm).
//! Proxmox itself fails only at start ("bridge 'x' does not exist", pve-common
//! src/PVE/Network.pm), after the CT was made.

use serde_json::Value;

/// The interface names of type `bridge`/`OVSBridge` in a `/nodes/{node}/network` answer.
pub fn node_bridges(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            i["type"]
                .as_str()
                .is_some_and(|t| t == "bridge" || t == "OVSBridge")
        })
        .filter_map(|i| i["iface"].as_str().map(str::to_string))
        .collect()
}

/// The vnet names in a `/cluster/sdn/vnets` answer.
pub fn vnets(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["vnet"].as_str().map(str::to_string))
        .collect()
}

/// The bridges in `wanted` (annotation, bridge) that are neither a bridge of the node nor (once
/// asked, through `vnets`) a vnet: the first is refused in one line naming the annotation.
pub fn check(
    wanted: &[(String, String)],
    node: &str,
    bridges: &[String],
    vnets: impl FnOnce() -> Result<Vec<String>, String>,
) -> Result<(), String> {
    let missing: Vec<&(String, String)> = wanted
        .iter()
        .filter(|(_, b)| !bridges.contains(b))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let vnets = vnets()?;
    match missing.iter().find(|(_, b)| !vnets.contains(b)) {
        None => Ok(()),
        Some((ann, b)) => Err(format!(
            "annotations[\"{ann}\"]: bridge '{b}' is neither a bridge of node {node} nor an SDN vnet of the cluster"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bridges_and_vnets_from_the_api_answers() {
        let net = json!([{"iface": "vmbr0", "type": "bridge"}, {"iface": "eno1", "type": "eth"},
            {"iface": "vmbr9", "type": "OVSBridge"}]);
        assert_eq!(node_bridges(&net), ["vmbr0", "vmbr9"]);
        let v = json!([{"vnet": "blue", "zone": "z1", "type": "vnet"}]);
        assert_eq!(vnets(&v), ["blue"]);
    }

    #[test]
    fn an_unknown_bridge_is_refused_naming_the_annotation() {
        let w = |b: &str| vec![("org.proxmox.lxcri/net1".to_string(), b.to_string())];
        let br = vec!["vmbr0".to_string()];
        let never = || -> Result<Vec<String>, String> { panic!("vnets asked") };
        assert!(check(&w("vmbr0"), "pve1", &br, never).is_ok());
        assert!(check(&w("blue"), "pve1", &br, || Ok(vec!["blue".into()])).is_ok());
        assert_eq!(
            check(&w("red"), "pve1", &br, || Ok(vec!["blue".into()])).unwrap_err(),
            "annotations[\"org.proxmox.lxcri/net1\"]: bridge 'red' is neither a bridge of node pve1 nor an SDN vnet of the cluster"
        );
    }
}
