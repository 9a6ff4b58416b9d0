//! What `create` asks the node before anything is uploaded or made, for what the annotations
//! request: that the bridges and vnets exist, that the firewall's security groups do, and that
//! every storage (CT, template, volumes) allows its content. Each refusal names the annotation.

use std::path::Path;

use anyhow::anyhow;

use crate::backend::{self, Backend, BackendError};
use crate::config::Config;
use crate::mapping::{self, firewall::FirewallRequest, net::NetRequest, Volumes};

pub(super) fn node_accepts(
    backend: &dyn Backend,
    cfg: &Config,
    state_root: &Path,
    config_path: &Path,
    nets: &[NetRequest],
    firewall: Option<&FirewallRequest>,
    volumes: &Volumes,
) -> anyhow::Result<()> {
    let wanted: Vec<(String, String)> = nets
        .iter()
        .filter_map(|n| Some((n.annotation.clone(), n.bridge.clone()?)))
        .collect();
    backend
        .check_bridges(&wanted)
        .map_err(refusal(config_path, "checking the CT's bridges"))?;
    if let Some(fw) = firewall {
        let ann = mapping::firewall::GROUP_ANNOTATION;
        let ann = if fw.annotations.iter().any(|a| a == ann) {
            ann
        } else {
            mapping::firewall::RULES_ANNOTATION
        };
        backend
            .check_firewall_groups(ann, &fw.groups)
            .map_err(refusal(
                config_path,
                "checking the cluster's security groups",
            ))?;
    }
    let volume_needs = super::create_volumes::needs(volumes);
    let mut storages = format!("storages {} {}", cfg.storage, cfg.rootfs_storage);
    for n in &volume_needs {
        storages.push_str(&format!(" {}", n.storage));
    }
    backend::nodever::checked(state_root, cfg, &storages, || {
        backend.check_storages(&volume_needs)
    })?;
    Ok(())
}

/// A refusal naming an annotation becomes one line naming the bundle's config.json too; any
/// other failure keeps what was being checked as its context.
fn refusal<'a>(
    config_path: &'a Path,
    what: &'static str,
) -> impl Fn(BackendError) -> anyhow::Error + 'a {
    move |e| match e {
        BackendError::Other(m) if m.starts_with("annotations[") => {
            anyhow!("{}: {m}", config_path.display())
        }
        e => anyhow!(e).context(what),
    }
}
