//! `POST /nodes/{node}/vzdump` (pve-manager PVE/API2/VZDump.pm `vzdump`): a `vzdump` task that
//! runs the sim's `vzdump` binary, whose log lines become the task log (`TASK ERROR: job
//! errors` when the backup failed, as vzdump's own worker ends).

use std::process::Command;

use super::reply::{ApiError, ApiResult};
use super::tasks::Work;
use super::Call;

/// The user needs `VM.Backup` on the guest and `Datastore.AllocateSpace` on the storage;
/// `dumpdir` is for `root@pam` only.
pub fn create(c: &Call) -> ApiResult {
    let Some(vmid) = c.get("vmid") else {
        return Err(ApiError::die(
            "pve-sim: only backups of one 'vmid' are simulated",
        ));
    };
    if vmid.parse::<u32>().is_err() {
        return Err(ApiError::param(
            "vmid",
            "pve-sim: only one vmid is simulated",
        ));
    }
    if c.get("dumpdir").is_some() && !c.is_root() {
        return Err(ApiError::new(403, "Only root may set this option."));
    }
    if c.get("dumpdir").is_some() && c.get("storage").is_some() {
        return Err(ApiError::param(
            "storage",
            "option conflicts with option 'dumpdir'",
        ));
    }
    c.acl().check(&format!("/vms/{vmid}"), &["VM.Backup"])?;
    let storage = c.get("storage").unwrap_or("local");
    if c.get("dumpdir").is_none() {
        c.acl()
            .check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"])?;
    }
    let vzdump = c
        .ctx
        .pct
        .parent()
        .map_or_else(|| "vzdump".into(), |d| d.join("vzdump"));
    let mut cmd = Command::new(vzdump);
    cmd.arg(vmid);
    for k in ["storage", "mode", "compress", "dumpdir"] {
        if let Some(v) = c.get(k) {
            cmd.arg(format!("--{k}")).arg(v);
        }
    }
    c.task(Work::new("vzdump", vmid.to_string(), c.node(), cmd))
}
