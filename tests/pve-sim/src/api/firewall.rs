//! A CT's firewall (pve-firewall src/PVE/API2/Firewall/VM.pm `options`, Rules.pm for
//! `/nodes/{node}/lxc/{vmid}/firewall/rules`) and the cluster's security groups
//! (src/PVE/API2/Firewall/Groups.pm `list_security_groups`), on the files of src/firewall.rs.
//! Rules are checked with pve-firewall's `parse_fw_rule`/`verify_rule` checks (the runtime's
//! `mapping::firewall`, which follows them).

use serde_json::{json, Map, Value};

use super::reply::{ApiError, ApiResult};
use super::Call;
use crate::firewall::{self, FwConf};
use crate::store;
use proxmox_lxcri::mapping::firewall::{parse_options, parse_rule};

const OPTION_KEYS: [&str; 10] = [
    "enable",
    "dhcp",
    "ipfilter",
    "macfilter",
    "ndp",
    "radv",
    "policy_in",
    "policy_out",
    "log_level_in",
    "log_level_out",
];

/// The CT must exist on the node (`PVE::LXC::Config->load_config`).
fn ct(c: &Call) -> Result<crate::sim::Sim, ApiError> {
    let sim = c.ctx.sim(c.node());
    store::load_quiet(&sim, c.vmid()).map_err(|_| {
        ApiError::die(format!(
            "Configuration file '{}' does not exist",
            sim.conf_name(c.vmid())
        ))
    })?;
    Ok(sim)
}

fn audit(c: &Call) -> Result<(), ApiError> {
    c.acl().check(&format!("/vms/{}", c.vmid()), &["VM.Audit"])
}

fn modify(c: &Call) -> Result<(), ApiError> {
    c.acl()
        .check(&format!("/vms/{}", c.vmid()), &["VM.Config.Network"])
}

fn saved(sim: &crate::sim::Sim, vmid: u32, conf: &FwConf) -> ApiResult {
    firewall::save(sim, vmid, conf).map_err(|e| ApiError::die(e.to_string()))?;
    firewall::sync(sim);
    Ok(Value::Null.into())
}

pub fn get_options(c: &Call) -> ApiResult {
    audit(c)?;
    let sim = ct(c)?;
    let conf = firewall::load(&sim, c.vmid());
    let mut out = Map::new();
    for (k, v) in &conf.options {
        out.insert(
            k.clone(),
            v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n)),
        );
    }
    Ok(Value::Object(out).into())
}

pub fn set_options(c: &Call) -> ApiResult {
    modify(c)?;
    let sim = ct(c)?;
    let mut conf = firewall::load(&sim, c.vmid());
    let given: Vec<String> = OPTION_KEYS
        .iter()
        .filter_map(|k| Some(format!("{k}={}", c.get(k)?)))
        .collect();
    if !given.is_empty() {
        let opts = parse_options(&given.join(",")).map_err(|e| {
            let (k, m) = e.split_once(": ").unwrap_or(("options", &e));
            ApiError::param(k, m)
        })?;
        conf.options.extend(opts);
    }
    for k in c.get("delete").unwrap_or("").split([',', ';', ' ']) {
        conf.options.remove(k);
    }
    saved(&sim, c.vmid(), &conf)
}

/// A rule line as `[RULES]` holds it (`$format_rules`).
fn line_of(c: &Call) -> String {
    let mut l = String::new();
    if c.get("enable").is_none_or(|e| e == "0") {
        l.push('|');
    }
    l.push_str(&c.get("type").unwrap_or("").to_ascii_uppercase());
    match c.get("macro") {
        Some(m) => l.push_str(&format!(" {m}({})", c.get("action").unwrap_or(""))),
        None => l.push_str(&format!(" {}", c.get("action").unwrap_or(""))),
    }
    for (k, opt) in [
        ("iface", "-i"),
        ("source", "-source"),
        ("dest", "-dest"),
        ("proto", "-p"),
        ("dport", "-dport"),
        ("sport", "-sport"),
        ("log", "-log"),
        ("icmp-type", "-icmp-type"),
    ] {
        if let Some(v) = c.get(k).filter(|v| !v.is_empty()) {
            l.push_str(&format!(" {opt} {v}"));
        }
    }
    if let Some(cm) = c.get("comment").filter(|v| !v.trim().is_empty()) {
        l.push_str(&format!(" # {cm}"));
    }
    l
}

fn rule_json(pos: usize, line: &str) -> Value {
    let Ok(r) = parse_rule(line) else {
        return json!({"pos": pos});
    };
    let mut o =
        json!({"pos": pos, "type": r.kind, "action": r.action, "enable": u8::from(r.enable)});
    for (k, v) in &r.params {
        o[k] = json!(v);
    }
    o
}

pub fn get_rules(c: &Call) -> ApiResult {
    audit(c)?;
    let sim = ct(c)?;
    let conf = firewall::load(&sim, c.vmid());
    let list: Vec<Value> = conf
        .rules
        .iter()
        .enumerate()
        .map(|(i, l)| rule_json(i, l))
        .collect();
    Ok(Value::Array(list).into())
}

pub fn get_rule(c: &Call) -> ApiResult {
    audit(c)?;
    let sim = ct(c)?;
    let conf = firewall::load(&sim, c.vmid());
    let pos: usize = c
        .get("pos")
        .and_then(|p| p.parse().ok())
        .unwrap_or(usize::MAX);
    match conf.rules.get(pos) {
        Some(l) => Ok(rule_json(pos, l).into()),
        None => Err(ApiError::param("pos", "no rule at position")),
    }
}

pub fn create_rule(c: &Call) -> ApiResult {
    modify(c)?;
    let sim = ct(c)?;
    if c.get("type") == Some("forward") {
        return Err(ApiError::param(
            "type",
            "forward rules are not allowed in this context",
        ));
    }
    let line = line_of(c);
    parse_rule(&line).map_err(|e| {
        let (k, m) = e.split_once(": ").unwrap_or(("rule", &e));
        ApiError::param(k, m)
    })?;
    // A group that does not exist is taken: pve-firewall only warns "no such security group"
    // when it compiles the rules, and skips it (src/PVE/Firewall.pm).
    let mut conf = firewall::load(&sim, c.vmid());
    // `create_rule` puts a new rule at the top.
    conf.rules.insert(0, line);
    saved(&sim, c.vmid(), &conf)
}

pub fn delete_rule(c: &Call) -> ApiResult {
    modify(c)?;
    let sim = ct(c)?;
    let mut conf = firewall::load(&sim, c.vmid());
    let pos: usize = c
        .get("pos")
        .and_then(|p| p.parse().ok())
        .unwrap_or(usize::MAX);
    if pos < conf.rules.len() {
        conf.rules.remove(pos);
    }
    saved(&sim, c.vmid(), &conf)
}

pub fn list_groups(c: &Call) -> ApiResult {
    let sim = c.ctx.sim(&c.ctx.local);
    let list: Vec<Value> = firewall::groups(&sim)
        .into_iter()
        .map(|(name, (rules, comment))| {
            let mut g = json!({"group": name, "count": rules.len()});
            if !comment.is_empty() {
                g["comment"] = json!(comment);
            }
            g
        })
        .collect();
    Ok(Value::Array(list).into())
}
