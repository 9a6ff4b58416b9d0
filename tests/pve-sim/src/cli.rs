//! `pct`'s command line: command names (with Proxmox's unique-prefix expansion), each command's
//! parameters, and the checks `PVE::JSONSchema::get_options` and the API schema apply before a
//! command runs.

use std::collections::BTreeMap;

use proxmox_lxcri::pve::{confkeys, propstr};

use crate::fail::{Failure, Result};
use crate::getopt::{self, Kind};
use crate::sim::Sim;
use crate::version::NodeVersion;

/// Every `pct` command name (aliases excluded), so prefixes expand as on a real node.
pub const ALL_COMMANDS: &[&str] = &[
    "clone",
    "config",
    "console",
    "cpusets",
    "create",
    "delsnapshot",
    "destroy",
    "df",
    "enter",
    "exec",
    "fsck",
    "fstrim",
    "help",
    "list",
    "listsnapshot",
    "migrate",
    "mount",
    "move-volume",
    "pending",
    "pull",
    "push",
    "reboot",
    "remote-migrate",
    "rescan",
    "resize",
    "restore",
    "resume",
    "rollback",
    "set",
    "shutdown",
    "snapshot",
    "start",
    "status",
    "stop",
    "suspend",
    "template",
    "unlock",
    "unmount",
];

#[derive(Debug, Clone, Copy)]
pub enum Opt {
    Bool,
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number,
    Str,
    /// A CT config key: type and checks from the key table.
    Conf,
    /// A list of config key names (`--delete`, `--revert`).
    KeyList,
}

pub struct Command {
    pub name: &'static str,
    /// Positional parameters; `extra-args` takes the rest.
    pub args: &'static [&'static str],
    pub opts: fn() -> Vec<(String, Opt)>,
    pub run: fn(&Sim, &Params) -> Result<()>,
}

/// The checked parameters of one call.
#[derive(Debug, Default)]
pub struct Params {
    pub vmid: u32,
    pub args: BTreeMap<String, String>,
    pub extra: Vec<String>,
    /// Options as given; booleans normalised to `1`/`0`, list options joined with `,`.
    pub opts: BTreeMap<String, String>,
}

impl Params {
    pub fn flag(&self, name: &str) -> bool {
        self.opts.get(name).is_some_and(|v| v == "1")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.opts.get(name).map(String::as_str)
    }
}

/// All config keys as options, the way `json_config_properties` adds them to create/set.
pub fn config_key_opts() -> Vec<(String, Opt)> {
    let mut v: Vec<(String, Opt)> = [
        "arch",
        "cmode",
        "console",
        "cores",
        "cpulimit",
        "cpuunits",
        "debug",
        "description",
        "entrypoint",
        "env",
        "features",
        "hookscript",
        "hostname",
        "lock",
        "memory",
        "nameserver",
        "onboot",
        "ostype",
        "protection",
        "rootfs",
        "searchdomain",
        "startup",
        "swap",
        "tags",
        "template",
        "timezone",
        "tty",
        "unprivileged",
    ]
    .iter()
    .map(|k| (k.to_string(), Opt::Conf))
    .collect();
    for (family, n) in [
        ("mp", confkeys::MAX_MOUNT_POINTS),
        ("net", confkeys::MAX_NETWORKS),
        ("dev", confkeys::MAX_DEVICES),
        ("unused", confkeys::MAX_UNUSED),
    ] {
        v.extend((0..n).map(|i| (format!("{family}{i}"), Opt::Conf)));
    }
    v
}

fn getopt_kind(name: &str, opt: Opt) -> Kind {
    match opt {
        Opt::Bool => Kind::Optional,
        Opt::KeyList => Kind::List,
        Opt::Conf => match confkeys::lookup(name) {
            Some(confkeys::Type::Bool) => Kind::Optional,
            // `-list` formats are `=s@` in get_options.
            _ if matches!(name, "tags" | "nameserver" | "searchdomain") => Kind::List,
            _ => Kind::Mandatory,
        },
        _ => Kind::Mandatory,
    }
}

fn is_bool(name: &str, opt: Opt) -> bool {
    matches!(opt, Opt::Bool)
        || (matches!(opt, Opt::Conf)
            && matches!(confkeys::lookup(name), Some(confkeys::Type::Bool)))
}

/// The short usage line Proxmox appends to parameter errors.
pub fn usage(cmd: &Command) -> String {
    let mut s = format!("pct {}", cmd.name);
    for a in cmd.args {
        if *a == "extra-args" {
            s.push_str(&format!(" [<{a}>]"));
        } else {
            s.push_str(&format!(" <{a}>"));
        }
    }
    if !(cmd.opts)().is_empty() {
        s.push_str(" [OPTIONS]");
    }
    s
}

/// Resolves a command name like `resolve_cmd`: exact, or the only command with that prefix.
pub fn expand(name: &str) -> Option<&'static str> {
    if let Some(c) = ALL_COMMANDS.iter().find(|c| **c == name) {
        return Some(c);
    }
    if name == "move_volume" {
        return Some("move-volume");
    }
    let hits: Vec<&&str> = ALL_COMMANDS
        .iter()
        .filter(|c| c.starts_with(name))
        .collect();
    (hits.len() == 1).then(|| *hits[0])
}

fn check_vmid(v: &str) -> std::result::Result<u32, String> {
    if !propstr::is_integer(v) {
        return Err(format!("type check ('integer') failed - got '{v}'"));
    }
    v.parse::<proxmox_lxcri::pve::Vmid>()
        .map(|id| id.get())
        .map_err(|_| "invalid format - value does not look like a valid VM ID\n".to_string())
}

fn check_value(name: &str, opt: Opt, v: &str) -> std::result::Result<(), String> {
    match opt {
        Opt::Bool | Opt::Str => Ok(()),
        Opt::Int { min, max } => confkeys::verify_type(name, &confkeys::Type::Int { min, max }, v),
        Opt::Number => confkeys::verify_type(
            name,
            &confkeys::Type::Number {
                min: 0.0,
                max: f64::MAX,
            },
            v,
        ),
        Opt::Conf => confkeys::verify_param(name, v),
        Opt::KeyList => {
            for k in confkeys::split_list(v) {
                let b = k.as_bytes();
                let ok = b.len() >= 2
                    && b[0].is_ascii_alphabetic()
                    && b.iter()
                        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
                if !ok {
                    return Err(format!("invalid format - invalid configuration ID '{k}'\n"));
                }
            }
            Ok(())
        }
    }
}

/// A property string option (mount point, network) this node's pve-container does not know
/// yet: the property string parser's error for an unknown key (pve-common
/// src/PVE/JSONSchema.pm `parse_property_string`).
pub fn check_new_options(
    ver: &NodeVersion,
    name: &str,
    value: &str,
) -> std::result::Result<(), String> {
    for opt in ver.missing_options(name) {
        let used = value
            .split(',')
            .any(|kv| kv.split_once('=').is_some_and(|(k, _)| k.trim() == opt));
        if used {
            return Err(format!(
                "invalid format - invalid key in comma-separated list property: {opt}\n"
            ));
        }
    }
    Ok(())
}

/// Parses and checks `args` (after the command name) for `cmd` on a node of version `ver`:
/// config keys that version's schema lacks are unknown options, as on such a node.
pub fn parse_params(cmd: &Command, args: &[String], ver: &NodeVersion) -> Result<Params> {
    let usage_fail = |msg: &str| Failure::Usage {
        msg: msg.to_string(),
        usage: usage(cmd),
    };
    let defs: Vec<(String, Opt)> = (cmd.opts)()
        .into_iter()
        .filter(|(n, o)| !matches!(o, Opt::Conf) || ver.has_key(n))
        .collect();
    let spec: Vec<(String, Kind)> = defs
        .iter()
        .map(|(n, o)| (n.clone(), getopt_kind(n, *o)))
        .collect();
    let parsed = match getopt::parse(args, &spec) {
        Ok(p) => p,
        Err(warnings) => {
            for w in warnings {
                eprintln!("{w}");
            }
            return Err(usage_fail("unable to parse option"));
        }
    };

    let mut params = Params::default();
    let mut rest = parsed.positional.into_iter();
    let mut vmid_raw = None;
    for a in cmd.args {
        if *a == "extra-args" {
            params.extra = rest.by_ref().collect();
            break;
        }
        match rest.next() {
            Some(v) if *a == "vmid" => vmid_raw = Some(v),
            Some(v) => {
                params.args.insert(a.to_string(), v);
            }
            None => return Err(usage_fail("not enough arguments")),
        }
    }
    if rest.next().is_some() {
        return Err(usage_fail("too many arguments"));
    }

    let mut errors = Vec::new();
    for (name, value) in parsed.opts {
        let opt = defs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| *o)
            .unwrap_or(Opt::Str);
        let value = if is_bool(&name, opt) {
            match value.as_str() {
                "" => "1".to_string(),
                v => match propstr::parse_boolean(v) {
                    Some(b) => if b { "1" } else { "0" }.to_string(),
                    None => return Err(usage_fail("unable to parse boolean option")),
                },
            }
        } else {
            value
        };
        let checked = check_value(&name, opt, &value).and_then(|()| match opt {
            Opt::Conf => check_new_options(ver, &name, &value),
            _ => Ok(()),
        });
        if let Err(e) = checked {
            errors.push((name.clone(), e));
        }
        params.opts.insert(name, value);
    }
    if let Some(v) = vmid_raw {
        match check_vmid(&v) {
            Ok(id) => params.vmid = id,
            Err(e) => errors.push(("vmid".into(), e)),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(Failure::Param {
            errors,
            usage: usage(cmd),
        });
    }
    Ok(params)
}

/// Prints Proxmox's short usage for `pct` as a whole (after `ERROR: ...`).
pub fn print_overview(msg: &str, commands: &[Command]) {
    let mut s = format!("ERROR: {msg}\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]\n");
    for c in commands {
        s.push_str(&format!("       {}\n", usage(c)));
    }
    eprint!("{s}");
}
