//! `pct config <vmid> [--current B] [--snapshot NAME]` and `pct pending <vmid>`
//! (pct.pm `config` printer, GuestHelpers `format_pending`; reference §1.3).

use std::collections::BTreeMap;

use proxmox_lxcri::pve::config::encode_text;
use proxmox_lxcri::pve::CtConfig;

use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::store;

/// Scalar keys as the API returns them: options plus `description` and `env` (NUL-joined).
fn scalars(c: &CtConfig) -> BTreeMap<String, String> {
    let mut m = c.options.clone();
    if let Some(d) = c.get("description") {
        m.insert("description".into(), d);
    }
    if let Some(e) = c.get("env") {
        m.insert("env".into(), e);
    }
    m
}

pub fn config(sim: &Sim, p: &Params) -> Result<()> {
    let conf = store::load(sim, p.vmid)?;
    let (keys, lxc) = if let Some(snap) = p.get("snapshot") {
        let s = conf
            .snapshots
            .get(snap)
            .ok_or_else(|| Failure::die(format!("snapshot '{snap}' does not exist")))?;
        (scalars(s), s.lxc.clone())
    } else {
        let mut keys = scalars(&conf);
        let mut lxc = conf.lxc.clone();
        if !p.flag("current") {
            // `load_current_config`: pending values win, pending deletes vanish.
            for (k, v) in &conf.pending {
                if k.starts_with("lxc.") {
                    lxc.retain(|(rk, _)| rk != k);
                    lxc.push((k.clone(), v.clone()));
                } else {
                    keys.insert(k.clone(), v.clone());
                }
            }
            for d in &conf.pending_delete {
                keys.remove(d.trim_start_matches('!'));
            }
        }
        (keys, lxc)
    };
    let mut out = String::new();
    for (k, v) in &keys {
        let v = if k == "description" {
            encode_text(v)
        } else {
            v.clone()
        };
        out.push_str(&format!("{k}: {v}\n"));
    }
    for (k, v) in &lxc {
        out.push_str(&format!("{k}: {v}\n"));
    }
    print!("{out}");
    Ok(())
}

pub fn pending(sim: &Sim, p: &Params) -> Result<()> {
    let conf = store::load(sim, p.vmid)?;
    let cur = scalars(&conf);
    let deleted: Vec<&str> = conf
        .pending_delete
        .iter()
        .map(|d| d.trim_start_matches('!'))
        .collect();
    let mut keys: Vec<&String> = cur
        .keys()
        .chain(conf.pending.keys())
        .filter(|k| !k.starts_with("lxc."))
        .collect();
    keys.sort();
    keys.dedup();
    let enc = |k: &str, v: &str| {
        if k == "description" {
            encode_text(v)
        } else {
            v.to_string()
        }
    };
    let mut out = String::new();
    for k in keys {
        match (cur.get(k), conf.pending.get(k)) {
            (Some(v), _) if deleted.contains(&k.as_str()) => {
                out.push_str(&format!("del {k}: {}\n", enc(k, v)))
            }
            (Some(v), Some(n)) => {
                out.push_str(&format!("cur {k}: {}\n", enc(k, v)));
                out.push_str(&format!("new {k}: {}\n", enc(k, n)));
            }
            (Some(v), None) => out.push_str(&format!("cur {k}: {}\n", enc(k, v))),
            (None, Some(n)) => out.push_str(&format!("new {k}: {}\n", enc(k, n))),
            (None, None) => {}
        }
    }
    print!("{out}");
    Ok(())
}
