//! The HA stack's configuration: `etc/pve/ha/resources.cfg` (Proxmox's section-config format,
//! pve-ha-manager src/PVE/HA/Resources.pm), `etc/pve/ha/manager_status` (the CRM's JSON) and
//! the resource operations `ha-manager` and the API share (src/PVE/API2/HA/Resources.pm,
//! src/PVE/HA/Config.pm). Only CTs (`ct:<vmid>`) are resources here.
//!
//! Groups and rules by release: pve-ha-manager 4.x (Proxmox VE 8) keeps HA groups and a
//! resource's `group`; 5.x (Proxmox VE 9) migrates groups to node-affinity rules, and once no
//! group is left (`have_groups_been_migrated`: `groups.cfg` missing or empty) a `group`
//! parameter is refused. The sim keeps no `groups.cfg` of its own, so on 9.x `group` is refused
//! unless a test wrote one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::sim::Sim;

/// The options of a `ct` resource (src/PVE/HA/Resources/PVECT.pm `options`).
pub const OPTIONS: &[&str] = &[
    "state",
    "group",
    "comment",
    "failback",
    "max_restart",
    "max_relocate",
];

pub const STATES: &[&str] = &["started", "stopped", "enabled", "disabled", "ignored"];

/// One resource's properties (without `type`), by sid (`ct:100`), in file order.
pub type Resources = BTreeMap<String, BTreeMap<String, String>>;

pub fn ha_dir(sim: &Sim) -> PathBuf {
    sim.pve_dir().join("ha")
}

pub fn resources_path(sim: &Sim) -> PathBuf {
    ha_dir(sim).join("resources.cfg")
}

pub fn manager_status_path(sim: &Sim) -> PathBuf {
    ha_dir(sim).join("manager_status")
}

/// Parses `resources.cfg`: `ct: 100` headers, tab-indented `key value` lines, blank lines
/// between sections. Sections of other types are skipped.
pub fn parse(text: &str) -> Resources {
    let mut out = Resources::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            current = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(sid) = &current {
                let mut kv = line.trim().splitn(2, char::is_whitespace);
                let k = kv.next().unwrap_or("");
                let v = kv.next().unwrap_or("").trim();
                if let Some(props) = out.get_mut(sid) {
                    props.insert(k.to_string(), v.to_string());
                }
            }
            continue;
        }
        current = None;
        if let Some((ty, name)) = line.split_once(':') {
            let (ty, name) = (ty.trim().to_lowercase(), name.trim());
            if ty == "ct" && valid_vmid(name) {
                let sid = format!("ct:{name}");
                out.insert(sid.clone(), BTreeMap::new());
                current = Some(sid);
            }
        }
    }
    out
}

/// Writes `resources.cfg` as SectionConfig's `write_config` does.
pub fn format(res: &Resources) -> String {
    let mut s = String::new();
    for (sid, props) in res {
        let name = sid.split_once(':').map(|(_, n)| n).unwrap_or(sid);
        s.push_str(&format!("ct: {name}\n"));
        for (k, v) in props {
            s.push_str(&format!("\t{k} {v}\n"));
        }
        s.push('\n');
    }
    s
}

/// `verify_name` of PVECT: `^[1-9][0-9]+$`.
fn valid_vmid(name: &str) -> bool {
    name.len() >= 2 && name.bytes().all(|b| b.is_ascii_digit()) && !name.starts_with('0')
}

pub fn read(sim: &Sim) -> Resources {
    fs::read_to_string(resources_path(sim))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

fn write(sim: &Sim, res: &Resources) -> Result<(), String> {
    let path = resources_path(sim);
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    fs::create_dir_all(ha_dir(sim)).map_err(|e| e.to_string())?;
    fs::write(&tmp, format(res))
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| format!("unable to write '{}' - {e}", path.display()))
}

/// The HA domain lock (`lock_ha_domain`, a pmxcfs lock); held until dropped.
pub struct DomainLock(#[allow(dead_code)] File);

pub fn lock(sim: &Sim) -> Result<DomainLock, String> {
    fs::create_dir_all(ha_dir(sim)).map_err(|e| e.to_string())?;
    let path = ha_dir(sim).join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(DomainLock(f));
        }
        if Instant::now() > deadline {
            return Err("cfs-lock 'domain-ha' error: got lock request timeout".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether HA groups were migrated to rules: always on a 5.x stack (Proxmox VE 9) without a
/// non-empty `groups.cfg`; never on 4.x (Proxmox VE 8), which has no rules.
pub fn groups_migrated(sim: &Sim) -> bool {
    if sim.version.manager[0] < 9 {
        return false;
    }
    fs::read_to_string(ha_dir(sim).join("groups.cfg"))
        .map(|t| !t.lines().any(|l| l.starts_with("group:")))
        .unwrap_or(true)
}

/// `parse_sid`: `ct:100`, or a bare VMID looked up in the cluster.
pub fn parse_sid(sim: &Sim, sid: &str) -> Result<String, String> {
    if sid.bytes().all(|b| b.is_ascii_digit()) && !sid.is_empty() {
        let vmid: u32 = sid
            .parse()
            .map_err(|_| format!("unable to parse service id '{sid}'"))?;
        if crate::store::owner_node(sim, vmid).is_none() {
            return Err(format!(
                "unable to detect SID from VMID - VM/CT {sid} does not exist"
            ));
        }
        return Ok(format!("ct:{sid}"));
    }
    match sid.split_once(':') {
        Some((ty, name)) if !ty.is_empty() && !name.is_empty() && !sid.contains(' ') => {
            if ty != "ct" && ty != "vm" {
                return Err(format!("no such resource type '{ty}'"));
            }
            Ok(sid.to_string())
        }
        _ => Err(format!("unable to parse service id '{sid}'")),
    }
}

fn vmid_of(sid: &str) -> u32 {
    sid.split_once(':')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// Checks a resource's options as `check_config` does (known option, state enum, integers).
fn check_opts(opts: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in opts {
        if !OPTIONS.contains(&k.as_str()) {
            return Err(format!("{k}: property is not defined in schema and the schema does not allow additional properties"));
        }
        match k.as_str() {
            "state" if !STATES.contains(&v.as_str()) => {
                return Err(format!(
                    "state: value '{v}' does not have a value in the enumeration '{}'",
                    STATES.join(", ")
                ))
            }
            "max_restart" | "max_relocate" if v.parse::<u32>().is_err() => {
                return Err(format!("{k}: type check ('integer') failed - got '{v}'"))
            }
            "failback" if v != "0" && v != "1" => {
                return Err(format!("{k}: type check ('boolean') failed - got '{v}'"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `ha-manager add` / `POST /cluster/ha/resources`.
pub fn add(sim: &Sim, sid: &str, opts: &BTreeMap<String, String>) -> Result<(), String> {
    if !sim.quorate() {
        return Err(crate::cluster::NO_QUORUM.into());
    }
    let sid = parse_sid(sim, sid)?;
    let (ty, name) = sid.split_once(':').unwrap_or(("", ""));
    if ty != "ct" {
        return Err(format!(
            "pve-sim: HA resources of type '{ty}' are not simulated"
        ));
    }
    if opts.contains_key("group") && groups_migrated(sim) {
        return Err("invalid parameter 'group': ha groups have been migrated to rules".into());
    }
    if !valid_vmid(name) {
        return Err("invalid VMID".into());
    }
    let vmid = vmid_of(&sid);
    if crate::store::owner_node(sim, vmid).is_none() {
        return Err(format!("resource '{sid}' does not exist in cluster"));
    }
    check_opts(opts)?;
    let _l = lock(sim)?;
    let mut res = read(sim);
    if res.contains_key(&sid) {
        return Err(format!(
            "create resource failed: resource ID '{sid}' already defined"
        ));
    }
    res.insert(sid, opts.clone());
    write(sim, &res).map_err(|e| format!("create resource failed: {e}"))
}

/// `ha-manager set` / `PUT /cluster/ha/resources/{sid}` (`delete` names options to drop).
pub fn set(
    sim: &Sim,
    sid: &str,
    opts: &BTreeMap<String, String>,
    delete: &[String],
) -> Result<(), String> {
    let sid = parse_sid(sim, sid)?;
    if opts.contains_key("group") && groups_migrated(sim) {
        return Err("invalid parameter 'group': ha groups have been migrated to rules".into());
    }
    check_opts(opts)?;
    let _l = lock(sim)?;
    let mut res = read(sim);
    let Some(props) = res.get_mut(&sid) else {
        return Err(format!(
            "update resources config failed: no such resource '{sid}'"
        ));
    };
    for (k, v) in opts {
        props.insert(k.clone(), v.clone());
    }
    for k in delete {
        if !OPTIONS.contains(&k.as_str()) {
            return Err(format!(
                "update resources config failed: no such option '{k}'"
            ));
        }
        props.remove(k);
    }
    write(sim, &res).map_err(|e| format!("update resources config failed: {e}"))
}

/// `ha-manager remove` / `DELETE /cluster/ha/resources/{sid}`.
pub fn remove(sim: &Sim, sid: &str) -> Result<(), String> {
    let sid = parse_sid(sim, sid)?;
    let _l = lock(sim)?;
    let mut res = read(sim);
    if res.remove(&sid).is_none() {
        return Err(format!("cannot delete service '{sid}', not HA managed!"));
    }
    write(sim, &res).map_err(|e| format!("delete resource failed: {e}"))
}

/// Removes a CT's resource if there is one (`delete_service_from_config`, graceful), as a
/// purging destroy does.
pub fn purge(sim: &Sim, vmid: u32) -> bool {
    let sid = format!("ct:{vmid}");
    let Ok(_l) = lock(sim) else { return false };
    let mut res = read(sim);
    let had = res.remove(&sid).is_some();
    if had {
        let _ = write(sim, &res);
    }
    had
}

/// The requested state of CT `vmid` if it is HA managed (`vm_is_ha_managed`: configured and
/// not `ignored`); `enabled` reads as `started`.
pub fn managed_state(sim: &Sim, vmid: u32) -> Option<String> {
    let res = read(sim);
    let props = res.get(&format!("ct:{vmid}"))?;
    let state = match props.get("state").map(String::as_str) {
        None | Some("enabled") => "started",
        Some(s) => s,
    };
    (state != "ignored").then(|| state.to_string())
}

/// Whether CT `vmid` has a resource at all (`service_is_configured`, `ignored` included).
pub fn configured(sim: &Sim, vmid: u32) -> bool {
    read(sim).contains_key(&format!("ct:{vmid}"))
}

/// Sets the requested state of a configured resource (what the CRM does for `crm-command stop`
/// and the `hastart` task for `pct start`).
pub fn request_state(sim: &Sim, vmid: u32, state: &str) -> Result<(), String> {
    let opts = BTreeMap::from([("state".to_string(), state.to_string())]);
    set(sim, &format!("ct:{vmid}"), &opts, &[])
}

/// `vm_start`/`vm_stop` of an HA-managed CT from outside the HA stack (pve-container
/// src/PVE/API2/LXC/Status.pm): a `hastart`/`hastop` task that only asks ha-manager (`set
/// --state started`, `crm-command stop`, which the CRM turns into `stopped`); the LRM
/// (`pve-sim ha-crm`) acts later. `None` when the CT is not HA managed or the caller is the
/// HA stack itself.
pub fn delegate(sim: &Sim, vmid: u32, what: &str) -> Option<Result<(), String>> {
    if std::env::var_os(crate::hacrm::LRM_ENV).is_some() {
        return None;
    }
    managed_state(sim, vmid)?;
    println!("Requesting HA {what} for CT {vmid}");
    let state = if what == "start" {
        "started"
    } else {
        "stopped"
    };
    Some(request_state(sim, vmid, state))
}

/// `get_service_status` for a CT's `status/current`: `{"managed": 0}`, or managed with the
/// CRM's state of it.
pub fn service_status(sim: &Sim, vmid: u32) -> serde_json::Value {
    let sid = format!("ct:{vmid}");
    if managed_state(sim, vmid).is_none() {
        return serde_json::json!({"managed": 0});
    }
    let mut v = serde_json::json!({"managed": 1});
    if let Some(st) = manager_status(sim)["service_status"][&sid]["state"].as_str() {
        v["state"] = serde_json::json!(st);
    }
    v
}

/// `GET /cluster/ha/resources` entries (`index`): the sid, type, digest and properties.
pub fn index(sim: &Sim) -> Vec<serde_json::Value> {
    let raw = fs::read(resources_path(sim)).unwrap_or_default();
    let digest = sha1_hex(&raw);
    read(sim)
        .into_iter()
        .map(|(sid, props)| {
            let mut v = serde_json::json!({"sid": sid, "type": "ct", "digest": digest});
            for (k, val) in props {
                v[k.as_str()] = match val.parse::<i64>() {
                    Ok(n) if k != "comment" && k != "group" => serde_json::json!(n),
                    _ => serde_json::json!(val),
                };
            }
            v
        })
        .collect()
}

fn sha1_hex(data: &[u8]) -> String {
    use sha2::Digest;
    // SectionConfig's digest is a SHA-1; the sim's only has to change with the file.
    let d = sha2::Sha256::digest(data);
    d.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// The CRM's `manager_status` (JSON; empty when no CRM ever ran).
pub fn manager_status(sim: &Sim) -> serde_json::Value {
    fs::read(manager_status_path(sim))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

pub fn write_manager_status(sim: &Sim, v: &serde_json::Value) {
    let path = manager_status_path(sim);
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let _ = fs::create_dir_all(ha_dir(sim));
    if fs::write(&tmp, v.to_string()).is_ok() {
        let _ = fs::rename(&tmp, &path);
    }
}

/// `GET /cluster/ha/status/current` (src/PVE/API2/HA/Status.pm `status`): quorum, master,
/// one `lrm:<node>` per node the CRM knows, one `service:<sid>` per resource.
pub fn status_current(sim: &Sim, members: &[String], now: i64) -> Vec<serde_json::Value> {
    use serde_json::json;
    let quorate = crate::cluster::quorate(sim, members);
    let mut out = vec![json!({
        "id": "quorum", "type": "quorum", "node": sim.node,
        "status": if quorate { "OK".to_string() } else { format!("No quorum on node '{}'!", sim.node) },
        "quorate": u8::from(quorate),
    })];
    let ms = manager_status(sim);
    let res = read(sim);
    let ts = ms["timestamp"].as_i64();
    if let (Some(master), Some(ts)) = (ms["master_node"].as_str(), ts) {
        let mut st = alive(now, ts);
        if quorate && st != "active" && res.is_empty() {
            st = "idle";
        }
        out.push(json!({"id": "master", "type": "master", "node": master,
            "status": format!("{master} ({st}, {})", ctime(ts)), "timestamp": ts}));
    }
    if let Some(ns) = ms["node_status"].as_object() {
        for (node, _) in ns {
            let st = match ts {
                Some(ts) if !crate::cluster::offline(&sim.root, node) => alive(now, ts),
                _ => "old timestamp - dead?",
            };
            out.push(
                json!({"id": format!("lrm:{node}"), "type": "lrm", "node": node,
                "status": format!("{node} ({st})")}),
            );
        }
    }
    for (sid, props) in &res {
        let ss = &ms["service_status"][sid];
        let node = ss["node"]
            .as_str()
            .map(str::to_string)
            .or_else(|| crate::store::owner_node(sim, vmid_of(sid)))
            .unwrap_or_else(|| "---".into());
        let req = props.get("state").map(String::as_str).unwrap_or("started");
        let req = if req == "enabled" { "started" } else { req };
        let state = match ss["state"].as_str() {
            _ if req == "ignored" => "ignored".to_string(),
            None => "queued".to_string(),
            Some("stopped") if req == "started" => "starting".to_string(),
            Some("started") if req == "stopped" || req == "disabled" => "stopping".to_string(),
            Some(s) => s.to_string(),
        };
        let mut v = json!({"id": format!("service:{sid}"), "type": "service", "sid": sid,
            "node": node, "state": state, "request_state": req,
            "status": format!("{sid} ({node}, {state})")});
        if let Some(cs) = ss["state"].as_str() {
            v["crm_state"] = json!(cs);
        }
        for k in [
            "group",
            "max_restart",
            "max_relocate",
            "failback",
            "comment",
        ] {
            if let Some(val) = props.get(k) {
                v[k] = json!(val);
            }
        }
        out.push(v);
    }
    out
}

/// `$timestamp_to_status`: older than 30 s is dead.
fn alive(now: i64, ts: i64) -> &'static str {
    let d = now - ts;
    if d > 30 {
        "old timestamp - dead?"
    } else if d < -2 {
        "detected time drift!"
    } else {
        "active"
    }
}

/// Perl's scalar `localtime` (UTC here).
fn ctime(ts: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{ts}"), "+%a %b %e %H:%M:%S %Y"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_config_round_trip() {
        let text = "ct: 100\n\tgroup prod\n\tstate started\n\nvm: 200\n\tstate stopped\n\nct: 101\n\tcomment a b\n\n";
        let r = parse(text);
        assert_eq!(r.len(), 2, "the vm section is skipped");
        assert_eq!(r["ct:100"]["group"], "prod");
        assert_eq!(r["ct:101"]["comment"], "a b");
        assert_eq!(
            format(&r),
            "ct: 100\n\tgroup prod\n\tstate started\n\nct: 101\n\tcomment a b\n\n"
        );
        assert_eq!(parse(&format(&r)), r);
    }

    #[test]
    fn names_and_options_are_checked() {
        assert!(valid_vmid("100") && !valid_vmid("0100") && !valid_vmid("1"));
        let bad = BTreeMap::from([("state".to_string(), "running".to_string())]);
        assert!(check_opts(&bad)
            .unwrap_err()
            .starts_with("state: value 'running'"));
        let unknown = BTreeMap::from([("node".to_string(), "n1".to_string())]);
        assert!(check_opts(&unknown).is_err());
    }
}
