//! pve-sim's `pvesm`: the storage commands a runtime needs (`path`, `list`, `free`, `status`)
//! with Proxmox's output and error text, on the sim's `storage.cfg` (see README.md).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use pve_sim::fail::{Failure, Result};
use pve_sim::getopt::{self, Kind};
use pve_sim::sim::Sim;
use pve_sim::storage;

/// Every `pvesm` command (aliases excluded), for prefix expansion and "not simulated".
const ALL_COMMANDS: &[&str] = &[
    "add",
    "alloc",
    "apiinfo",
    "export",
    "extractconfig",
    "free",
    "help",
    "import",
    "list",
    "path",
    "prune-backups",
    "remove",
    "scan",
    "set",
    "status",
];

struct Cmd {
    name: &'static str,
    args: &'static [&'static str],
    opts: &'static [&'static str],
    run: fn(&Sim, &Call) -> Result<()>,
}

const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "free",
        args: &["volume"],
        opts: &["delay", "storage"],
        run: free,
    },
    Cmd {
        name: "list",
        args: &["storage"],
        opts: &["content", "vmid"],
        run: list,
    },
    Cmd {
        name: "path",
        args: &["volume"],
        opts: &[],
        run: path,
    },
    Cmd {
        name: "status",
        args: &[],
        opts: &["content", "enabled", "format", "storage", "target"],
        run: status,
    },
];

/// One parsed invocation: positional arguments by name, options by name.
struct Call {
    usage: String,
    args: std::collections::BTreeMap<String, String>,
    opts: std::collections::BTreeMap<String, String>,
}

impl Call {
    fn arg(&self, name: &str) -> &str {
        self.args.get(name).map_or("", String::as_str)
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.opts.get(name).map(String::as_str)
    }

    /// `400 Parameter verification failed.` for one parameter.
    fn param_err(&self, name: &str, msg: impl Into<String>) -> Failure {
        Failure::Param {
            errors: vec![(name.to_string(), msg.into())],
            usage: self.usage.clone(),
        }
    }
}

fn usage(cmd: &Cmd) -> String {
    let mut s = format!("pvesm {}", cmd.name);
    for a in cmd.args {
        s.push_str(&format!(" <{a}>"));
    }
    if !cmd.opts.is_empty() {
        s.push_str(" [OPTIONS]");
    }
    s
}

/// Schema checks of the parameters pvesm's commands declare (`pve-storage-id`,
/// `pve-storage-content`, `pve-vmid`, `pve-volume-id`, integer ranges).
fn check_param(name: &str, v: &str) -> std::result::Result<(), String> {
    match name {
        "storage" if !storage::valid_storage_id(v) => Err(format!(
            "invalid format - storage ID '{v}' contains illegal characters\n"
        )),
        "content"
            if !matches!(
                v,
                "images" | "rootdir" | "vztmpl" | "iso" | "backup" | "snippets" | "import"
            ) =>
        {
            Err(format!("invalid format - invalid content type '{v}'\n"))
        }
        "vmid" | "delay" if !v.bytes().all(|b| b.is_ascii_digit()) || v.is_empty() => {
            Err(format!("type check ('integer') failed - got '{v}'"))
        }
        "vmid" if v.parse::<proxmox_lxcri::pve::Vmid>().is_err() => {
            Err("invalid format - value does not look like a valid VM ID\n".into())
        }
        "delay" if !(1..=30).contains(&v.parse::<u32>().unwrap_or(0)) => {
            Err(if v.parse::<u32>().unwrap_or(0) < 1 {
                "value must have a minimum value of 1".into()
            } else {
                "value must have a maximum value of 30".into()
            })
        }
        _ => Ok(()),
    }
}

fn parse(cmd: &Cmd, args: &[String]) -> Result<Call> {
    let usage = usage(cmd);
    let fail = |msg: &str| Failure::Usage {
        msg: msg.into(),
        usage: usage.clone(),
    };
    let spec: Vec<(String, Kind)> = cmd
        .opts
        .iter()
        .map(|o| {
            let kind = if *o == "enabled" {
                Kind::Optional
            } else {
                Kind::Mandatory
            };
            (o.to_string(), kind)
        })
        .collect();
    let parsed = getopt::parse(args, &spec).map_err(|warnings| {
        for w in warnings {
            eprintln!("{w}");
        }
        fail("unable to parse option")
    })?;
    let mut pos = parsed.positional.into_iter();
    let mut call = Call {
        usage: usage.clone(),
        args: Default::default(),
        opts: parsed.opts,
    };
    for a in cmd.args {
        let v = pos.next().ok_or_else(|| fail("not enough arguments"))?;
        call.args.insert(a.to_string(), v);
    }
    if pos.next().is_some() {
        return Err(fail("too many arguments"));
    }
    let mut errors: Vec<(String, String)> = call
        .args
        .iter()
        .chain(call.opts.iter())
        .filter_map(|(k, v)| check_param(k, v).err().map(|e| (k.clone(), e)))
        .collect();
    if cmd.name == "path" {
        if let Err(e) = storage::parse_volume_id(call.arg("volume")) {
            errors.push(("volume".into(), format!("invalid format - {e}\n")));
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(Failure::Param { errors, usage });
    }
    Ok(call)
}

fn path(sim: &Sim, c: &Call) -> Result<()> {
    let p = storage::path(sim, c.arg("volume")).map_err(Failure::die)?;
    println!("{}", p.display());
    Ok(())
}

fn list(sim: &Sim, c: &Call) -> Result<()> {
    let vmid = c.opt("vmid").and_then(|v| v.parse().ok());
    let vols = storage::list_content(sim, c.arg("storage"), c.opt("content"), vmid)
        .map_err(Failure::die)?;
    print!("{}", storage::print_content(&vols));
    Ok(())
}

/// `pvesm free`: the API's volume delete, a task (`imgdel`) that runs in the foreground.
fn free(sim: &Sim, c: &Call) -> Result<()> {
    let volume = c.arg("volume");
    // `$real_volume_id`: a bare name needs --storage; a full ID must match it.
    let volid = match (storage::parse_volume_id(volume), c.opt("storage")) {
        _ if !volume.contains(':') => match c.opt("storage") {
            Some(sid) => format!("{sid}:{volume}"),
            None => {
                return Err(c.param_err("volume", "no storage specified - incomplete volume ID"))
            }
        },
        (Err(e), _) => return Err(c.param_err("volume", format!("{e}\n"))),
        (Ok((sid, _)), Some(want)) if sid != want => {
            return Err(c.param_err("volume", format!("storage ID mismatch ({sid} != {want})\n")))
        }
        (Ok(_), _) => volume.to_string(),
    };
    storage::path(sim, &volid).map_err(Failure::die)?;
    match storage::free(sim, &volid) {
        Ok(warning) => {
            if let Some(w) = warning {
                eprintln!("{w}");
            }
            println!("Removed volume '{volid}'");
            Ok(())
        }
        Err(e) => Err(Failure::task(e)),
    }
}

fn status(sim: &Sim, c: &Call) -> Result<()> {
    let mut list = storage::status(sim, c.opt("content")).map_err(Failure::die)?;
    if let Some(sid) = c.opt("storage") {
        list.retain(|s| s.storage == sid);
        if list.is_empty() {
            return Err(c.param_err("storage", "No such storage."));
        }
    }
    if c.opt("enabled").is_some_and(|e| e != "0") {
        list.retain(|s| s.enabled);
    }
    print!("{}", storage::print_status(&list));
    Ok(())
}

/// Resolves a command name like `resolve_cmd`: exact, or the only command with that prefix.
fn expand(name: &str) -> Option<&'static str> {
    if let Some(c) = ALL_COMMANDS.iter().find(|c| **c == name) {
        return Some(c);
    }
    let hits: Vec<&&str> = ALL_COMMANDS
        .iter()
        .filter(|c| c.starts_with(name))
        .collect();
    (hits.len() == 1).then(|| *hits[0])
}

fn overview(msg: &str) -> u8 {
    let mut s = format!("ERROR: {msg}\nUSAGE: pvesm <COMMAND> [ARGS] [OPTIONS]\n");
    for c in COMMANDS {
        s.push_str(&format!("       {}\n", usage(c)));
    }
    eprint!("{s}");
    255
}

fn run(sim: &Sim, args: &[String]) -> u8 {
    let Some(first) = args.first() else {
        return overview("no command specified");
    };
    std::env::set_var("PATH", "/sbin:/bin:/usr/sbin:/usr/bin");
    if !nix::unistd::geteuid().is_root() {
        return Failure::die("please run as root").report();
    }
    let name = expand(first).unwrap_or(first);
    let Some(cmd) = COMMANDS.iter().find(|c| c.name == name) else {
        if ALL_COMMANDS.contains(&name) {
            return Failure::die(format!("pve-sim: 'pvesm {name}' is not simulated")).report();
        }
        return overview(&format!("unknown command 'pvesm {first}'"));
    };
    match parse(cmd, &args[1..]).and_then(|c| (cmd.run)(sim, &c)) {
        Ok(()) => 0,
        Err(f) => f.report(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = Sim::from_env();
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return ExitCode::from(255);
    }
    ExitCode::from(run(&sim, &args))
}
