//! `create`'s part in HA (docs/cluster.md, "HA"): the CT of a container that asks for it is
//! registered with Proxmox's HA stack once it runs, with the requested state `started`, so that
//! ha-manager recovers it on another node when its node fails.

use anyhow::Context;

use crate::backend::Backend;
use crate::config::Config;
use crate::mapping::HaRequest;
use crate::pve::Vmid;

/// The configuration the state records: `cluster.ha` and `cluster.ha_group` say what this
/// container got, whatever the default was.
pub fn effective(cfg: &Config, ha: Option<&HaRequest>) -> Config {
    let mut cfg = cfg.clone();
    cfg.cluster.ha = ha.is_some();
    cfg.cluster.ha_group = ha.and_then(|h| h.group.clone()).unwrap_or_default();
    cfg
}

/// `ha-manager add ct:<vmid> --state started [--group G]` (ssh) or `POST /cluster/ha/resources`
/// (api). A failure fails the create, whose undo destroys the CT (purging its resource).
pub fn register(backend: &dyn Backend, vmid: Vmid, ha: &HaRequest, id: &str) -> anyhow::Result<()> {
    backend
        .ha_add(vmid, ha.group.as_deref())
        .with_context(|| format!("registering CT {vmid} with ha-manager"))?;
    log::info!(
        "{id}: CT {vmid} is HA managed{}",
        ha.group
            .as_ref()
            .map(|g| format!(" (group {g})"))
            .unwrap_or_default()
    );
    Ok(())
}
