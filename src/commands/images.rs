//! `images [--prune]`: the rootfs templates this runtime uploaded for CTs on a remote node. They
//! outlive `delete` (the next container from the same image reuses them); `--prune` removes those
//! no container under `--root` was created from.

use std::collections::BTreeSet;

use super::{out, Ctx};
use crate::cli::ImagesArgs;

pub fn run(ctx: &Ctx, args: &ImagesArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    let backend = crate::backend::from_config(&cfg);
    let mut used = BTreeSet::new();
    for id in crate::state::list_ids(&ctx.root)? {
        if let Some(t) = ctx.dir(&id)?.load().ok().and_then(|st| st.template) {
            used.insert(t);
        }
    }
    let templates = backend.templates()?;
    if !args.prune {
        out(format!("{:<64} {:>12} USED", "VOLID", "SIZE"))?;
        for (volid, size) in &templates {
            let u = if used.contains(volid) { "yes" } else { "no" };
            out(format!("{volid:<64} {size:>12} {u}"))?;
        }
        return Ok(());
    }
    for (volid, _) in templates.iter().filter(|(v, _)| !used.contains(v)) {
        backend.remove_template(volid)?;
        out(format!("removed {volid}"))?;
    }
    Ok(())
}
