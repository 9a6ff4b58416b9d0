//! The Proxmox firewall of a CT on a remote node: the annotations
//! `org.proxmox.lxcri/firewall` (the CT's firewall options), `.../firewall-rules` (rules in the
//! syntax of a `.fw` file's `[RULES]` section, `;`-separated) and `.../firewall-group`
//! (cluster security groups). Checked as pve-firewall src/PVE/Firewall.pm does (`parse_fw_rule`,
//! `verify_rule`, `$vm_option_properties`) before anything is made. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{invalid, MapError};

pub const FIREWALL_ANNOTATION: &str = "org.proxmox.lxcri/firewall";
pub const RULES_ANNOTATION: &str = "org.proxmox.lxcri/firewall-rules";
pub const GROUP_ANNOTATION: &str = "org.proxmox.lxcri/firewall-group";

/// pve-firewall's `$max_group_name_length`.
const MAX_GROUP_NAME: usize = 18;
const LOG_LEVELS: [&str; 9] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog",
];
const POLICIES: [&str; 3] = ["ACCEPT", "REJECT", "DROP"];
/// Protocols that have ports (`verify_rule`: "protocol '...' does not support ports").
const PORT_PROTOS: [&str; 4] = ["tcp", "udp", "sctp", "udplite"];

/// One rule as the API's `POST .../firewall/rules` takes it (`type`, `action`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FwRule {
    /// `in`, `out` or `group`.
    pub kind: String,
    /// `ACCEPT`/`DROP`/`REJECT`, or the group's name.
    pub action: String,
    pub enable: bool,
    /// `-i`, `-source`, `-p`, ... by their API parameter names (`iface`, `source`, `proto`, ...),
    /// plus `macro` and `comment`.
    pub params: BTreeMap<String, String>,
}

impl FwRule {
    /// The API's form parameters.
    pub fn form(&self) -> Vec<(String, String)> {
        let mut f = vec![
            ("type".to_string(), self.kind.clone()),
            ("action".to_string(), self.action.clone()),
            // Proxmox's create_rule stores a rule disabled unless `enable` is given.
            ("enable".to_string(), u8::from(self.enable).to_string()),
        ];
        f.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        f
    }
}

/// What the annotations ask for: the CT's firewall options and its rules, in order (the
/// `firewall-rules` first, then one `group` rule per `firewall-group` name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirewallRequest {
    pub options: BTreeMap<String, String>,
    pub rules: Vec<FwRule>,
    /// The groups named (to check they exist).
    pub groups: Vec<String>,
    /// The annotations given (for messages).
    pub annotations: Vec<String>,
}

fn field(ann: &str) -> String {
    format!("annotations[\"{ann}\"]")
}

/// The firewall the annotations ask for; `None` when none of them is given.
pub fn firewall_request(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<FirewallRequest>, MapError> {
    let opts = annotations.get(FIREWALL_ANNOTATION);
    let rules = annotations.get(RULES_ANNOTATION);
    let groups = annotations.get(GROUP_ANNOTATION);
    if opts.is_none() && rules.is_none() && groups.is_none() {
        return Ok(None);
    }
    let mut req = FirewallRequest::default();
    for (a, v) in [
        (FIREWALL_ANNOTATION, opts),
        (RULES_ANNOTATION, rules),
        (GROUP_ANNOTATION, groups),
    ] {
        if v.is_some() {
            req.annotations.push(a.to_string());
        }
    }
    // Rules or a group without options: the firewall is on for the CT.
    req.options.insert("enable".into(), "1".into());
    if let Some(v) = opts {
        req.options
            .extend(parse_options(v).map_err(|e| invalid(field(FIREWALL_ANNOTATION), e))?);
    }
    if let Some(v) = rules {
        req.rules = parse_rules(v).map_err(|e| invalid(field(RULES_ANNOTATION), e))?;
    }
    if let Some(v) = groups {
        for g in v.split(',').map(str::trim) {
            check_group_name(g).map_err(|e| invalid(field(GROUP_ANNOTATION), e))?;
            req.groups.push(g.to_string());
            req.rules.push(FwRule {
                kind: "group".into(),
                action: g.into(),
                enable: true,
                params: BTreeMap::new(),
            });
        }
    }
    for r in req.rules.iter().filter(|r| r.kind == "group") {
        if !req.groups.contains(&r.action) {
            req.groups.push(r.action.clone());
        }
    }
    Ok(Some(req))
}

/// `key=value,...` of the CT's firewall options (`$vm_option_properties`).
pub fn parse_options(v: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if v.trim().is_empty() {
        return Err("empty; give options such as enable=1,policy_in=DROP".into());
    }
    for part in v.split(',') {
        let Some((k, val)) = part.split_once('=') else {
            return Err(format!("'{part}': expected key=value"));
        };
        let (k, val) = (k.trim(), val.trim());
        match k {
            "enable" | "dhcp" | "ipfilter" | "macfilter" | "ndp" | "radv" => {
                if val != "0" && val != "1" {
                    return Err(format!("{k}: type check ('boolean') failed - got '{val}'"));
                }
            }
            "policy_in" | "policy_out" => {
                if !POLICIES.contains(&val) {
                    return Err(format!(
                        "{k}: value '{val}' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'"
                    ));
                }
            }
            "log_level_in" | "log_level_out" => {
                if !LOG_LEVELS.contains(&val) {
                    return Err(format!(
                        "{k}: value '{val}' does not have a value in the enumeration '{}'",
                        LOG_LEVELS.join(", ")
                    ));
                }
            }
            _ => return Err(format!("{k}: property is not defined in schema")),
        }
        if out.insert(k.to_string(), val.to_string()).is_some() {
            return Err(format!("{k}: given twice"));
        }
    }
    Ok(out)
}

/// pve-firewall's `$security_group_name_pattern` and `$max_group_name_length`.
pub fn check_group_name(g: &str) -> Result<(), String> {
    let mut b = g.bytes();
    let ok = g.len() >= 2
        && b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if !ok {
        return Err(format!("invalid security group name '{g}'"));
    }
    if g.len() > MAX_GROUP_NAME {
        return Err(format!("security group name too long: '{g}'"));
    }
    Ok(())
}

/// `;`-separated rules, each as a `.fw` file's `[RULES]` line.
pub fn parse_rules(v: &str) -> Result<Vec<FwRule>, String> {
    let lines: Vec<&str> = v
        .split(';')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err("empty; give rules such as 'IN ACCEPT -p tcp -dport 80'".into());
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_rule(l).map_err(|e| format!("rule {} '{l}': {e}", i + 1)))
        .collect()
}

/// One rule line, as pve-firewall's `parse_fw_rule` reads it, then `verify_rule`'s checks.
pub fn parse_rule(line: &str) -> Result<FwRule, String> {
    let mut params = BTreeMap::new();
    let mut line = line.trim();
    if let Some((rule, comment)) = line.split_once('#') {
        line = rule.trim();
        if !comment.trim().is_empty() {
            params.insert("comment".into(), comment.trim().to_string());
        }
    }
    let enable = match line.strip_prefix('|') {
        Some(rest) => {
            line = rest;
            false
        }
        None => true,
    };
    let mut words = line.split_whitespace();
    let (Some(kind), Some(action)) = (words.next(), words.next()) else {
        return Err(format!("unable to parse rule: {line}"));
    };
    let kind = kind.to_ascii_lowercase();
    let mut action = action.to_string();
    match kind.as_str() {
        "in" | "out" => {
            if let Some((m, a)) = action
                .strip_suffix(')')
                .and_then(|s| s.split_once('('))
                .filter(|(m, a)| !m.is_empty() && POLICIES.contains(a))
            {
                params.insert("macro".into(), m.to_string());
                action = a.to_string();
            }
            if !POLICIES.contains(&action.as_str()) {
                return Err(format!(
                    "action: value '{action}' is not ACCEPT, DROP, REJECT or MACRO(ACTION)"
                ));
            }
        }
        "group" => check_group_name(&action)?,
        _ => {
            return Err(format!(
                "type: unknown rule type '{kind}' (IN, OUT or GROUP)"
            ))
        }
    }
    let rest: Vec<&str> = words.collect();
    let mut it = rest.chunks(2);
    for pair in it.by_ref() {
        let [opt, val] = pair else {
            return Err(format!("unable to parse rule parameters: {}", pair[0]));
        };
        let name = opt.trim_start_matches('-');
        let key = match (name, opt.starts_with('-')) {
            ("i", true) => "iface",
            _ if kind == "group" => {
                return Err(format!("unable to parse rule parameters: {opt} {val}"))
            }
            ("p" | "proto", true) => "proto",
            ("dport", true) => "dport",
            ("sport", true) => "sport",
            ("source", true) => "source",
            ("dest", true) => "dest",
            ("log", true) => "log",
            ("icmp-type", true) => "icmp-type",
            _ => return Err(format!("unable to parse rule parameters: {opt} {val}")),
        };
        if params.insert(key.to_string(), val.to_string()).is_some() {
            return Err(format!("{key}: given twice"));
        }
    }
    verify(&params)?;
    Ok(FwRule {
        kind,
        action,
        enable,
        params,
    })
}

/// `verify_rule`'s checks that need no cluster config.
fn verify(p: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(i) = p.get("iface") {
        let ok = i
            .strip_prefix("net")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!("iface: invalid interface name '{i}' (netN)"));
        }
    }
    if let Some(l) = p.get("log") {
        if !LOG_LEVELS.contains(&l.as_str()) {
            return Err(format!("log: unknown log level '{l}'"));
        }
    }
    let proto = p.get("proto").map(|s| s.to_ascii_lowercase());
    if let Some(pr) = &proto {
        let known = pr.parse::<u8>().is_ok()
            || [
                "tcp",
                "udp",
                "icmp",
                "icmpv6",
                "ipv6-icmp",
                "sctp",
                "udplite",
                "esp",
                "ah",
                "gre",
                "igmp",
            ]
            .contains(&pr.as_str());
        if !known {
            return Err(format!("proto: unknown protocol '{pr}'"));
        }
    }
    for key in ["dport", "sport"] {
        let Some(v) = p.get(key) else { continue };
        match &proto {
            None => {
                return Err(format!(
                    "proto: missing property - '{key}' requires this property"
                ))
            }
            Some(pr) if !PORT_PROTOS.contains(&pr.as_str()) => {
                return Err(format!("{key}: protocol '{pr}' does not support ports"))
            }
            _ => {}
        }
        ports(v).map_err(|e| format!("{key}: {e}"))?;
    }
    if p.contains_key("icmp-type") {
        match &proto {
            None => {
                return Err("proto: missing property - 'icmp-type' requires this property".into())
            }
            Some(pr) if !["icmp", "icmpv6", "ipv6-icmp"].contains(&pr.as_str()) => {
                return Err(format!(
                    "icmp-type: proto '{pr}' does not support icmp types"
                ))
            }
            _ => {}
        }
    }
    let mut family = None;
    for key in ["source", "dest"] {
        let Some(v) = p.get(key) else { continue };
        let f = addresses(v).map_err(|e| format!("{key}: {e}"))?;
        if let (Some(a), Some(b)) = (family, f) {
            if a != b {
                return Err("detected mixed ipv4/ipv6 addresses in rule".into());
            }
        }
        family = family.or(f);
    }
    Ok(())
}

/// A port list: numbers and `a:b` ranges, comma-separated (`parse_port_name_number_or_range`;
/// service names are not taken: the sim could not enforce them).
pub fn ports(v: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for item in v.split(',') {
        let num = |s: &str| {
            s.parse::<u16>()
                .map_err(|_| format!("invalid port '{s}' (a number or a range a:b)"))
        };
        let r = match item.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(format!("invalid port range '{item}'"));
                }
                (a, b)
            }
            None => {
                let a = num(item)?;
                (a, a)
            }
        };
        out.push(r);
    }
    Ok(out)
}

/// An address list (comma-separated IPs, CIDRs, `a-b` ranges), an IP set `+name` or an alias
/// name; its family (4 or 6), when it has addresses.
pub fn addresses(v: &str) -> Result<Option<u8>, String> {
    let name = |s: &str| {
        let mut b = s.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphabetic())
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    if let Some(set) = v.strip_prefix('+') {
        let set = set
            .strip_prefix("dc/")
            .or(set.strip_prefix("guest/"))
            .unwrap_or(set);
        return if name(set) {
            Ok(None)
        } else {
            Err(format!("invalid ipset name '{v}'"))
        };
    }
    if name(v) {
        return Ok(None);
    }
    let mut family = None;
    for item in v.split(',') {
        for end in item.splitn(2, '-') {
            let (ip, prefix) = end.split_once('/').unwrap_or((end, ""));
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("invalid address '{item}'"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if !prefix.is_empty() && prefix.parse::<u8>().map_or(true, |p| p > max) {
                return Err(format!("invalid address '{item}'"));
            }
            let f = if ip.is_ipv4() { 4 } else { 6 };
            if family.is_some_and(|x| x != f) {
                return Err(format!(
                    "detected mixed ipv4/ipv6 addresses in address list '{v}'"
                ));
            }
            family = Some(f);
        }
    }
    Ok(family)
}

/// Turns the firewall on for every interface of the CT (`firewall=1` in each `netN`) unless
/// the interface's own annotation says `firewall=0`.
pub fn enable_on_interfaces(options: &mut BTreeMap<String, String>) {
    for (k, v) in options.iter_mut() {
        let is_net = k
            .strip_prefix("net")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_net && !v.split(',').any(|p| p.starts_with("firewall=")) {
            v.push_str(",firewall=1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        firewall_request(&ann(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn none_without_annotations() {
        assert_eq!(firewall_request(&ann(&[("other", "x")])).unwrap(), None);
    }

    #[test]
    fn options_rules_and_groups() {
        let r = firewall_request(&ann(&[
            (FIREWALL_ANNOTATION, "policy_in=DROP,policy_out=ACCEPT,log_level_in=info"),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -p tcp -dport 80,8000:8080; |OUT DROP -dest 10.0.0.0/8 # no lan; IN SSH(ACCEPT) -source 10.1.0.1",
            ),
            (GROUP_ANNOTATION, "webservers"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(r.options["enable"], "1");
        assert_eq!(r.options["policy_in"], "DROP");
        assert_eq!(r.rules.len(), 4);
        assert_eq!(r.rules[0].kind, "in");
        assert_eq!(r.rules[0].params["dport"], "80,8000:8080");
        assert!(!r.rules[1].enable);
        assert_eq!(r.rules[1].params["comment"], "no lan");
        assert_eq!(r.rules[2].params["macro"], "SSH");
        assert_eq!(r.rules[2].action, "ACCEPT");
        assert_eq!(r.rules[3].kind, "group");
        assert_eq!(r.rules[3].action, "webservers");
        assert_eq!(r.groups, vec!["webservers"]);
        assert!(r.rules[0]
            .form()
            .contains(&("enable".to_string(), "1".to_string())));
    }

    #[test]
    fn enable_can_be_turned_off() {
        let r = firewall_request(&ann(&[(FIREWALL_ANNOTATION, "enable=0")]))
            .unwrap()
            .unwrap();
        assert_eq!(r.options["enable"], "0");
    }

    #[test]
    fn group_rule_in_rules() {
        let r = firewall_request(&ann(&[(RULES_ANNOTATION, "GROUP base -i net0")]))
            .unwrap()
            .unwrap();
        assert_eq!(r.groups, vec!["base"]);
        assert_eq!(r.rules[0].params["iface"], "net0");
    }

    #[test]
    fn refusals_name_the_annotation() {
        let cases = [
            (FIREWALL_ANNOTATION, "policy_in=MAYBE", "enumeration"),
            (
                FIREWALL_ANNOTATION,
                "speed=1",
                "speed: property is not defined",
            ),
            (FIREWALL_ANNOTATION, "enable=yes", "boolean"),
            (FIREWALL_ANNOTATION, "", "empty"),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -dport 80",
                "'dport' requires this property",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -p icmp -dport 80",
                "does not support ports",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -p tcp -dport http",
                "invalid port 'http'",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -p tcp -dport 9:1",
                "invalid port range",
            ),
            (RULES_ANNOTATION, "IN LET", "action: value 'LET'"),
            (RULES_ANNOTATION, "FORWARD ACCEPT", "unknown rule type"),
            (RULES_ANNOTATION, "IN", "unable to parse rule"),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -x 1",
                "unable to parse rule parameters",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -p",
                "unable to parse rule parameters",
            ),
            (RULES_ANNOTATION, "IN ACCEPT -p bogus", "unknown protocol"),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -i eth0",
                "invalid interface name",
            ),
            (RULES_ANNOTATION, "IN ACCEPT -log loud", "unknown log level"),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -source 10.0.0.300",
                "invalid address",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -source 10.0.0.0/33",
                "invalid address",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -source 10.0.0.1 -dest fd00::1",
                "mixed ipv4/ipv6",
            ),
            (
                RULES_ANNOTATION,
                "IN ACCEPT -icmp-type echo-request",
                "'icmp-type' requires",
            ),
            (RULES_ANNOTATION, " ; ", "empty"),
            (GROUP_ANNOTATION, "9lives", "invalid security group name"),
            (GROUP_ANNOTATION, "abcdefghijklmnopqrstuvwxyz", "too long"),
            (
                RULES_ANNOTATION,
                "GROUP web -p tcp",
                "unable to parse rule parameters",
            ),
        ];
        for (a, v, want) in cases {
            let e = err(&[(a, v)]);
            assert!(e.contains(&format!("annotations[\"{a}\"]")), "{v}: {e}");
            assert!(e.contains(want), "{v}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn rule_numbers_in_messages() {
        let e = err(&[(RULES_ANNOTATION, "IN ACCEPT; IN DROP -p tcp -dport x")]);
        assert!(e.contains("rule 2 'IN DROP -p tcp -dport x'"), "{e}");
    }

    #[test]
    fn interfaces_get_firewall_on() {
        let mut o = BTreeMap::from([
            ("net0".to_string(), "name=eth0,bridge=vmbr0".to_string()),
            ("net1".to_string(), "name=eth1,firewall=0".to_string()),
            ("hostname".to_string(), "x".to_string()),
        ]);
        enable_on_interfaces(&mut o);
        assert_eq!(o["net0"], "name=eth0,bridge=vmbr0,firewall=1");
        assert_eq!(o["net1"], "name=eth1,firewall=0");
        assert_eq!(o["hostname"], "x");
    }

    #[test]
    fn address_forms() {
        assert_eq!(addresses("10.0.0.1,10.0.1.0/24").unwrap(), Some(4));
        assert_eq!(addresses("10.0.0.1-10.0.0.9").unwrap(), Some(4));
        assert_eq!(addresses("fd00::/64").unwrap(), Some(6));
        assert_eq!(addresses("+myset").unwrap(), None);
        assert_eq!(addresses("myalias").unwrap(), None);
        assert_eq!(ports("22,80:90").unwrap(), vec![(22, 22), (80, 90)]);
    }
}
