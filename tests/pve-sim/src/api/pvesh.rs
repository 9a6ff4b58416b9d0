//! `pvesh get <path> --output-format json` on a sim node (pve-manager PVE/CLI/pvesh.pm): the
//! API's own handlers for the cluster-wide reads, a CT's `status/current` and a node's storages, called as `root@pam` without HTTP. The
//! members are the sim root's node dirs (`crate::cluster::members`), the local node first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{cluster, network, perms, reply::ApiResult, Call, Ctx};
use crate::sim::Sim;

const USAGE: &str = "USAGE: pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]";

/// Paths `pvesh get` answers here.
fn handler(path: &str) -> Option<fn(&Call) -> ApiResult> {
    let path = path.trim_end_matches('/');
    if path.starts_with("/nodes/") && path.ends_with("/network") && path.matches('/').count() == 3 {
        return Some(network::node_network);
    }
    match path {
        "/cluster/status" => Some(cluster::status),
        "/cluster/resources" => Some(cluster::resources),
        "/nodes" => Some(cluster::nodes),
        "/cluster/sdn/vnets" => Some(network::sdn_vnets),
        _ => None,
    }
}

/// Runs `pvesh ARGS`; the exit status.
pub fn main(args: &[String]) -> i32 {
    let sim = Sim::from_env();
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return 255;
    }
    // `create`/`set`/`delete` go to the API's handlers by the schema's routes (the firewall's
    // paths); `get` to the cluster-wide reads above or the same routes.
    let method = match args.first().map(String::as_str) {
        Some("get") => "GET",
        Some("create") => "POST",
        Some("set") => "PUT",
        Some("delete") => "DELETE",
        _ => {
            eprintln!("{USAGE}");
            return 255;
        }
    };
    let Some(path) = args.get(1) else {
        eprintln!("{USAGE}");
        return 255;
    };
    let path = format!("/{}", path.trim_start_matches('/'));
    let mut params = BTreeMap::new();
    let mut format = "text".to_string();
    let mut it = args[2..].iter();
    while let Some(a) = it.next() {
        let Some(name) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            eprintln!("400 too many arguments\n{USAGE}");
            return 255;
        };
        if name == "noproxy" || name == "human-readable" || name == "noborder" || name == "noheader"
        {
            continue;
        }
        let Some(v) = it.next() else {
            eprintln!("400 unable to parse option\n{USAGE}");
            return 255;
        };
        match name {
            "output-format" => format = v.clone(),
            _ => {
                params.insert(name.to_string(), v.clone());
            }
        }
    }
    let routed = super::schema::route(method, &path);
    let get = match (method, handler(&path)) {
        ("GET", Some(get)) => Some(get),
        _ => None,
    };
    // The firewall's paths, a CT's status/current (`events` over ssh) and a node's storages
    // (`metrics` over ssh) go by the schema.
    let by_schema = |p: &str| {
        p.contains("/firewall")
            || p.ends_with("/lxc/{vmid}/status/current")
            || p == "/nodes/{node}/storage"
    };
    if get.is_none() && !routed.as_ref().is_some_and(|(e, _)| by_schema(&e.path)) {
        let verb = args[0].as_str();
        eprintln!("no '{verb}' handler for '{path}'");
        return 255;
    }
    if method == "GET" && format != "json" && format != "json-pretty" {
        eprintln!("pve-sim: pvesh --output-format {format} is not simulated (json, json-pretty)");
        return 255;
    }
    let ctx = Arc::new(Ctx {
        nodes: crate::cluster::members(&sim),
        local: sim.node.clone(),
        root: sim.root.clone(),
        tokens: Vec::new(),
        fingerprint: String::new(),
        auth_delay: Duration::ZERO,
        pct: std::env::current_exe()
            .map(|e| e.with_file_name("pct"))
            .unwrap_or_default(),
        self_exe: std::env::current_exe().unwrap_or_default(),
        creating: Mutex::new(BTreeMap::new()),
        acl: perms::Acl::all(),
    });
    // The node of a `/nodes/{node}/...` path is a parameter, as the API's router makes it.
    if let Some(node) = path
        .strip_prefix("/nodes/")
        .and_then(|r| r.split('/').next())
    {
        params.insert("node".into(), node.to_string());
    }
    let call = Call {
        ctx: &ctx,
        p: params,
        user: "root@pam".into(),
    };
    let result = match (get, routed) {
        (Some(get), _) => get(&call),
        (None, Some((entry, vars))) => {
            let mut p = call.p.clone();
            p.extend(vars);
            match super::schema::validate(entry, &p, &sim.version) {
                Ok(()) => {
                    let call = Call { p, ..call };
                    let full = entry.path.clone();
                    super::dispatch(method, &full, &call)
                }
                Err(e) => Err(e),
            }
        }
        (None, None) => unreachable!(),
    };
    match result {
        Ok(reply) if reply.data.is_null() => 0,
        Ok(reply) => {
            let text = if format == "json" {
                reply.data.to_string()
            } else {
                serde_json::to_string_pretty(&reply.data).unwrap_or_default()
            };
            println!("{text}");
            0
        }
        // pvesh prints a parameter exception as its status line and one line per parameter.
        Err(e) if !e.errors.is_empty() => {
            eprintln!("{} {}", e.code, e.msg.trim_end());
            for (k, m) in &e.errors {
                eprintln!("{k}: {}", m.trim_end());
            }
            255
        }
        Err(e) => {
            eprintln!("{}", e.msg.trim_end());
            255
        }
    }
}
