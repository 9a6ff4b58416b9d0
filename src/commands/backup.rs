//! `backup ID [--storage S] [--mode snapshot|suspend|stop]`: Proxmox's vzdump of the
//! container's CT, followed to its end; prints the archive's volid. The CT's `lock: backup`
//! keeps a concurrent delete from destroying it meanwhile (Proxmox refuses a locked CT), so
//! the container's own lock is not held for the backup's length.

use anyhow::anyhow;

use super::{out, Ctx};
use crate::cli::BackupArgs;

pub fn run(ctx: &Ctx, args: &BackupArgs) -> anyhow::Result<()> {
    let st = ctx.dir(&args.id)?.load()?;
    let vmid = st
        .vmid
        .ok_or_else(|| anyhow!("container {} has no CT", args.id))?;
    let storage = args.storage.as_deref().unwrap_or(&st.config.storage);
    let backend = ctx.backend(&st.config);
    let volid = backend
        .backup(vmid, storage, &args.mode)
        .map_err(|e| anyhow!("backup {} (CT {vmid}): {e}", args.id))?;
    out(volid)
}
