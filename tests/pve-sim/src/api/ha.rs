//! `/cluster/ha/resources[/{sid}]` and `/cluster/ha/status/current` (pve-ha-manager
//! src/PVE/API2/HA/Resources.pm, Status.pm) on the sim's `etc/pve/ha` (`crate::ha`). Errors
//! are the handlers' `die`s: 500 with Proxmox's text.

use std::collections::BTreeMap;

use serde_json::Value;

use super::reply::{ApiError, ApiResult};
use super::Call;
use crate::ha;

fn opts(c: &Call) -> BTreeMap<String, String> {
    c.p.iter()
        .filter(|(k, _)| ha::OPTIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn sim(c: &Call) -> crate::sim::Sim {
    c.ctx.sim(&c.ctx.nodes[0])
}

pub fn index(c: &Call) -> ApiResult {
    let list: Vec<Value> = ha::index(&sim(c))
        .into_iter()
        .filter(|r| c.get("type").is_none_or(|t| r["type"] == t))
        .collect();
    Ok(Value::Array(list).into())
}

pub fn read(c: &Call) -> ApiResult {
    let s = sim(c);
    let sid = ha::parse_sid(&s, c.get("sid").unwrap_or("")).map_err(ApiError::die)?;
    ha::index(&s)
        .into_iter()
        .find(|r| r["sid"] == sid.as_str())
        .map(Into::into)
        .ok_or_else(|| ApiError::die(format!("no such resource '{sid}'")))
}

pub fn create(c: &Call) -> ApiResult {
    let s = sim(c);
    let sid = c.get("sid").unwrap_or("");
    if let (Some(t), Ok(parsed)) = (c.get("type"), ha::parse_sid(&s, sid)) {
        if !parsed.starts_with(&format!("{t}:")) {
            return Err(ApiError::die("types does not match"));
        }
    }
    ha::add(&s, sid, &opts(c)).map_err(ApiError::die)?;
    Ok(Value::Null.into())
}

pub fn update(c: &Call) -> ApiResult {
    let delete: Vec<String> = c
        .get("delete")
        .unwrap_or("")
        .split([',', ';', ' '])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    ha::set(&sim(c), c.get("sid").unwrap_or(""), &opts(c), &delete).map_err(ApiError::die)?;
    Ok(Value::Null.into())
}

pub fn delete(c: &Call) -> ApiResult {
    ha::remove(&sim(c), c.get("sid").unwrap_or("")).map_err(ApiError::die)?;
    Ok(Value::Null.into())
}

pub fn status_current(c: &Call) -> ApiResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(Value::Array(ha::status_current(&sim(c), &c.ctx.nodes, now)).into())
}
