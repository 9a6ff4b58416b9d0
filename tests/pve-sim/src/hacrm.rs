//! `pve-sim ha-crm`: the stand-in for the HA stack's daemons (pve-ha-crm's master and every
//! node's pve-ha-lrm; pve-ha-manager src/PVE/HA/Manager.pm, LRM.pm, NodeStatus.pm), one loop
//! for the whole sim cluster.
//!
//! Each tick, under the HA domain lock and only while the cluster is quorate:
//! * a member in `api-faults.json`'s `offline` list is a failed node; once it has been offline
//!   for the fence delay (the knob file [`FENCE_DELAY_FILE`], seconds, default
//!   [`DEFAULT_FENCE_DELAY`]; Proxmox's is 60 s `node_is_offline_delayed` plus the dead node's
//!   watchdog expiry, about two minutes in all) each of its resources not `disabled`/`ignored`
//!   is recovered: its config file moves to the online member with the fewest resources
//!   (`steal_service` renames it in pmxcfs) and, if requested `started`, it is started there;
//! * on an online node the LRM's part: a `started` CT that is not running is started (also one
//!   that stopped by itself), a `stopped` one that runs is stopped.
//!
//! The loop writes `etc/pve/ha/manager_status` (`master_node`, `timestamp`, `node_status`,
//! `service_status`) and logs one line per action on stderr. The starts and stops are `pct`'s
//! with `PVE_SIM_HA_LRM=1`, which stands for the HA environment (`rpcenv->{type} eq 'ha'`):
//! they act directly instead of going through ha-manager.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::sim::Sim;
use crate::{cluster, ct, ha, store};

/// Under `$PVE_SIM_ROOT`: seconds a node must be offline before its resources are recovered.
pub const FENCE_DELAY_FILE: &str = "pve-sim-ha-fence-delay";
pub const DEFAULT_FENCE_DELAY: f64 = 3.0;
/// Set for the `pct` calls of the HA stack itself.
pub const LRM_ENV: &str = "PVE_SIM_HA_LRM";

const TICK: Duration = Duration::from_millis(500);

pub fn fence_delay(root: &Path) -> f64 {
    std::fs::read_to_string(root.join(FENCE_DELAY_FILE))
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|d| *d >= 0.0)
        .unwrap_or(DEFAULT_FENCE_DELAY)
}

fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs until killed.
pub fn main(args: &[String]) -> i32 {
    if !args.is_empty() {
        eprintln!("usage: pve-sim ha-crm");
        return 2;
    }
    let sim = Sim::from_env();
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return 2;
    }
    let pct = std::env::current_exe()
        .map(|e| e.with_file_name("pct"))
        .unwrap_or_else(|_| "pct".into());
    eprintln!(
        "pve-sim ha-crm: running (fence delay {} s)",
        fence_delay(&sim.root)
    );
    loop {
        tick(&sim, &pct);
        std::thread::sleep(TICK);
    }
}

/// One round of the CRM and the LRMs.
pub fn tick(sim: &Sim, pct: &Path) {
    let members = cluster::members(sim);
    if !cluster::quorate(sim, &members) {
        return;
    }
    let Ok(_lock) = ha::lock(sim) else { return };
    let now = now_f();
    let mut ms = ha::manager_status(sim);
    let online: Vec<&String> = members
        .iter()
        .filter(|n| !cluster::offline(&sim.root, n))
        .collect();
    let mut node_status = serde_json::Map::new();
    let mut since = ms["pve_sim_offline_since"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for n in &members {
        if cluster::offline(&sim.root, n) {
            since.entry(n.clone()).or_insert(json!(now));
            node_status.insert(n.clone(), json!("fence"));
        } else {
            since.remove(n);
            node_status.insert(n.clone(), json!("online"));
        }
    }
    let delay = fence_delay(&sim.root);
    let res = ha::read(sim);
    let mut load: BTreeMap<String, usize> = online.iter().map(|n| (n.to_string(), 0)).collect();
    let owners: BTreeMap<String, Option<String>> = res
        .keys()
        .map(|sid| (sid.clone(), store::owner_node(sim, vmid(sid))))
        .collect();
    for owner in owners.values().flatten() {
        if let Some(c) = load.get_mut(owner) {
            *c += 1;
        }
    }
    let mut service_status = serde_json::Map::new();
    for (sid, props) in &res {
        let req = match props.get("state").map(String::as_str) {
            None | Some("enabled") => "started",
            Some(s) => s,
        };
        let Some(owner) = owners[sid].clone() else {
            continue;
        };
        if req == "ignored" {
            continue;
        }
        let id = vmid(sid);
        if cluster::offline(&sim.root, &owner) {
            let down_for = now - since[&owner].as_f64().unwrap_or(now);
            let target = load
                .iter()
                .min_by_key(|(n, c)| (**c, (*n).clone()))
                .map(|(n, _)| n.clone());
            match target {
                Some(target) if req != "disabled" && down_for >= delay => {
                    if let Err(e) = steal(sim, id, &owner, &target) {
                        eprintln!("pve-sim ha-crm: recovering '{sid}': {e}");
                        service_status
                            .insert(sid.clone(), json!({"node": owner, "state": "fence"}));
                        continue;
                    }
                    eprintln!(
                        "pve-sim ha-crm: recover service '{sid}' from fenced node '{owner}' to node '{target}'"
                    );
                    *load.entry(target.clone()).or_default() += 1;
                    let running = req == "started" && lrm(pct, sim, &target, "start", id);
                    service_status.insert(
                        sid.clone(),
                        json!({"node": target, "state": if req == "started" { "started" } else { "stopped" }, "running": u8::from(running)}),
                    );
                }
                _ => {
                    service_status.insert(sid.clone(), json!({"node": owner, "state": "fence"}));
                }
            }
            continue;
        }
        let running = ct::is_running(sim, id);
        let locked = store_lock(sim, &owner, id);
        let running = match (req, running) {
            ("started", false) if !locked => lrm(pct, sim, &owner, "start", id),
            ("stopped" | "disabled", true) if !locked => !lrm(pct, sim, &owner, "stop", id),
            (_, r) => r,
        };
        let state = if req == "started" {
            "started"
        } else {
            "stopped"
        };
        service_status.insert(
            sid.clone(),
            json!({"node": owner, "state": state, "running": u8::from(running)}),
        );
    }
    ms["master_node"] = json!(online.first().map(|n| n.as_str()).unwrap_or(&sim.node));
    ms["timestamp"] = json!(now as i64);
    ms["node_status"] = serde_json::Value::Object(node_status);
    ms["service_status"] = serde_json::Value::Object(service_status);
    ms["pve_sim_offline_since"] = serde_json::Value::Object(since);
    ha::write_manager_status(sim, &ms);
}

fn vmid(sid: &str) -> u32 {
    sid.split_once(':')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// Whether the CT's config carries a `lock` (a create, a destroy, a migration in progress):
/// the LRM leaves such a CT alone.
fn store_lock(sim: &Sim, node: &str, vmid: u32) -> bool {
    let mut s = node_sim(sim, node);
    s.node = node.to_string();
    store::load_quiet(&s, vmid).is_ok_and(|(c, _)| c.lock().is_some())
}

fn node_sim(sim: &Sim, node: &str) -> Sim {
    let mut s = Sim::from_env();
    s.set_root(sim.root.clone());
    s.node = node.to_string();
    s
}

/// `steal_service`: move the config of a CT on a fenced node to `target` (under the CT's lock).
fn steal(sim: &Sim, vmid: u32, from: &str, target: &str) -> Result<(), String> {
    let s = node_sim(sim, target);
    let _l = store::lock(&s, vmid).map_err(|_| format!("CT {vmid}: config lock timeout"))?;
    let old = node_sim(sim, from).conf_path(vmid);
    let new = s.conf_path(vmid);
    std::fs::create_dir_all(s.conf_dir()).map_err(|e| e.to_string())?;
    std::fs::rename(&old, &new).map_err(|e| {
        format!(
            "rename '{}' to '{}' failed - {e}",
            old.display(),
            new.display()
        )
    })
}

/// The LRM starting or stopping CT `vmid` on `node`; true if it worked.
fn lrm(pct: &Path, sim: &Sim, node: &str, what: &str, vmid: u32) -> bool {
    let out = Command::new(pct)
        .args([what, &vmid.to_string()])
        .env("PVE_SIM_ROOT", &sim.root)
        .env("PVE_SIM_NODE", node)
        .env(LRM_ENV, "1")
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            eprintln!("pve-sim ha-crm: {what} CT {vmid} on node '{node}'");
            true
        }
        Ok(o) => {
            eprintln!(
                "pve-sim ha-crm: {what} CT {vmid} on node '{node}' failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("pve-sim ha-crm: {}: {e}", pct.display());
            false
        }
    }
}
