//! `images [--prune]`: the rootfs templates this runtime uploaded for CTs on a remote node. They
//! outlive `delete` (the next container from the same image reuses them); `--prune` removes those
//! no container under `--root` was created from. With `node = "auto"` every online node's
//! storage is looked at (a `dir` storage is per node).

use std::collections::BTreeSet;

use super::{out, Ctx};
use crate::cli::ImagesArgs;
use crate::config::Config;

pub fn run(ctx: &Ctx, args: &ImagesArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    let nodes = if cfg.node == "auto" {
        crate::backend::api::online_nodes(&cfg)?
    } else {
        vec![cfg.node_name()]
    };
    // (node, volid) of every container's template.
    let mut used = BTreeSet::new();
    for id in crate::state::list_ids(&ctx.root)? {
        if let Ok(st) = ctx.dir(&id)?.load() {
            if let Some(t) = st.template {
                used.insert((st.config.node_name(), t));
            }
        }
    }
    if !args.prune {
        out(format!(
            "{:<16} {:<64} {:>12} USED",
            "NODE", "VOLID", "SIZE"
        ))?;
    }
    for node in nodes {
        let backend = ctx.backend(&Config {
            node: node.clone(),
            ..cfg.clone()
        });
        for (volid, size) in backend.templates()? {
            let in_use = used.contains(&(node.clone(), volid.clone()));
            if !args.prune {
                let u = if in_use { "yes" } else { "no" };
                out(format!("{node:<16} {volid:<64} {size:>12} {u}"))?;
            } else if !in_use {
                backend.remove_template(&volid)?;
                out(format!("removed {volid} on {node}"))?;
            }
        }
    }
    Ok(())
}
