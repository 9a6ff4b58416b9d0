//! The official schema subset (`pve-api-subset.json`): which method+path exists and the checks
//! `PVE::JSONSchema` applies to every parameter (pve-common src/PVE/JSONSchema.pm `check_prop`).
//! Messages are Proxmox's.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use proxmox_lxcri::pve::confkeys::{self, Type};
use proxmox_lxcri::pve::propstr;
use regex::Regex;
use serde_json::Value;

use super::http::percent_decode;
use super::reply::ApiError;
use crate::version::NodeVersion;

const SUBSET: &str = include_str!("../../pve-api-subset.json");

pub struct Entry {
    pub method: String,
    /// Schema path, e.g. `/nodes/{node}/lxc/{vmid}`.
    pub path: String,
    pub properties: serde_json::Map<String, Value>,
    pub additional: bool,
    /// `permissions.check` (null when the entry has none, e.g. `user: all`).
    pub check: Value,
}

fn entries() -> &'static [Entry] {
    static E: OnceLock<Vec<Entry>> = OnceLock::new();
    E.get_or_init(|| {
        let all: Vec<Value> = serde_json::from_str(SUBSET).expect("schema subset is JSON");
        all.iter()
            .map(|e| {
                let params = &e["info"]["parameters"];
                Entry {
                    method: e["method"].as_str().unwrap_or("").to_string(),
                    path: e["path"].as_str().unwrap_or("").to_string(),
                    properties: params["properties"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    additional: truthy(&params["additionalProperties"]),
                    check: e["info"]["permissions"]["check"].clone(),
                }
            })
            .collect()
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty() && s != "0",
        _ => false,
    }
}

/// The schema entry for a request and its path variables (decoded). Literal segments beat
/// variables when two paths would match.
pub fn route(method: &str, raw_path: &str) -> Option<(&'static Entry, BTreeMap<String, String>)> {
    let segs: Vec<&str> = raw_path.trim_matches('/').split('/').collect();
    let mut best: Option<(usize, &Entry, BTreeMap<String, String>)> = None;
    for e in entries().iter().filter(|e| e.method == method) {
        let pat: Vec<&str> = e.path.trim_matches('/').split('/').collect();
        if pat.len() != segs.len() {
            continue;
        }
        let mut vars = BTreeMap::new();
        let mut literal = 0;
        let ok = pat.iter().zip(&segs).all(|(p, s)| {
            if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let v = percent_decode(s, false);
                vars.insert(name.to_string(), v);
                !s.is_empty()
            } else {
                literal += 1;
                p == s
            }
        });
        if ok && best.as_ref().is_none_or(|(l, _, _)| literal > *l) {
            best = Some((literal, e, vars));
        }
    }
    best.map(|(_, e, v)| (e, v))
}

/// The schema of parameter `name`: exact, or a numbered family (`mp[n]` covers `mp0`..).
fn property<'a>(e: &'a Entry, name: &str) -> Option<&'a Value> {
    if let Some(p) = e.properties.get(name) {
        return Some(p);
    }
    let split = name.find(|c: char| c.is_ascii_digit())?;
    let (family, idx) = name.split_at(split);
    if idx.len() > 1 && idx.starts_with('0') || !idx.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p = e.properties.get(&format!("{family}[n]"))?;
    // The family's size is the config key table's (mp0..mp255, net0..net31, ...).
    confkeys::lookup(name).map(|_| p)
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A schema regex: Perl's `(?^:…)` becomes `(?:…)`, `\0` a NUL escape, and it is anchored.
fn pattern_matches(pat: &str, value: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    let re = cache.entry(pat.to_string()).or_insert_with(|| {
        let p = pat.replace("(?^:", "(?:").replace("\\0", "\\x00");
        Regex::new(&format!("^(?:{p})$")).ok()
    });
    // A pattern the regex crate cannot express is not checked (loose, not wrong).
    re.as_ref().is_none_or(|r| r.is_match(value))
}

fn node_name_ok(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn storage_id_ok(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
}

fn configid_ok(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.".contains(c))
}

const STORAGE_CONTENT: &[&str] = &[
    "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import",
];

/// The `format` check; `Err` is the text after `invalid format - ` (with its newline).
fn check_format(name: &str, format: &Value, value: &str) -> Result<(), String> {
    let named = format.as_str().unwrap_or("");
    let bad = |m: String| Err(format!("invalid format - {m}\n"));
    match named {
        "pve-vmid" => {
            let ok = value.len() >= 3
                && value.len() <= 9
                && !value.starts_with('0')
                && value.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return bad("value does not look like a valid VM ID".into());
            }
        }
        "pve-node" if !node_name_ok(value) => {
            return bad("value does not look like a valid node name".into());
        }
        "pve-storage-id" if !storage_id_ok(value) => {
            return bad(format!("storage ID '{value}' contains illegal characters"));
        }
        "pve-configid" if !configid_ok(value) => {
            return bad(format!("invalid configuration ID '{value}'"));
        }
        "pve-configid-list" => {
            for id in value.split([',', ';', ' ', '\0']).filter(|s| !s.is_empty()) {
                if !configid_ok(id) {
                    return bad(format!("invalid configuration ID '{id}'"));
                }
            }
        }
        "pve-storage-content" if !STORAGE_CONTENT.contains(&value) => {
            return bad(format!("invalid content type '{value}'"));
        }
        _ => {
            // Config keys (including property strings) use the config key table's checks;
            // other named formats are not checked.
            let config_format = match confkeys::lookup(name) {
                Some(t @ Type::Prop(_)) => Some(t),
                Some(t @ Type::Str { check: Some(_), .. }) => Some(t),
                _ => None,
            };
            if let (Some(t), false) = (config_format, format.is_null()) {
                confkeys::verify_type(name, &t, value)?;
            }
        }
    }
    Ok(())
}

/// `check_prop` for one value: type, format, pattern, length, range, enum.
fn check_value(name: &str, schema: &Value, value: &str) -> Result<(), String> {
    let ty = schema["type"].as_str().unwrap_or("string");
    match ty {
        "boolean" if value != "0" && value != "1" => {
            return Err(format!("type check ('boolean') failed - got '{value}'"));
        }
        "integer" if !propstr::is_integer(value) => {
            return Err(format!("type check ('integer') failed - got '{value}'"));
        }
        "number" if !propstr::is_number(value) => {
            return Err(format!("type check ('number') failed - got '{value}'"));
        }
        _ => {}
    }
    if !schema["format"].is_null() {
        check_format(name, &schema["format"], value)?;
    }
    if let Some(p) = schema["pattern"].as_str() {
        if !pattern_matches(p, value) {
            return Err("value does not match the regex pattern".into());
        }
    }
    if let Some(max) = num(&schema["maxLength"]) {
        if value.chars().count() as f64 > max {
            return Err(format!(
                "value may only be {} characters long",
                fmt_num(max)
            ));
        }
    }
    if let Some(min) = num(&schema["minLength"]) {
        if (value.chars().count() as f64) < min {
            return Err(format!(
                "value must be at least {} characters long",
                fmt_num(min)
            ));
        }
    }
    if ty == "integer" || ty == "number" {
        let n: f64 = value.parse().unwrap_or(f64::NAN);
        if let Some(max) = num(&schema["maximum"]).filter(|m| n > *m) {
            return Err(format!(
                "value must have a maximum value of {}",
                fmt_num(max)
            ));
        }
        if let Some(min) = num(&schema["minimum"]).filter(|m| n < *m) {
            return Err(format!(
                "value must have a minimum value of {}",
                fmt_num(min)
            ));
        }
    }
    if let Some(list) = schema["enum"].as_array() {
        let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        if !names.contains(&value) {
            return Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

const NOT_IN_SCHEMA: &str =
    "property is not defined in schema and the schema does not allow additional properties";

/// Checks all parameters (path variables included) against the entry's schema as node
/// version `ver` has it: config keys and mount point options of a newer pve-container are
/// not in an older node's schema.
pub fn validate(
    e: &Entry,
    params: &BTreeMap<String, String>,
    ver: &NodeVersion,
) -> Result<(), ApiError> {
    let mut errors = BTreeMap::new();
    for (name, value) in params {
        let known = confkeys::lookup(name).is_none() || ver.has_key(name);
        match property(e, name).filter(|_| known) {
            None if !e.additional => {
                errors.insert(name.clone(), NOT_IN_SCHEMA.to_string());
            }
            None => {}
            Some(schema) => {
                let checked = check_value(name, schema, value)
                    .and_then(|()| crate::cli::check_new_options(ver, name, value));
                if let Err(msg) = checked {
                    errors.insert(name.clone(), msg);
                } else if let Some(req) = schema["requires"].as_str() {
                    if !params.contains_key(req) {
                        errors.insert(
                            req.to_string(),
                            format!("missing property required by '{name}'"),
                        );
                    }
                }
            }
        }
    }
    for (name, schema) in &e.properties {
        if name.ends_with("[n]") || truthy(&schema["optional"]) || params.contains_key(name) {
            continue;
        }
        errors
            .entry(name.clone())
            .or_insert_with(|| "property is missing and it is not optional".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::params(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn routes_prefer_literals_and_decode_variables() {
        let (e, v) = route(
            "GET",
            "/nodes/n1/storage/local/content/local%3Avztmpl%2Fa.tar",
        )
        .unwrap();
        assert_eq!(e.path, "/nodes/{node}/storage/{storage}/content/{volume}");
        assert_eq!(v["volume"], "local:vztmpl/a.tar");
        let (e, _) = route("GET", "/nodes/n1/lxc/100/status/current").unwrap();
        assert_eq!(e.path, "/nodes/{node}/lxc/{vmid}/status/current");
        assert!(route("POST", "/nodes/n1/lxc/100/exec").is_none());
    }

    #[test]
    fn proxmox_messages() {
        let (e, _) = route("POST", "/nodes/n1/lxc").unwrap();
        let err = validate(
            e,
            &params(&[
                ("node", "n1"),
                ("vmid", "99"),
                ("bogus", "1"),
                ("arch", "sparc"),
                ("memory", "8"),
                ("onboot", "yes"),
                ("mp0", "/a,mp=/b"),
                ("mp999", "/a,mp=/b"),
            ]),
            &NodeVersion::default_node(),
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        let m = &err.errors;
        assert_eq!(
            m["vmid"],
            "invalid format - value does not look like a valid VM ID\n"
        );
        assert_eq!(
            m["bogus"],
            "property is not defined in schema and the schema does not allow additional properties"
        );
        assert_eq!(m["mp999"], m["bogus"]);
        assert_eq!(
            m["arch"],
            "value 'sparc' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'"
        );
        assert_eq!(m["memory"], "value must have a minimum value of 16");
        assert_eq!(m["onboot"], "type check ('boolean') failed - got 'yes'");
        assert_eq!(
            m["ostemplate"],
            "property is missing and it is not optional"
        );
        assert!(!m.contains_key("mp0"));
    }

    #[test]
    fn patterns_are_anchored_perl_regexes() {
        let (e, _) = route("PUT", "/nodes/n1/lxc/100/config").unwrap();
        let ok = params(&[("node", "n1"), ("vmid", "100"), ("env", "A=1\0B=2")]);
        assert!(validate(e, &ok, &NodeVersion::default_node()).is_ok());
        let bad = params(&[("node", "n1"), ("vmid", "100"), ("env", "=x")]);
        assert_eq!(
            validate(e, &bad, &NodeVersion::default_node())
                .unwrap_err()
                .errors["env"],
            "value does not match the regex pattern"
        );
    }
}
