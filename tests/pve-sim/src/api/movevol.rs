//! `POST /nodes/{node}/lxc/{vmid}/move_volume` with `target-vmid` (pve-container
//! src/PVE/API2/LXC.pm `move_volume`): the target CT's `VM.Config.Disk` (for a token) and the
//! storage's `Datastore.AllocateSpace` are checked and the reassign checks answer synchronously,
//! then a `move_volume` task runs the sim's `pct move-volume` (cmd/move_volume.rs).

use std::process::Command;

use super::reply::{ApiError, ApiResult};
use super::tasks::Work;
use super::Call;
use crate::cmd::move_volume;
use crate::fail::Failure;

pub fn move_volume(c: &Call) -> ApiResult {
    let sim = c.ctx.sim(c.node());
    let vmid = c.vmid();
    let key = c.get("volume").unwrap_or("").to_string();
    let Some(target) = c.get("target-vmid") else {
        let msg = if c.get("storage").is_some() {
            "pve-sim: moving a volume to another storage is not simulated"
        } else {
            "both 'storage' and 'target-vmid' missing, either needs to be set"
        };
        return Err(ApiError::die(msg));
    };
    if c.get("storage").is_some() {
        return Err(ApiError::die(
            "either set 'storage' or 'target-vmid', but not both",
        ));
    }
    let target: u32 = target
        .parse()
        .map_err(|_| ApiError::die(format!("invalid VMID '{target}'")))?;
    let tkey = c.get("target-volume").unwrap_or(&key).to_string();
    if !c.is_root() {
        c.acl()
            .check(&format!("/vms/{target}"), &["VM.Config.Disk"])?;
    }
    let volid = move_volume::check(&sim, vmid, &key, target, &tkey).map_err(|f| match f {
        Failure::Param { errors, .. } => ApiError::params(errors.into_iter().collect()),
        Failure::Die { msg, .. } | Failure::Task(msg) => ApiError::die(msg),
        Failure::Usage { msg, .. } => ApiError::new(400, msg),
    })?;
    let sid = volid.split(':').next().unwrap_or_default();
    c.acl()
        .check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
    let mut cmd = Command::new(&c.ctx.pct);
    cmd.args(["move-volume", &vmid.to_string(), &key])
        .args(["--target-vmid", &target.to_string()])
        .args(["--target-volume", &tkey]);
    c.task(Work::new(
        "move_volume",
        format!("{vmid}-{key}>{target}-{tkey}"),
        c.node(),
        cmd,
    ))
}
