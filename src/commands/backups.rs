//! `backups [--storage S] [--prune --keep-last N]`: the CT backups on the configured node's
//! storage (`storage`, or --storage) whose VMID is in the runtime's `vmid_range`, the CTs this
//! runtime makes; `--prune` removes all but each CT's N newest, as Proxmox's `keep-last`
//! counts (pve-storage src/PVE/Storage.pm `prune_mark_backup_group`).

use anyhow::bail;

use super::{out, Ctx};
use crate::backend::backups;
use crate::cli::BackupsArgs;

pub fn run(ctx: &Ctx, args: &BackupsArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    let storage = args.storage.clone().unwrap_or_else(|| cfg.storage.clone());
    if args.keep_last.is_some() != args.prune {
        bail!("backups: --prune and --keep-last N go together");
    }
    let backend = ctx.backend(&cfg);
    let [lo, hi] = cfg.vmid_range;
    let ours: Vec<backups::Backup> = backend
        .backups(&storage)?
        .into_iter()
        .filter(|b| (lo..=hi).contains(&b.vmid))
        .collect();
    let Some(keep) = args.keep_last else {
        out(format!("{:<72} {:>10} {:>12}", "VOLID", "VMID", "SIZE"))?;
        for b in &ours {
            out(format!("{:<72} {:>10} {:>12}", b.volid, b.vmid, b.size))?;
        }
        return Ok(());
    };
    for b in backups::prune(&ours, keep) {
        backend.remove_backup(&b.volid)?;
        out(format!("removed {}", b.volid))?;
    }
    Ok(())
}
