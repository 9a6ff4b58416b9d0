//! `pvesh get <path> --output-format json` on a sim node (pve-manager PVE/CLI/pvesh.pm): the
//! API's own handlers for the cluster-wide reads, called as `root@pam` without HTTP. The
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
    let (Some("get"), Some(path)) = (args.first().map(String::as_str), args.get(1)) else {
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
    let Some(get) = handler(&path) else {
        eprintln!("no 'get' handler for '{path}'");
        return 255;
    };
    if format != "json" && format != "json-pretty" {
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
    match get(&call) {
        Ok(reply) => {
            let text = if format == "json" {
                reply.data.to_string()
            } else {
                serde_json::to_string_pretty(&reply.data).unwrap_or_default()
            };
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{}", e.msg.trim_end());
            255
        }
    }
}
