//! Cluster-wide calls: `/version`, `/nodes`, `/cluster/status`, `/cluster/resources`,
//! `/cluster/nextid`. Every `--nodes` name is a cluster member; the first is the local node.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::reply::{ApiError, ApiResult};
use super::{ctinfo, storage, Call};
use crate::{host, store};

/// `GET /version` and `GET /nodes/{node}/version`: pve-manager's `version_info` of the node's
/// release (`PVE_SIM_VERSION`).
pub fn version(c: &Call) -> ApiResult {
    let v = c.ctx.sim(c.node()).version;
    Ok(json!({"version": v.version(), "release": v.release(), "repoid": v.repoid()}).into())
}

/// `GET /nodes/{node}/apt/versions` (pve-manager PVE/API2/APT.pm `versions`): proxmox-ve and
/// pve-manager first with the running kernel / manager version, then the others by name.
pub fn apt_versions(c: &Call) -> ApiResult {
    let v = c.ctx.sim(c.node()).version;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let pkg = |name: &str, version: &str, title: &str| {
        json!({
            "Package": name,
            "Title": title,
            "Version": version,
            "OldVersion": version,
            "CurrentState": "Installed",
            "Arch": "all",
            "Origin": "Proxmox",
            "Priority": "optional",
            "Section": "admin",
        })
    };
    let mut ve = pkg("proxmox-ve", v.proxmox_ve, "Proxmox Virtual Environment");
    ve["RunningKernel"] = json!(kernel);
    let mut manager = pkg(
        "pve-manager",
        &v.version(),
        "Proxmox Virtual Environment Management Tools",
    );
    manager["ManagerVersion"] = json!(format!("{}/{}", v.version(), v.repoid()));
    Ok(json!([
        ve,
        manager,
        pkg("lxc-pve", v.lxc_pve, "Linux containers userspace tools"),
        pkg("lxcfs", v.lxcfs, "FUSE based filesystem for LXC"),
        pkg(
            "pve-container",
            &v.container_version(),
            "Proxmox VE Container management tool"
        ),
    ])
    .into())
}

fn node_entry(c: &Call, node: &str) -> Value {
    let online = !c.ctx.faults().offline(node);
    let mut v = json!({
        "node": node,
        "id": format!("node/{node}"),
        "type": "node",
        "status": if online { "online" } else { "offline" },
        "level": "",
        "ssl_fingerprint": c.ctx.fingerprint,
    });
    // Load figures only for callers with Sys.Audit on the node (pve-manager
    // PVE/API2/Nodes.pm `index`, PVE/API2Tools.pm `extract_node_stats`).
    if online && c.acl().has(&format!("/nodes/{node}"), "Sys.Audit") {
        let (mem, maxmem) = host::mem();
        let load: f64 = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let cpus = host::cpus();
        v["cpu"] = json!((load / cpus as f64).min(1.0));
        v["maxcpu"] = json!(cpus);
        v["mem"] = json!(mem);
        v["maxmem"] = json!(maxmem);
        v["uptime"] = json!(host::uptime());
    }
    v
}

pub fn nodes(c: &Call) -> ApiResult {
    let list: Vec<Value> = c.ctx.nodes.iter().map(|n| node_entry(c, n)).collect();
    Ok(Value::Array(list).into())
}

pub fn status(c: &Call) -> ApiResult {
    let ctx = c.ctx;
    let node = |i: usize, n: &String| {
        json!({
            "type": "node", "id": format!("node/{n}"), "name": n,
            "nodeid": if ctx.nodes.len() > 1 { i + 1 } else { 0 },
            "local": u8::from(*n == ctx.local),
            "online": u8::from(!ctx.faults().offline(n)),
            "ip": crate::cluster::address(i), "level": "",
        })
    };
    let mut out: Vec<Value> = ctx
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| node(i, n))
        .collect();
    if ctx.nodes.len() > 1 {
        let quorate = crate::cluster::quorate(&ctx.sim(&ctx.nodes[0]), &ctx.nodes);
        out.insert(
            0,
            json!({"type": "cluster", "id": "cluster", "name": crate::cluster::CLUSTER_NAME, "nodes": ctx.nodes.len(),
                   "version": 1, "quorate": u8::from(quorate)}),
        );
    }
    Ok(Value::Array(out).into())
}

pub fn resources(c: &Call) -> ApiResult {
    let want = c.get("type");
    let mut out = Vec::new();
    for node in &c.ctx.nodes {
        let offline = c.ctx.faults().offline(node);
        if want.is_none() || want == Some("vm") {
            let sim = c.ctx.sim(node);
            for (vmid, conf) in ctinfo::cts(&sim) {
                // Guests the caller may not audit are left out (pve-manager Cluster.pm).
                if !c.acl().has(&format!("/vms/{vmid}"), "VM.Audit") {
                    continue;
                }
                let mut st = ctinfo::vmstatus(&sim, vmid, &conf);
                let mut v = json!({
                    "id": format!("lxc/{vmid}"), "type": "lxc", "vmid": vmid, "node": node,
                    "template": 0,
                });
                for k in [
                    "name",
                    "status",
                    "tags",
                    "lock",
                    "template",
                    "maxmem",
                    "maxdisk",
                    "mem",
                    "disk",
                    "cpu",
                    "uptime",
                    "netin",
                    "netout",
                    "diskread",
                    "diskwrite",
                ] {
                    if let Some(x) = st.remove(k) {
                        v[k] = x;
                    }
                }
                v["maxcpu"] = st.remove("cpus").unwrap_or(json!(1));
                if offline {
                    v["status"] = json!("unknown");
                }
                out.push(v);
            }
        }
        if want.is_none() || want == Some("node") {
            let mut v = node_entry(c, node);
            v["level"] = json!("");
            out.push(v);
        }
        if want.is_none() || want == Some("storage") {
            for mut v in storage::status_entries(c.ctx, node)? {
                v["id"] = json!(format!(
                    "storage/{node}/{}",
                    v["storage"].as_str().unwrap_or("")
                ));
                v["node"] = json!(node);
                v["type"] = json!("storage");
                v["status"] = json!(if offline { "unknown" } else { "available" });
                out.push(v);
            }
        }
    }
    Ok(Value::Array(out).into())
}

/// `next-id: lower=…,upper=…` from `etc/pve/datacenter.cfg`; `[100, 1000000)` by default.
fn id_range(c: &Call) -> (u32, u32) {
    let mut range = (100, 1_000_000);
    let text =
        std::fs::read_to_string(c.ctx.root.join("etc/pve/datacenter.cfg")).unwrap_or_default();
    if let Some(spec) = text.lines().find_map(|l| l.strip_prefix("next-id:")) {
        for kv in spec.trim().split(',') {
            match kv.split_once('=') {
                Some(("lower", v)) => range.0 = v.parse().unwrap_or(range.0),
                Some(("upper", v)) => range.1 = v.parse().unwrap_or(range.1),
                _ => {}
            }
        }
    }
    range
}

/// VMIDs in use anywhere in the cluster, with pending creates.
pub fn used_ids(c: &Call) -> BTreeMap<u32, String> {
    let mut used = c.ctx.creating.lock().unwrap().clone();
    for node in &c.ctx.nodes {
        for id in store::list(&c.ctx.sim(node)) {
            used.insert(id, node.clone());
        }
    }
    used
}

/// The first free VMID, as a string (Perl returns it as one).
pub fn nextid(c: &Call) -> ApiResult {
    let used = used_ids(c);
    if let Some(v) = c.get("vmid") {
        let id: u32 = v.parse().unwrap_or(0);
        // Any config dir counts, also of nodes not in --nodes.
        if used.contains_key(&id) || store::owner_node(&c.ctx.sim(c.node()), id).is_some() {
            return Err(ApiError::param("vmid", format!("VM {id} already exists")));
        }
        return Ok(json!(v).into());
    }
    let (lower, upper) = id_range(c);
    (lower..upper)
        .find(|id| !used.contains_key(id))
        .map(|id| json!(id.to_string()).into())
        .ok_or_else(|| {
            ApiError::die(format!(
                "unable to get any free VMID in range [{lower}, {upper}]"
            ))
        })
}
