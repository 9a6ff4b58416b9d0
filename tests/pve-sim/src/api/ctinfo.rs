//! What the API reports about CTs: `vmstatus` as JSON and config values typed as Perl's JSON
//! prints them.

use proxmox_lxcri::pve::confkeys::{self, Type};
use proxmox_lxcri::pve::CtConfig;
use serde_json::{json, Map, Value};

use crate::host::{self, MIB};
use crate::sim::Sim;
use crate::store;
use crate::vmstatus::COUNTERS;

/// A config value as Perl's JSON would print it: numbers for numeric keys.
pub fn typed(key: &str, v: &str) -> Value {
    match confkeys::lookup(key) {
        Some(Type::Bool | Type::Int { .. }) => {
            v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))
        }
        Some(Type::Number { .. }) => v.parse::<f64>().map_or_else(|_| json!(v), |n| json!(n)),
        _ => json!(v),
    }
}

/// `vmstatus` of one CT: the keys of `GET /nodes/{node}/lxc` (and `pid` while running).
/// Unlike `pct status`, usage other than memory stays 0.
pub fn vmstatus(sim: &Sim, vmid: u32, conf: &CtConfig) -> Map<String, Value> {
    let st = crate::vmstatus::vmstatus(sim, vmid, conf);
    let mut d = Map::new();
    d.insert("vmid".into(), json!(vmid));
    d.insert("type".into(), json!("lxc"));
    d.insert("status".into(), json!(st.status()));
    d.insert("name".into(), json!(st.name));
    if let Some(l) = st.lock {
        d.insert("lock".into(), json!(l));
    }
    if let Some(t) = st.tags {
        d.insert("tags".into(), json!(t));
    }
    if st.template {
        d.insert("template".into(), json!(1));
    }
    let cpus = st
        .cpus
        .and_then(|c| c.parse::<f64>().ok())
        .filter(|c| *c > 0.0)
        .unwrap_or(host::cpus() as f64);
    d.insert("cpus".into(), json!(cpus));
    d.insert("maxmem".into(), json!(st.maxmem));
    d.insert("maxswap".into(), json!(st.swap.unwrap_or(512) * MIB));
    d.insert("maxdisk".into(), json!(st.maxdisk));
    for k in std::iter::once("cpu").chain(COUNTERS) {
        d.insert(k.into(), json!(0));
    }
    if let Some((pid, uptime)) = st.init {
        d.insert("pid".into(), json!(pid));
        d.insert("uptime".into(), json!(uptime));
        let usage = crate::vmstatus::memory_cgroup(sim, vmid) + "/memory.usage_in_bytes";
        if let Some(m) = host::read_u64(&usage) {
            d.insert("mem".into(), json!(m));
        }
    }
    d
}

/// The CTs configured on `node`, with their configs.
pub fn cts(sim: &Sim) -> Vec<(u32, CtConfig)> {
    store::list(sim)
        .into_iter()
        .filter_map(|id| store::load_quiet(sim, id).ok().map(|(c, _)| (id, c)))
        .collect()
}
