//! SDN vnets: `etc/pve/sdn/vnets.cfg` in Proxmox's section-config format (pve-common
//! src/PVE/SectionConfig.pm; pve-network src/PVE/Network/SDN/VnetPlugin.pm), e.g.
//!
//! ```text
//! vnet: blue
//!         zone lan
//!         tag 20
//! ```
//!
//! A vnet that a CT uses is a bridge of that name on the node (what SDN's apply makes); the
//! test makes it in the node's network namespace (src/netns.rs).

use std::collections::BTreeMap;

use crate::sim::Sim;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vnet {
    pub vnet: String,
    /// The section's properties (`zone`, `tag`, `alias`, `vlanaware`, ...).
    pub props: BTreeMap<String, String>,
}

impl Vnet {
    pub fn zone(&self) -> &str {
        self.props.get("zone").map_or("", String::as_str)
    }
}

/// Parses a section config of `vnet:` sections; other section types are skipped.
pub fn parse(text: &str) -> Vec<Vnet> {
    let mut out: Vec<Vnet> = Vec::new();
    let mut in_vnet = false;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            in_vnet = false;
            if let Some((typ, id)) = t.split_once(':') {
                if typ.trim() == "vnet" {
                    in_vnet = true;
                    out.push(Vnet {
                        vnet: id.trim().to_string(),
                        props: BTreeMap::new(),
                    });
                }
            }
            continue;
        }
        if let (true, Some(v)) = (in_vnet, out.last_mut()) {
            let (k, val) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            v.props.insert(k.to_string(), val.trim().to_string());
        }
    }
    out
}

/// The cluster's vnets (`<root>/etc/pve/sdn/vnets.cfg`; none without the file).
pub fn vnets(sim: &Sim) -> Vec<Vnet> {
    std::fs::read_to_string(sim.pve_dir().join("sdn/vnets.cfg"))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        let v = parse("zone: lan\n\tbridge vmbr0\n\nvnet: blue\n\tzone lan\n\ttag 20\n\nvnet: red\n        zone wan\n");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].vnet, "blue");
        assert_eq!(v[0].zone(), "lan");
        assert_eq!(v[0].props["tag"], "20");
        assert_eq!(v[1].zone(), "wan");
    }
}
