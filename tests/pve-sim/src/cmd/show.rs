//! `pct config <vmid> [--current B] [--snapshot NAME]` and `pct pending <vmid>`
//! (pct.pm `config` printer, GuestHelpers `format_pending`; pve-container src/PVE/CLI/pct.pm).

use proxmox_lxcri::pve::config::encode_text;

use crate::cli::Params;
use crate::confview::{self, scalars, View};
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::store;

pub fn config(sim: &Sim, p: &Params) -> Result<()> {
    let conf = store::load(sim, p.vmid)?;
    let View { keys, lxc } =
        confview::view(&conf, p.get("snapshot"), p.flag("current")).map_err(Failure::die)?;
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
