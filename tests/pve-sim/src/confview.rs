//! A CT config as `pct config`/`pct pending` print it and `GET …/config`/`…/pending` return
//! it: the same keys, formatted as text by pct and as JSON by the API server.

use std::collections::BTreeMap;

use proxmox_lxcri::pve::CtConfig;

/// Scalar keys as the API returns them: options plus `description` and `env` (NUL-joined).
pub fn scalars(c: &CtConfig) -> BTreeMap<String, String> {
    let mut m = c.options.clone();
    for k in ["description", "env"] {
        if let Some(v) = c.get(k) {
            m.insert(k.into(), v);
        }
    }
    m
}

/// The scalar keys and the raw `lxc.*` lines shown.
pub struct View {
    pub keys: BTreeMap<String, String>,
    pub lxc: Vec<(String, String)>,
}

/// A snapshot's config, else the config with its pending changes applied unless `current`
/// (`load_current_config`: pending values win, pending deletes vanish). The error is
/// Proxmox's message for a missing snapshot.
pub fn view(conf: &CtConfig, snapshot: Option<&str>, current: bool) -> Result<View, String> {
    if let Some(snap) = snapshot {
        let s = conf
            .snapshots
            .get(snap)
            .ok_or_else(|| format!("snapshot '{snap}' does not exist"))?;
        return Ok(View {
            keys: scalars(s),
            lxc: s.lxc.clone(),
        });
    }
    let (mut keys, mut lxc) = (scalars(conf), conf.lxc.clone());
    if !current {
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
    Ok(View { keys, lxc })
}
