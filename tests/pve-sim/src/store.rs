//! CT config files: the per-CT lock, reading (with Proxmox's warnings), atomic writes, and the
//! exclusive first write that reserves a VMID.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use proxmox_lxcri::pve::CtConfig;

use crate::fail::{Failure, Result};
use crate::sim::Sim;

/// Proxmox's `lock_config` timeout.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The held per-CT flock; released on drop.
pub struct ConfLock {
    _file: File,
}

/// Takes `/run/lock/lxc/pve-config-<vmid>.lock` like `lock_file_full` (10 s, then the
/// `got timeout` error).
pub fn lock(sim: &Sim, vmid: u32) -> Result<ConfLock> {
    let path = sim.lock_path(vmid);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(|e| Failure::die(format!("can't open file '{}' - {e}", path.display())))?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        // SAFETY: flock on an fd we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(ConfLock { _file: file });
        }
        if Instant::now() >= deadline {
            return Err(Failure::die(format!(
                "can't lock file '{}' - got timeout",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The node whose directory holds CT `vmid`'s config, if any (VMIDs are cluster-wide).
pub fn owner_node(sim: &Sim, vmid: u32) -> Option<String> {
    let nodes = fs::read_dir(sim.pve_dir().join("nodes")).ok()?;
    nodes
        .flatten()
        .find(|n| n.path().join(format!("lxc/{vmid}.conf")).exists())
        .map(|n| n.file_name().to_string_lossy().into_owned())
}

/// Reads CT `vmid`'s config the way Proxmox does: a missing file is the well-known error,
/// parse problems are warnings on stderr.
pub fn load(sim: &Sim, vmid: u32) -> Result<CtConfig> {
    let (conf, warnings) = load_quiet(sim, vmid)?;
    for w in warnings {
        eprintln!("{w}");
    }
    Ok(conf)
}

/// `load` without printing the warnings.
pub fn load_quiet(sim: &Sim, vmid: u32) -> Result<(CtConfig, Vec<String>)> {
    match fs::read(sim.conf_path(vmid)) {
        Ok(raw) => {
            let (mut conf, mut warnings) =
                CtConfig::parse_lenient(&String::from_utf8_lossy(&raw), vmid);
            drop_unknown_to_version(sim, vmid, &mut conf, &mut warnings);
            Ok((conf, warnings))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::Die {
            msg: format!(
                "Configuration file '{}' does not exist",
                sim.conf_name(vmid)
            ),
            // Perl's die exits with $! (ENOENT from the failed open).
            code: 2,
        }),
        Err(e) => Err(Failure::die(format!(
            "unable to read '{}' - {e}",
            sim.conf_path(vmid).display()
        ))),
    }
}

/// What an older node's non-strict `parse_pct_config` (pve-container src/PVE/LXC/Config.pm)
/// does with keys of a newer pve-container: a key its schema lacks fails `check_type` with
/// `unknown setting` and a raw key outside its `$valid_lxc_conf_keys` is an unparsable line;
/// both are warnings. Proxmox keeps such a plain key in memory, but no code of that version
/// reads it; the sim drops both, so nothing generated from the config uses them.
fn drop_unknown_to_version(sim: &Sim, vmid: u32, conf: &mut CtConfig, warnings: &mut Vec<String>) {
    let ver = &sim.version;
    let unknown =
        |k: &str| format!("vm {vmid} - unable to parse value of '{k}' - unknown setting '{k}'");
    for key in ["entrypoint", "env"] {
        if ver.has_key(key) {
            continue;
        }
        let present = if key == "env" {
            !std::mem::take(&mut conf.env).is_empty()
        } else {
            conf.options.remove(key).is_some()
        };
        if present {
            warnings.push(unknown(key));
        }
        if conf.pending.remove(key).is_some() {
            warnings.push(unknown(key));
        }
    }
    conf.lxc.retain(|(k, v)| {
        let ok = ver.has_raw_key(k);
        if !ok {
            warnings.push(format!("vm {vmid} - unable to parse config: {k}: {v}"));
        }
        ok
    });
    for (k, v) in &conf.options {
        if let Err(e) = crate::cli::check_new_options(ver, k, v) {
            warnings.push(format!(
                "vm {vmid} - unable to parse value of '{k}' - {}",
                e.trim_end()
            ));
        }
    }
}

fn write_tmp(sim: &Sim, vmid: u32, conf: &CtConfig) -> Result<std::path::PathBuf> {
    let path = sim.conf_path(vmid);
    let tmp = path.with_extension(format!("conf.tmp.{}", std::process::id()));
    // Without quorum pmxcfs refuses every write with EACCES (pve-cluster src/pmxcfs/dcdb.c),
    // which pve-common src/PVE/File.pm `file_set_contents` reports so.
    if !sim.quorate() {
        return Err(Failure::die(format!(
            "unable to open file '{}' - Permission denied",
            tmp.display()
        )));
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&tmp)?;
    f.write_all(conf.to_conf_string().as_bytes())?;
    f.sync_all()?;
    Ok(tmp)
}

/// Replaces CT `vmid`'s config atomically (tmp file + rename).
pub fn write(sim: &Sim, vmid: u32, conf: &CtConfig) -> Result<()> {
    let tmp = write_tmp(sim, vmid, conf)?;
    fs::rename(&tmp, sim.conf_path(vmid)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Failure::die(format!(
            "unable to write '{}' - {e}",
            sim.conf_path(vmid).display()
        ))
    })
}

/// Writes a new config only if none exists (`link` fails with EEXIST), so of two concurrent
/// creators exactly one wins even if one of them bypasses the flock.
pub fn write_new(sim: &Sim, vmid: u32, conf: &CtConfig) -> Result<bool> {
    let tmp = write_tmp(sim, vmid, conf)?;
    let res = fs::hard_link(&tmp, sim.conf_path(vmid));
    let _ = fs::remove_file(&tmp);
    match res {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn remove(sim: &Sim, vmid: u32) {
    let _ = fs::remove_file(sim.conf_path(vmid));
}

/// VMIDs with a config on this node.
pub fn list(sim: &Sim) -> Vec<u32> {
    let mut ids: Vec<u32> = fs::read_dir(sim.conf_dir())
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".conf")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}
