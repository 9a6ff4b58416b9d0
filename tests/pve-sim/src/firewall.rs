//! The Proxmox firewall of CTs: `etc/pve/firewall/<vmid>.fw` (`[OPTIONS]`, `[RULES]`, other
//! sections such as `[IPSET name]` kept as they are) and the cluster's security groups in
//! `etc/pve/firewall/cluster.fw` (`[group NAME]`), in pve-firewall's format
//! (src/PVE/Firewall.pm `parse_vmfw_config`, `save_vmfw_conf`, `parse_clusterfw_config`).
//!
//! Enforcement (`sync`): an nftables `bridge` table `pve-sim-fw` in the node's network
//! namespace (src/netns.rs), rebuilt whole from the configs: for every CT port there
//! (`veth<vmid>i<N>`, the host end the up-script plugged) whose `netN` has `firewall=1` and whose
//! options say `enable: 1`, a chain for what goes to the CT (IN) and one for what comes from it
//! (OUT). pve-firewall's daemon recompiles every few seconds; the sim instead rebuilds when a
//! CT's port is plugged (the up-script), when a firewall config is written (API, `pvesh`) and
//! when a CT stops or is destroyed. What is not faithful is in the README ("Firewall").

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use proxmox_lxcri::mapping::firewall::{parse_rule, ports, FwRule};

use crate::sim::Sim;

/// A `.fw` file: options, rules, and the rest (sections the sim does not use) verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FwConf {
    pub options: BTreeMap<String, String>,
    pub rules: Vec<String>,
    pub rest: String,
}

pub fn dir(sim: &Sim) -> PathBuf {
    sim.pve_dir().join("firewall")
}

pub fn vm_path(sim: &Sim, vmid: u32) -> PathBuf {
    dir(sim).join(format!("{vmid}.fw"))
}

/// Sections by header (`OPTIONS`, `RULES`, `group web`, `IPSET x`), each its lines (comments
/// and blank lines dropped, except in the kept sections).
fn sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.split_once(']')) {
            out.push((h.0.trim().to_string(), Vec::new()));
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(s) = out.last_mut() {
            s.1.push(t.to_string());
        }
    }
    out
}

pub fn parse(text: &str) -> FwConf {
    let mut c = FwConf::default();
    for (h, lines) in sections(text) {
        match h.to_ascii_uppercase().as_str() {
            "OPTIONS" => {
                for l in lines {
                    if let Some((k, v)) = l.split_once(':') {
                        c.options.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
            }
            "RULES" => c.rules = lines,
            _ => {
                c.rest
                    .push_str(&format!("[{h}]\n\n{}\n\n", lines.join("\n")));
            }
        }
    }
    c
}

/// As `save_vmfw_conf` writes it; `None` when there is nothing (it then removes the file).
pub fn print(c: &FwConf) -> Option<String> {
    let mut raw = String::new();
    if !c.options.is_empty() {
        raw.push_str("[OPTIONS]\n\n");
        for (k, v) in &c.options {
            raw.push_str(&format!("{k}: {v}\n"));
        }
        raw.push('\n');
    }
    raw.push_str(&c.rest);
    if !c.rules.is_empty() {
        raw.push_str("[RULES]\n\n");
        for r in &c.rules {
            raw.push_str(&format!("{r}\n"));
        }
        raw.push('\n');
    }
    (!raw.is_empty()).then_some(raw)
}

pub fn load(sim: &Sim, vmid: u32) -> FwConf {
    fs::read_to_string(vm_path(sim, vmid))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

pub fn save(sim: &Sim, vmid: u32, c: &FwConf) -> std::io::Result<()> {
    let path = vm_path(sim, vmid);
    match print(c) {
        Some(raw) => {
            fs::create_dir_all(dir(sim))?;
            let tmp = path.with_extension("fw.tmp");
            fs::write(&tmp, raw)?;
            fs::rename(tmp, path)
        }
        None => match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// `remove_vmfw_conf` (pve-container's `destroy_vm` calls it, with or without purge).
pub fn remove(sim: &Sim, vmid: u32) {
    let _ = fs::remove_file(vm_path(sim, vmid));
}

/// The cluster's security groups: name → rule lines (`cluster.fw`, `[group NAME] # comment`).
pub fn groups(sim: &Sim) -> BTreeMap<String, (Vec<String>, String)> {
    let text = fs::read_to_string(dir(sim).join("cluster.fw")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.split_once(']')) {
            if let Some(name) = h.0.trim().strip_prefix("group ") {
                let comment = h.1.trim().trim_start_matches('#').trim().to_string();
                out.insert(name.trim().to_string(), (Vec::new(), comment));
            }
        }
    }
    for (h, lines) in sections(&text) {
        if let Some(name) = h.strip_prefix("group ") {
            if let Some(g) = out.get_mut(name.trim()) {
                g.0 = lines;
            }
        }
    }
    out
}

/// The nft statements of one rule of a chain; `None` for what the sim cannot enforce (a macro,
/// an IP set or alias, an icmp-type), which is then left out.
fn nft_rule(r: &FwRule, net: &str) -> Option<String> {
    if !r.enable || r.params.contains_key("macro") || r.params.contains_key("icmp-type") {
        return None;
    }
    if r.params.get("iface").is_some_and(|i| i != net) {
        return Some(String::new());
    }
    let mut m = Vec::new();
    for (key, dir) in [("source", "saddr"), ("dest", "daddr")] {
        let Some(a) = r.params.get(key) else { continue };
        if a.starts_with('+') || a.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        let fam = if a.contains(':') { "ip6" } else { "ip" };
        m.push(format!("{fam} {dir} {{ {} }}", a.replace(',', ", ")));
    }
    if let Some(p) = r.params.get("proto") {
        let p = if p == "icmpv6" {
            "ipv6-icmp"
        } else {
            p.as_str()
        };
        m.push(format!("meta l4proto {p}"));
    }
    for (key, nk) in [("sport", "sport"), ("dport", "dport")] {
        let Some(v) = r.params.get(key) else { continue };
        let list: Vec<String> = ports(v)
            .ok()?
            .into_iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        m.push(format!("th {nk} {{ {} }}", list.join(", ")));
    }
    // ACCEPT goes on to the other port's chain (each port is filtered on its own, as on its own
    // firewall bridge); REJECT is a drop here.
    let verdict = if r.action == "ACCEPT" {
        "return"
    } else {
        "drop"
    };
    Some(format!("{} {verdict}", m.join(" ")))
}

/// The chain body for one port and direction: rules of the CT (groups expanded) then policy.
fn chain(
    conf: &FwConf,
    groups: &BTreeMap<String, (Vec<String>, String)>,
    net: &str,
    dir: &str,
) -> String {
    // Not new TCP connections pass (a stand-in for conntrack's ESTABLISHED, which this
    // kernel's bridge family lacks); non-IP frames (ARP) pass as on Proxmox.
    let mut body = vec![
        "ether type != { ip, ip6 } return".to_string(),
        "tcp flags & (syn | ack) != syn return".to_string(),
    ];
    let add = |line: &str, body: &mut Vec<String>| {
        let Ok(r) = parse_rule(line) else { return };
        if r.kind == dir {
            if let Some(s) = nft_rule(&r, net).filter(|s| !s.is_empty()) {
                body.push(s);
            }
        }
    };
    for line in &conf.rules {
        let Ok(r) = parse_rule(line) else { continue };
        if r.kind == "group" && r.enable {
            if r.params.get("iface").is_some_and(|i| i != net) {
                continue;
            }
            // pve-firewall warns and skips a group that does not exist.
            let Some(g) = groups.get(&r.action) else {
                eprintln!("no such security group '{}'", r.action);
                continue;
            };
            for gl in g.0.clone() {
                add(&gl, &mut body);
            }
        } else {
            add(line, &mut body);
        }
    }
    let key = if dir == "in" {
        "policy_in"
    } else {
        "policy_out"
    };
    let default = if dir == "in" { "DROP" } else { "ACCEPT" };
    let policy = conf.options.get(key).map_or(default, String::as_str);
    body.push(if policy == "ACCEPT" { "return" } else { "drop" }.to_string());
    body.join("\n    ")
}

/// The node's CT ports in its namespace: (vmid, N, name).
fn ports_in_ns(ns: &str) -> Vec<(u32, u32, String)> {
    let Ok(out) = Command::new("nsenter")
        .args([&format!("--net={ns}"), "ip", "-j", "link", "show"])
        .output()
    else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let name = l["ifname"].as_str()?;
            let (vmid, n) = name.strip_prefix("veth")?.split_once('i')?;
            Some((vmid.parse().ok()?, n.parse().ok()?, name.to_string()))
        })
        .collect()
}

/// The whole ruleset for the node's namespace.
pub fn ruleset(sim: &Sim, ports: &[(u32, u32, String)]) -> String {
    let groups = groups(sim);
    let mut base = Vec::new();
    let mut chains = String::new();
    for (vmid, n, name) in ports {
        let Ok(ct) = crate::store::load(sim, *vmid) else {
            continue;
        };
        let net = format!("net{n}");
        let on = ct
            .options
            .get(&net)
            .is_some_and(|v| v.split(',').any(|p| p == "firewall=1"));
        let conf = load(sim, *vmid);
        if !on || conf.options.get("enable").is_none_or(|e| e != "1") {
            continue;
        }
        for dir in ["in", "out"] {
            let c = format!("{name}-{dir}");
            // IN: what the bridge sends out of the port, towards the CT.
            let m = if dir == "in" { "oifname" } else { "iifname" };
            base.push(format!("{m} \"{name}\" jump {c}"));
            chains.push_str(&format!(
                "  chain {c} {{\n    {}\n  }}\n",
                chain(&conf, &groups, &net, dir)
            ));
        }
    }
    // OUT chains before IN: a packet leaves one CT before it reaches the other.
    base.sort_by_key(|l| l.starts_with("oifname"));
    format!(
        "table bridge pve-sim-fw\ndelete table bridge pve-sim-fw\ntable bridge pve-sim-fw {{\n{chains}  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    {}\n  }}\n}}\n",
        base.join("\n    ")
    )
}

/// Rebuilds the node's firewall (when it has a network namespace); errors go to stderr.
pub fn sync(sim: &Sim) {
    let Some(ns) = crate::netns::netns(sim) else {
        return;
    };
    let ns = ns.to_string_lossy().into_owned();
    let rules = ruleset(sim, &ports_in_ns(&ns));
    let child = Command::new("nsenter")
        .args([&format!("--net={ns}"), "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("pve-sim: firewall: cannot run nft");
        return;
    };
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(rules.as_bytes());
    }
    match child.wait_with_output() {
        Ok(o) if !o.status.success() => eprintln!(
            "pve-sim: firewall: nft failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fw_file_round_trip() {
        let text = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[IPSET web]\n\n10.0.0.1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80\nGROUP base\n\n";
        let c = parse(text);
        assert_eq!(c.options["policy_in"], "DROP");
        assert_eq!(c.rules, vec!["IN ACCEPT -p tcp -dport 80", "GROUP base"]);
        assert_eq!(print(&c).unwrap(), text);
        assert_eq!(print(&FwConf::default()), None);
    }

    #[test]
    fn nft_of_rules() {
        let r = parse_rule("IN DROP -p tcp -dport 22,8000:8080 -source 10.0.0.0/24").unwrap();
        assert_eq!(
            nft_rule(&r, "net0").unwrap(),
            "ip saddr { 10.0.0.0/24 } meta l4proto tcp th dport { 22, 8000-8080 } drop"
        );
        let r = parse_rule("IN SSH(ACCEPT)").unwrap();
        assert_eq!(nft_rule(&r, "net0"), None);
        let r = parse_rule("IN ACCEPT -i net1").unwrap();
        assert_eq!(nft_rule(&r, "net0").unwrap(), "");
    }
}
