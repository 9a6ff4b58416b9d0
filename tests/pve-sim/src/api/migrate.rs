//! `POST /nodes/{node}/lxc/{vmid}/migrate` (pve-container src/PVE/API2/LXC.pm `migrate_vm`):
//! the checks before the worker answer synchronously, then a `vzmigrate` task runs the sim's
//! `pct migrate` on the source node (`cmd/migrate.rs` holds both halves).

use std::process::Command;

use super::reply::{ApiError, ApiResult};
use super::tasks::Work;
use super::Call;
use crate::cmd::migrate::{precheck, Opts};
use crate::fail::Failure;

pub fn migrate(c: &Call) -> ApiResult {
    let sim = c.ctx.sim(c.node());
    let target = c.get("target").unwrap_or("");
    let o = Opts {
        restart: c.flag("restart"),
        online: c.flag("online"),
        timeout: c.get("timeout").and_then(|t| t.parse().ok()),
        target_storage: c.get("target-storage").map(str::to_string),
    };
    precheck(&sim, c.vmid(), target, &o).map_err(|f| match f {
        Failure::Param { errors, .. } => ApiError::params(errors.into_iter().collect()),
        Failure::Die { msg, .. } | Failure::Task(msg) => {
            // Configuration file errors read as the API's own (`nodes/<node>/lxc/...`).
            ApiError::die(msg)
        }
        Failure::Usage { msg, .. } => ApiError::new(400, msg),
    })?;
    let mut cmd = Command::new(&c.ctx.pct);
    cmd.args(["migrate", &c.vmid().to_string(), target]);
    for k in ["restart", "online", "timeout", "target-storage", "bwlimit"] {
        if let Some(v) = c.get(k) {
            cmd.arg(format!("--{k}")).arg(v);
        }
    }
    c.task(Work::new("vzmigrate", c.vmid().to_string(), c.node(), cmd))
}
