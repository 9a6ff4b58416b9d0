//! `ha-manager`'s command line (pve-ha-manager src/PVE/CLI/ha_manager.pm): the subset the
//! runtime and the tests use. Errors are Proxmox's texts; the binary prints them and exits 255.

use std::collections::BTreeMap;

use crate::ha;
use crate::sim::Sim;

const USAGE: &str = "USAGE: ha-manager <COMMAND> [ARGS] [OPTIONS]";

/// `--key value` pairs after the positional sid; `--key=value` too.
fn options(args: &[String]) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut opts = BTreeMap::new();
    let mut delete = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(key) = a.strip_prefix("--") else {
            return Err(format!("400 too many arguments\n{USAGE}"));
        };
        let (key, val) = match key.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (
                key.to_string(),
                it.next()
                    .cloned()
                    .ok_or(format!("400 missing value for option '{key}'"))?,
            ),
        };
        if key == "delete" {
            delete.extend(
                val.split([',', ';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        } else {
            opts.insert(key, val);
        }
    }
    Ok((opts, delete))
}

pub fn run(sim: &Sim, args: &[String]) -> Result<String, String> {
    let cmd = args.first().map(String::as_str).unwrap_or("");
    let sid = || {
        args.get(1)
            .filter(|s| !s.starts_with("--"))
            .cloned()
            .ok_or_else(|| "400 not enough arguments\nha-manager <cmd> <sid> [OPTIONS]".to_string())
    };
    match cmd {
        "add" => {
            let sid = sid()?;
            let (mut opts, _) = options(&args[2..])?;
            opts.remove("type");
            ha::add(sim, &sid, &opts).map(|()| String::new())
        }
        "set" => {
            let sid = sid()?;
            let (opts, delete) = options(&args[2..])?;
            ha::set(sim, &sid, &opts, &delete).map(|()| String::new())
        }
        "remove" => {
            let sid = sid()?;
            options(&args[2..])?;
            ha::remove(sim, &sid).map(|()| String::new())
        }
        "config" => {
            let mut out = String::new();
            for r in ha::index(sim) {
                out.push_str(&format!("{}\n", r["sid"].as_str().unwrap_or("")));
                if let Some(m) = r.as_object() {
                    for (k, v) in m {
                        if ["digest", "sid", "type", "errors"].contains(&k.as_str()) {
                            continue;
                        }
                        let v = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        out.push_str(&format!("\t{k} {v}\n"));
                    }
                }
                out.push('\n');
            }
            Ok(out)
        }
        "status" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let members = crate::cluster::members(sim);
            Ok(ha::status_current(sim, &members, now)
                .iter()
                .map(|e| {
                    format!(
                        "{} {}\n",
                        e["type"].as_str().unwrap_or(""),
                        e["status"].as_str().unwrap_or("")
                    )
                })
                .collect())
        }
        // `crm-command stop <sid> <timeout>`: the CRM turns it into the requested state
        // `stopped` (src/PVE/HA/Manager.pm); the sim does that at once.
        "crm-command" if args.get(1).map(String::as_str) == Some("stop") => {
            let sid = args
                .get(2)
                .ok_or("400 not enough arguments\nha-manager crm-command stop <sid> <timeout>")?;
            let sid = ha::parse_sid(sim, sid)?;
            if !ha::read(sim).contains_key(&sid) {
                return Err(format!("resource '{sid}' is not HA managed"));
            }
            let opts = BTreeMap::from([("state".to_string(), "stopped".to_string())]);
            ha::set(sim, &sid, &opts, &[]).map(|()| String::new())
        }
        "" => Err(format!("400 no command specified\n{USAGE}")),
        other => Err(format!("pve-sim: 'ha-manager {other}' is not simulated")),
    }
}
