//! `restore ARCHIVE --bundle B ID`: a container like `create` makes, whose CT is restored from
//! a backup (Proxmox's restore: new volumes with the archive's sizes on `rootfs_storage`, the
//! archive's data, its config merged) instead of made from the bundle's rootfs. The bundle's
//! config.json still gives the process, mounts, limits and the CT's keys, which win over the
//! archive's; keys the bundle does not set keep the archive's values (docs/storage.md).

use std::os::unix::io::RawFd;

use anyhow::bail;

use super::Ctx;
use crate::backend::{backups, Backend};
use crate::cli::{CreateArgs, RestoreArgs};
use crate::config::Config;

pub fn run(ctx: &Ctx, args: &RestoreArgs, log_fd: Option<RawFd>) -> anyhow::Result<()> {
    let create = CreateArgs {
        bundle: args.bundle.clone(),
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        id: args.id.clone(),
    };
    super::create::run_from(ctx, &create, log_fd, Some(&args.archive))
}

/// The archive is a CT backup on the node's storage; checked before anything is made.
pub fn check_archive(backend: &dyn Backend, cfg: &Config, archive: &str) -> anyhow::Result<()> {
    let Some(b) = backups::from_volid(archive, 0) else {
        bail!("archive {archive}: not a CT backup's volume ID (<storage>:backup/vzdump-lxc-...)");
    };
    let storage = backups::storage_of(&b.volid).unwrap_or_default();
    let found = backend.backups(storage)?.iter().any(|x| x.volid == archive);
    if !found {
        bail!(
            "archive {archive}: no such backup on node {}",
            cfg.node_name()
        );
    }
    Ok(())
}
