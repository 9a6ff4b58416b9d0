//! `/nodes/{node}/tasks…`: task list, status, log paging, stop (pve-manager PVE/API2/Tasks.pm).

use serde_json::json;

use super::reply::ApiResult;
use super::{tasks, Call};

fn upid(c: &Call) -> Result<proxmox_lxcri::pve::Upid, super::reply::ApiError> {
    tasks::find(c.ctx, c.node(), c.get("upid").unwrap_or(""))
}

/// Another user's (or token's) task needs `privilege` on `/nodes/<node>` (pve-manager
/// PVE/API2/Tasks.pm: Sys.Audit to read, Sys.Modify to stop).
fn check_owner(
    c: &Call,
    u: &proxmox_lxcri::pve::Upid,
    privilege: &str,
) -> Result<(), super::reply::ApiError> {
    if u.user == c.user {
        return Ok(());
    }
    c.acl().check(&format!("/nodes/{}", c.node()), &[privilege])
}

pub fn list(c: &Call) -> ApiResult {
    Ok(tasks::list(c.ctx, c.node(), &c.p).into())
}

pub fn index(c: &Call) -> ApiResult {
    upid(c)?;
    Ok(json!([{"name": "log"}, {"name": "status"}]).into())
}

pub fn status(c: &Call) -> ApiResult {
    let u = upid(c)?;
    check_owner(c, &u, "Sys.Audit")?;
    Ok(tasks::status(c.ctx, &u).into())
}

pub fn log(c: &Call) -> ApiResult {
    let u = upid(c)?;
    check_owner(c, &u, "Sys.Audit")?;
    let num = |k: &str, d: usize| c.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (lines, total) = tasks::log(c.ctx, &u, num("start", 0), num("limit", 50));
    let mut reply: super::reply::Reply = lines.into();
    reply.extra.push(("total", json!(total)));
    Ok(reply)
}

pub fn stop(c: &Call) -> ApiResult {
    let u = upid(c)?;
    check_owner(c, &u, "Sys.Modify")?;
    tasks::stop(c.ctx, &u);
    Ok(serde_json::Value::Null.into())
}
