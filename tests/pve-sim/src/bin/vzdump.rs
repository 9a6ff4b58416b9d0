//! pve-sim's `vzdump`: a backup of one CT (`vzdump <vmid> [--storage S] [--mode M]
//! [--compress 0|gzip|zstd] [--dumpdir D]`, pve-manager PVE/CLI/vzdump.pm); the log goes to
//! stderr, as vzdump's `debugmsg` prints it. See `pve_sim::cmd::vzdump`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use pve_sim::cmd::vzdump::{self, Job};
use pve_sim::sim::Sim;

const USAGE: &str = "USAGE: vzdump help [<extra-args>] [OPTIONS]\n       vzdump {<vmid>} [OPTIONS]";

fn usage(msg: &str) -> ExitCode {
    eprintln!("{msg}\n{USAGE}");
    ExitCode::from(255)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = Sim::from_env();
    if !nix::unistd::geteuid().is_root() {
        eprintln!("please run as root");
        return ExitCode::from(255);
    }
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return ExitCode::from(255);
    }
    let mut job = Job {
        mode: "snapshot".into(),
        compress: "0".into(),
        stopwait: 10,
        cmdline: std::iter::once("vzdump".to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
        ..Job::default()
    };
    let mut vmids = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(name) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            vmids.push(a.clone());
            continue;
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (name, None),
        };
        let Some(value) = inline.or_else(|| it.next().cloned()) else {
            return usage(&format!("400 not enough arguments\n{name}: missing value"));
        };
        match name {
            "storage" => job.storage = Some(value),
            "mode" if ["snapshot", "suspend", "stop"].contains(&value.as_str()) => job.mode = value,
            "mode" => {
                return usage(&format!(
                    "400 Parameter verification failed.\nmode: value '{value}' does not have a value in the enumeration 'snapshot, suspend, stop'"
                ))
            }
            "compress" => job.compress = value,
            "dumpdir" => job.dumpdir = Some(value.into()),
            "stopwait" => match value.parse() {
                Ok(m) => job.stopwait = m,
                Err(_) => {
                    return usage(&format!(
                        "400 Parameter verification failed.\nstopwait: type check ('integer') failed - got '{value}'"
                    ))
                }
            },
            other => return usage(&format!("Unknown option: {other}\n400 unable to parse option")),
        }
    }
    if job.storage.is_some() && job.dumpdir.is_some() {
        return usage(
            "400 Parameter verification failed.\nstorage: option conflicts with option 'dumpdir'",
        );
    }
    let [vmid] = vmids.as_slice() else {
        return usage(
            "400 Parameter verification failed.\nvmid: pve-sim: exactly one vmid is simulated",
        );
    };
    let Ok(vmid) = vmid.parse() else {
        return usage(&format!("400 Parameter verification failed.\nvmid: value '{vmid}' does not look like a valid VMID"));
    };
    job.vmid = vmid;
    match vzdump::run(&sim, &job) {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => {
            eprintln!("INFO: Backup job finished with errors");
            eprintln!("job errors");
            ExitCode::from(255)
        }
    }
}
