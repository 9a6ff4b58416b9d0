//! `/nodes/{node}/lxc…`: reads come from the config files and LXC, changes are `pct` runs,
//! as tasks (create, start, stop, shutdown, destroy) or synchronously (`PUT …/config`). The
//! synchronous pre-checks give the 500s Proxmox gives before forking a worker (pve-container
//! src/PVE/API2/LXC.pm and LXC/Status.pm).

use std::collections::BTreeMap;
use std::process::Command;

use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::propstr;
use proxmox_lxcri::pve::CtConfig;
use serde_json::{json, Value};

use super::reply::{subdirs, ApiError, ApiResult};
use super::tasks::Work;
use super::{ctinfo, ctperms, Call};
use crate::confview::{self, scalars, View};
use crate::{ct, store};

/// The config of the call's CT on the call's node, or Proxmox's error for a CT elsewhere.
fn load(c: &Call) -> Result<CtConfig, ApiError> {
    let sim = c.ctx.sim(c.node());
    store::load_quiet(&sim, c.vmid())
        .map(|(conf, _)| conf)
        .map_err(|_| {
            ApiError::die(format!(
                "Configuration file '{}' does not exist",
                sim.conf_name(c.vmid())
            ))
        })
}

fn running(c: &Call) -> bool {
    ct::is_running(&c.ctx.sim(c.node()), c.vmid())
}

/// `--key value` for every parameter but the path variables and `skip`.
fn pct_opts(c: &Call, skip: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for (k, val) in &c.p {
        if ["node", "vmid"].contains(&k.as_str()) || skip.contains(&k.as_str()) {
            continue;
        }
        v.push(format!("--{k}"));
        v.push(val.clone());
    }
    v
}

fn pct(c: &Call, args: &[String]) -> Command {
    let mut cmd = Command::new(&c.ctx.pct);
    cmd.args(args);
    cmd
}

fn task(c: &Call, worker_type: &'static str, cmd: Command) -> ApiResult {
    c.task(Work::new(worker_type, c.vmid().to_string(), c.node(), cmd))
}

/// `check_ct_modify_config_perm` (pve-container src/PVE/LXC.pm): only root@pam may use host paths
/// as volumes.
fn check_mount_perms(c: &Call) -> Result<(), ApiError> {
    if c.is_root() {
        return Ok(());
    }
    for (k, v) in &c.p {
        let fmt = match k.as_str() {
            "rootfs" => &ROOTFS_FORMAT,
            k if k.starts_with("mp") => &MP_FORMAT,
            k if k.starts_with("dev") => {
                return Err(ApiError::new(
                    403,
                    "Permission check failed (device passthrough is only allowed for root@pam)",
                ))
            }
            _ => continue,
        };
        let bind = fmt
            .parse(v)
            .ok()
            .and_then(|m| m.get("volume").cloned())
            .is_some_and(|vol| vol.starts_with('/'));
        if bind {
            return Err(ApiError::new(
                403,
                "Permission check failed (mount point type bind is only allowed for root@pam)",
            ));
        }
    }
    Ok(())
}

/// `skiplock` is root@pam's only.
fn check_skiplock(c: &Call) -> Result<(), ApiError> {
    if c.flag("skiplock") && !c.is_root() {
        return Err(ApiError::param(
            "skiplock",
            "Only root may use this option.",
        ));
    }
    Ok(())
}

/// Only CTs the caller may audit (`VM.Audit` on `/vms/<vmid>`).
pub fn list(c: &Call) -> ApiResult {
    let sim = c.ctx.sim(c.node());
    let list: Vec<Value> = ctinfo::cts(&sim)
        .into_iter()
        .filter(|(id, _)| c.acl().has(&format!("/vms/{id}"), "VM.Audit"))
        .map(|(id, conf)| Value::Object(ctinfo::vmstatus(&sim, id, &conf)))
        .collect();
    Ok(Value::Array(list).into())
}

pub fn index(c: &Call) -> ApiResult {
    load(c)?;
    subdirs(&[
        "config",
        "pending",
        "status",
        "vncproxy",
        "termproxy",
        "vncwebsocket",
        "spiceproxy",
        "migrate",
        "clone",
        "rrd",
        "rrddata",
        "firewall",
        "snapshot",
        "resize",
        "interfaces",
    ])
}

pub fn status_index(c: &Call) -> ApiResult {
    load(c)?;
    subdirs(&[
        "current", "start", "stop", "shutdown", "reboot", "suspend", "resume",
    ])
}

pub fn current(c: &Call) -> ApiResult {
    let conf = load(c)?;
    let mut st = ctinfo::vmstatus(&c.ctx.sim(c.node()), c.vmid(), &conf);
    st.insert(
        "ha".into(),
        crate::ha::service_status(&c.ctx.sim(c.node()), c.vmid()),
    );
    Ok(Value::Object(st).into())
}

/// `$check_and_activate_storage` for every volume, before the worker (pve-container
/// src/PVE/API2/LXC.pm `create_vm`): a volume's storage (`<storage>:<GiB>`, a bare size on
/// `storage`, default `local`), or `storage` itself when there is no rootfs, must exist and
/// hold CT volumes; the answer is then synchronous.
fn check_storages(c: &Call) -> Result<(), ApiError> {
    let sim = c.ctx.sim(c.node());
    let default = c.get("storage").unwrap_or("local");
    let is_mp =
        |k: &str| k.len() > 2 && k.starts_with("mp") && k[2..].bytes().all(|b| b.is_ascii_digit());
    let mut sids = Vec::new();
    let mut rootfs = false;
    for (k, v) in &c.p {
        let fmt = match k.as_str() {
            "rootfs" => &ROOTFS_FORMAT,
            _ if is_mp(k) => &MP_FORMAT,
            _ => continue,
        };
        rootfs |= k == "rootfs";
        let Ok(props) = fmt.parse(v) else { continue };
        let vol = &props["volume"];
        if propstr::is_number(vol) {
            sids.push(default.to_string());
        } else if !vol.starts_with('/') {
            let (sid, _) = crate::storage::parse_volume_id(vol).map_err(ApiError::die)?;
            sids.push(sid.to_string());
        }
    }
    if !rootfs {
        if c.p.keys().any(|k| is_mp(k)) {
            return Err(ApiError::die(
                "mount points configured, but 'rootfs' not set - aborting",
            ));
        }
        sids.push(default.to_string());
    }
    for sid in sids {
        let st = crate::storage::storage_config(&sim, &sid).map_err(ApiError::die)?;
        if !st.allows("rootdir") {
            return Err(ApiError::param(
                "storage",
                format!("storage '{sid}' does not support container directories"),
            ));
        }
    }
    Ok(())
}

pub fn create(c: &Call) -> ApiResult {
    let vmid = c.vmid();
    let node = c.node().to_string();
    // `create_vm`'s first step (pve-cluster src/PVE/Cluster.pm `check_cfs_quorum`).
    if !c.ctx.sim(&node).quorate() {
        return Err(ApiError::die(crate::cluster::NO_QUORUM));
    }
    let template = c.get("ostemplate").unwrap_or("");
    // In `create_vm`'s order: Sys.Modify, VMID unused, VM.Allocate and the options' privileges,
    // template access, then host paths and storages.
    // A privileged CT needs Sys.Modify on / (unprivileged is the API's default).
    if c.get("unprivileged") == Some("0") {
        c.acl().check("/", &["Sys.Modify"])?;
    }
    // Reserve the VMID under one lock, as `create_and_lock_config` does before forking: of
    // two concurrent creates exactly one gets a UPID.
    let mut creating = c.ctx.creating.lock().unwrap();
    let owner = creating
        .get(&vmid)
        .cloned()
        .or_else(|| store::owner_node(&c.ctx.sim(&node), vmid));
    if let Some(owner) = owner {
        return Err(ApiError::die(format!(
            "unable to create CT {vmid} - CT {vmid} already exists on node '{owner}'"
        )));
    }
    ctperms::create(c.acl(), &c.p)?;
    if template.starts_with('/') && !c.is_root() {
        return Err(ApiError::die(
            "Only root can pass arbitrary filesystem paths.",
        ));
    }
    check_mount_perms(c)?;
    check_storages(c)?;
    creating.insert(vmid, node.clone());
    drop(creating);

    let mut args = vec!["create".to_string(), vmid.to_string(), template.to_string()];
    let mut opts = pct_opts(c, &["ostemplate", "ssh-public-keys"]);
    // The API takes the keys' text, pct a file name.
    let keys_file = c.get("ssh-public-keys").map(|text| {
        let path = c.ctx.root.join(format!("var/tmp/ssh-keys-{vmid}"));
        let _ = std::fs::write(&path, text);
        path
    });
    if let Some(p) = &keys_file {
        opts.push("--ssh-public-keys".into());
        opts.push(p.to_string_lossy().into_owned());
    }
    args.append(&mut opts);
    let release: Box<dyn FnOnce() + Send> = {
        let ctx = c.ctx.clone();
        Box::new(move || {
            ctx.creating.lock().unwrap().remove(&vmid);
            if let Some(p) = keys_file {
                let _ = std::fs::remove_file(p);
            }
        })
    };
    let mut work = Work::new("vzcreate", vmid.to_string(), &node, pct(c, &args));
    work.on_done = Some(release);
    c.task(work)
}

pub fn start(c: &Call) -> ApiResult {
    check_skiplock(c)?;
    load(c)?;
    if running(c) {
        return Err(ApiError::die(format!("CT {} already running", c.vmid())));
    }
    if !c.ctx.sim(c.node()).quorate() {
        return Err(ApiError::die(crate::cluster::NO_QUORUM));
    }
    let mut args = vec!["start".to_string(), c.vmid().to_string()];
    args.extend(pct_opts(c, &[]));
    task(c, "vzstart", pct(c, &args))
}

pub fn stop(c: &Call, shutdown: bool) -> ApiResult {
    check_skiplock(c)?;
    load(c)?;
    if !running(c) {
        return Err(ApiError::die(format!("CT {} not running", c.vmid())));
    }
    let cmd = if shutdown { "shutdown" } else { "stop" };
    let mut args = vec![cmd.to_string(), c.vmid().to_string()];
    args.extend(pct_opts(c, &[]));
    task(
        c,
        if shutdown { "vzshutdown" } else { "vzstop" },
        pct(c, &args),
    )
}

pub fn destroy(c: &Call) -> ApiResult {
    let vmid = c.vmid();
    let conf = load(c)?;
    if conf.options.get("protection").is_some_and(|v| v == "1") {
        return Err(ApiError::die(format!(
            "can't remove CT {vmid} - protection mode enabled"
        )));
    }
    if let Some(l) = conf.lock() {
        return Err(ApiError::die(format!("CT is locked ({l})")));
    }
    if !c.flag("force") && running(c) {
        return Err(ApiError::die(format!(
            "unable to destroy CT {vmid} - container is running"
        )));
    }
    let mut args = vec!["destroy".to_string(), vmid.to_string()];
    args.extend(pct_opts(c, &[]));
    task(c, "vzdestroy", pct(c, &args))
}

/// SHA-1 of the raw config (`digest`), by coreutils: the sim has no SHA-1 dependency.
fn digest(c: &Call) -> String {
    let path = c.ctx.sim(c.node()).conf_path(c.vmid());
    Command::new("sha1sum")
        .arg(path)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub fn config(c: &Call) -> ApiResult {
    let conf = load(c)?;
    if c.get("snapshot").is_some() && c.flag("current") {
        return Err(ApiError::param(
            "current",
            "option conflicts with option 'snapshot'",
        ));
    }
    let View { keys, lxc } =
        confview::view(&conf, c.get("snapshot"), c.flag("current")).map_err(ApiError::die)?;
    let mut out = serde_json::Map::new();
    for (k, v) in &keys {
        out.insert(k.clone(), ctinfo::typed(k, v));
    }
    if !lxc.is_empty() {
        out.insert(
            "lxc".into(),
            json!(lxc.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()),
        );
    }
    out.insert("digest".into(), json!(digest(c)));
    Ok(Value::Object(out).into())
}

pub fn pending(c: &Call) -> ApiResult {
    let conf = load(c)?;
    let mut rows: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in scalars(&conf) {
        rows.insert(k.clone(), json!({"key": k, "value": ctinfo::typed(&k, &v)}));
    }
    for (k, v) in &conf.pending {
        let row = rows.entry(k.clone()).or_insert_with(|| json!({"key": k}));
        row["pending"] = ctinfo::typed(k, v);
    }
    for d in &conf.pending_delete {
        let (k, force) = match d.strip_prefix('!') {
            Some(k) => (k.to_string(), 2),
            None => (d.clone(), 1),
        };
        let row = rows.entry(k.clone()).or_insert_with(|| json!({"key": k}));
        row["delete"] = json!(force);
    }
    Ok(Value::Array(rows.into_values().collect()).into())
}

/// `PUT …/config`: `pct set`, synchronously; its parameter errors come back as 400s.
pub fn set(c: &Call) -> ApiResult {
    check_mount_perms(c)?;
    ctperms::set(c.acl(), &c.p)?;
    load(c)?;
    let mut args = vec!["set".to_string(), c.vmid().to_string()];
    args.extend(pct_opts(c, &[]));
    let mut cmd = pct(c, &args);
    let out = cmd
        .env("PVE_SIM_ROOT", &c.ctx.root)
        .env("PVE_SIM_NODE", c.node())
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        return Ok(Value::Null.into());
    }
    Err(pct_error(&String::from_utf8_lossy(&out.stderr)))
}

/// A failed synchronous `pct` run as an API error: `400 Parameter verification failed.` with
/// its `key: message` lines, another `400 …`, or a 500 with the message.
fn pct_error(stderr: &str) -> ApiError {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.first() {
        Some(&"400 Parameter verification failed.") => {
            let errors = lines[1..]
                .iter()
                .filter(|l| !l.starts_with("pct "))
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            ApiError::params(errors)
        }
        Some(l) if l.starts_with("400 ") => ApiError::new(400, &l[4..]),
        _ => ApiError::die(lines.join("\n")),
    }
}
