//! `pct restore <vmid> <archive> [OPTIONS]`, which is `create_vm` with `restore => 1`
//! (pve-container src/PVE/CLI/pct.pm, src/PVE/API2/LXC.pm `create_vm`'s restore branch,
//! src/PVE/LXC/Create.pm `recover_config_from_tar`, `restore_archive`,
//! `restore_configuration_from_etc_vzdump`, `sanitize_and_merge_config`). The API's
//! `POST /nodes/{node}/lxc` with `restore=1` runs this too.
//!
//! Volumes are allocated anew: the given `rootfs`/`mpN`, else the archive's volume mount points
//! with their sizes on `--storage` (default `local`); the archive is extracted into them; then
//! the archive's config fills in every key not given, except `rootfs`, `mpN`, `unusedN`,
//! `unprivileged` (taken from the archive only when not given), `template`, `parent`,
//! `snapshots` and `digest`. `--force` (overwriting an existing CT) is not simulated.

use std::path::{Path, PathBuf};
use std::process::Command;

use proxmox_lxcri::pve::confkeys::{self, MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use super::create::{
    check_storage, compression_flag, create_disks, extract, is_gib, reserve_vmid, CREATE_ONLY,
};
use super::{in_task, run_task};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{storage, store};

/// `abs_filesystem_path` with content type `backup` (a volume), or a host path.
fn archive_path(sim: &Sim, archive: &str) -> Result<PathBuf> {
    if !archive.starts_with('/') && storage::parse_volume_id(archive).is_ok() {
        let r = storage::resolve(sim, archive).map_err(Failure::die)?;
        if r.vol.vtype != "backup" {
            return Err(Failure::die(format!(
                "unable to use volume {archive} - content type needs to be 'backup'"
            )));
        }
        if !r.path.is_file() {
            return Err(Failure::die(format!("can't find file '{archive}'")));
        }
        return Ok(r.path);
    }
    let path = Path::new(archive);
    if !path.is_file() {
        return Err(Failure::die(format!("can't find file '{archive}'")));
    }
    Ok(path.to_path_buf())
}

/// `recover_config_from_tar`: `./etc/vzdump/pct.conf` read out of the archive.
fn recover_config(archive: &Path, vmid: u32) -> Result<CtConfig> {
    let name = archive.to_string_lossy();
    let comp = compression_flag(&name).map_err(Failure::die)?;
    let mut cmd = Command::new("tar");
    cmd.arg("-xO").args(comp).arg("-f").arg(archive);
    cmd.arg("./etc/vzdump/pct.conf");
    let out = cmd
        .output()
        .map_err(|e| Failure::die(format!("unable to run tar - {e}")))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(Failure::die(format!(
            "unable to extract configuration from '{name}' - no ./etc/vzdump/pct.conf"
        )));
    }
    let (conf, _) = CtConfig::parse_lenient(&String::from_utf8_lossy(&out.stdout), vmid);
    Ok(conf)
}

fn is_numbered(k: &str, prefix: &str) -> bool {
    k.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    if !sim.quorate() {
        return Err(Failure::die(crate::cluster::NO_QUORUM));
    }
    if p.flag("force") {
        return Err(Failure::die(
            "pve-sim: restore with --force is not simulated",
        ));
    }
    if let Some(node) = store::owner_node(sim, vmid) {
        return Err(Failure::die(format!(
            "unable to restore CT {vmid} - CT {vmid} already exists on node '{node}'"
        )));
    }
    let given = &p.args["ostemplate"];
    if given == "-" {
        return Err(Failure::die("pve-sim: restore from stdin is not simulated"));
    }
    let archive = archive_path(sim, given)?;
    println!("recovering backed-up configuration from '{given}'");
    let orig = recover_config(&archive, vmid)?;

    // Disks: the given ones, else the archive's volumes with their sizes on --storage
    // (`$storage_only_mode`).
    let storage = p.get("storage").unwrap_or("local");
    let mut disks: Vec<(String, String)> = Vec::new();
    for (k, v) in p
        .opts
        .iter()
        .filter(|(k, _)| *k == "rootfs" || is_numbered(k, "mp"))
    {
        let v = if is_gib(v) {
            format!("{storage}:{v}")
        } else {
            v.clone()
        };
        disks.push((k.clone(), v));
    }
    let mut delayed: Vec<(String, String)> = Vec::new();
    if disks.is_empty() {
        let Some(root) = orig.options.get("rootfs") else {
            return Err(Failure::die(
                "rootfs configuration could not be recovered, please check and specify manually!",
            ));
        };
        let mut keys: Vec<&String> = orig
            .options
            .keys()
            .filter(|k| is_numbered(k, "mp"))
            .collect();
        keys.sort_by_key(|k| k[2..].parse::<u32>().unwrap_or(u32::MAX));
        for (k, v) in std::iter::once((&"rootfs".to_string(), root))
            .chain(keys.into_iter().map(|k| (k, &orig.options[k])))
        {
            let fmt = if k == "rootfs" {
                &ROOTFS_FORMAT
            } else {
                &MP_FORMAT
            };
            let mut m = fmt
                .parse(v)
                .map_err(|e| Failure::die(format!("{k}: {e}")))?;
            if m["volume"].starts_with('/') {
                if k == "rootfs" {
                    return Err(Failure::die(
                        "restoring rootfs to bind mount is only possible by specifying -rootfs manually!",
                    ));
                }
                delayed.push((k.clone(), v.clone()));
                continue;
            }
            let Some(bytes) = m.get("size").and_then(|s| confkeys::parse_size(s)) else {
                return Err(Failure::die(format!(
                    "unable to detect disk size - please specify {k} (size)"
                )));
            };
            m.remove("size");
            let gib = bytes as f64 / f64::from(1u32 << 30);
            m.insert("volume".into(), format!("{storage}:{gib}"));
            disks.push((
                k.clone(),
                fmt.print(&m)
                    .map_err(|e| Failure::die(format!("{k}: {e}")))?,
            ));
        }
    }
    if !disks.iter().any(|(k, _)| k == "rootfs") {
        return Err(Failure::die(
            "mount points configured, but 'rootfs' not set - aborting",
        ));
    }
    for (k, v) in &disks {
        let fmt = if k == "rootfs" {
            &ROOTFS_FORMAT
        } else {
            &MP_FORMAT
        };
        let vol = fmt
            .parse(v)
            .map_err(|e| Failure::die(format!("{k}: {e}")))?["volume"]
            .clone();
        if !vol.starts_with('/') {
            let (sid, _) = storage::parse_volume_id(&vol).map_err(Failure::die)?;
            check_storage(sim, sid)?;
        }
    }

    reserve_vmid(sim, vmid, "restore")?;

    run_task(|task| {
        let _lock = in_task(store::lock(sim, vmid))?;
        let mut vollist = Vec::new();
        restore_task(
            sim,
            p,
            &orig,
            &disks,
            &delayed,
            &archive,
            &mut vollist,
            task,
        )
        .map_err(|e| {
            for volid in &vollist {
                let _ = storage::free(sim, volid);
            }
            store::remove(sim, vmid);
            format!("unable to restore CT {vmid} - {e}")
        })
    })
}

#[allow(clippy::too_many_arguments)]
fn restore_task(
    sim: &Sim,
    p: &Params,
    orig: &CtConfig,
    disks: &[(String, String)],
    delayed: &[(String, String)],
    archive: &Path,
    vollist: &mut Vec<String>,
    task: &mut super::Task,
) -> std::result::Result<(), String> {
    let vmid = p.vmid;
    let mut conf = CtConfig::default();
    for (k, v) in p
        .opts
        .iter()
        .filter(|(k, _)| !CREATE_ONLY.contains(&k.as_str()) && *k != "lock")
    {
        conf.set(k, v);
    }
    for (k, v) in disks {
        conf.set(k, v);
    }
    // Root restores the raw keys (the extracted ids must match the archive's idmap).
    conf.lxc = orig.lxc.clone();
    if !conf.options.contains_key("unprivileged") {
        if let Some(u) = orig.options.get("unprivileged") {
            conf.set("unprivileged", u);
        }
    }
    if conf.options.get("unprivileged").is_some_and(|u| u == "0") {
        conf.options.remove("unprivileged");
    }
    create_disks(sim, vmid, &mut conf, vollist)?;
    let rootvol = ROOTFS_FORMAT
        .parse(&conf.options["rootfs"])
        .map_err(|e| e.to_string())?["volume"]
        .clone();
    let rootdir = if rootvol.starts_with('/') {
        PathBuf::from(rootvol)
    } else {
        storage::data_path(sim, &rootvol)?
    };
    let shown = archive.to_string_lossy();
    task.log(&format!("restoring '{}' now..", p.args["ostemplate"]));
    extract(sim, &conf, &shown, &rootdir.to_string_lossy(), task)?;

    move_mount_points(sim, &conf, &rootdir)?;

    task.log("merging backed-up and given configuration..");
    // `restore_configuration_from_etc_vzdump`: the extracted copy is what is read, then removed.
    let _ = std::fs::remove_file(rootdir.join("etc/vzdump/pct.conf"));
    let fw = rootdir.join("etc/vzdump/pct.fw");
    if std::fs::symlink_metadata(&fw).is_ok_and(|m| m.is_file() && m.len() > 0) {
        let dir = sim.pve_dir().join("firewall");
        let _ = std::fs::create_dir_all(&dir);
        std::fs::copy(&fw, dir.join(format!("{vmid}.fw")))
            .map_err(|e| format!("unable to copy firewall config - {e}"))?;
    }
    let _ = std::fs::remove_file(&fw);
    for (k, v) in &orig.options {
        let skipped = [
            "digest",
            "rootfs",
            "snapshots",
            "unprivileged",
            "parent",
            "template",
            "lock",
        ]
        .contains(&k.as_str())
            || is_numbered(k, "mp")
            || is_numbered(k, "unused");
        if !skipped && !conf.options.contains_key(k) {
            conf.set(k, v);
        }
    }
    if conf.description.is_empty() {
        conf.description = orig.description.clone();
    }
    conf.options
        .entry("hostname".into())
        .or_insert_with(|| format!("CT{vmid}"));
    conf.options
        .entry("memory".into())
        .or_insert_with(|| "512".into());
    conf.options
        .entry("swap".into())
        .or_insert_with(|| "512".into());
    for (k, v) in delayed {
        conf.set(k, v);
    }
    in_task(store::write(sim, vmid, &conf))
}

/// Moves each new volume mount point's subtree, which the extraction put below its path in the
/// rootfs, into its own volume (where a node's `mount_all` had the volume mounted while
/// extracting).
fn move_mount_points(
    sim: &Sim,
    conf: &CtConfig,
    rootdir: &Path,
) -> std::result::Result<(), String> {
    for (k, v) in conf.options.iter().filter(|(k, _)| is_numbered(k, "mp")) {
        let m = MP_FORMAT.parse(v).map_err(|e| format!("{k}: {e}"))?;
        let (Some(volume), Some(mp)) = (m.get("volume"), m.get("mp")) else {
            continue;
        };
        if volume.starts_with('/') {
            continue;
        }
        let src = rootdir.join(mp.trim_start_matches('/'));
        let Ok(entries) = std::fs::read_dir(&src) else {
            continue;
        };
        let dst = storage::data_path(sim, volume)?;
        // An image volume is mounted for the move, as `mount_all` has it mounted on a node.
        storage::mount_volume(sim, volume)?;
        let r = move_entries(entries.flatten().map(|e| e.path()), &dst);
        storage::umount_volume(sim, volume);
        r?;
    }
    Ok(())
}

/// Moves each path into `dst`, across file systems where needed (an image volume is another
/// file system than the rootfs).
fn move_entries(
    paths: impl Iterator<Item = PathBuf>,
    dst: &Path,
) -> std::result::Result<(), String> {
    for p in paths {
        let out = Command::new("mv")
            .arg("--")
            .arg(&p)
            .arg(dst)
            .output()
            .map_err(|e| format!("command 'mv' failed: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "unable to move '{}' to '{}' - {}",
                p.display(),
                dst.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}
