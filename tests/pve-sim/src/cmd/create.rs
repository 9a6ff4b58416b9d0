//! `pct create <vmid> <ostemplate> [OPTIONS]` (`create_vm` in pve-container src/PVE/API2/LXC.pm,
//! template import in src/PVE/LXC/Create.pm).

use std::fs::File;
use std::os::unix::io::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proxmox_lxcri::pve::confkeys::{self, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use super::{in_task, run_task, Task};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{storage, store};

/// Host uid/gid of root in an unprivileged CT (the default `lxc.idmap`).
const CT_ROOT: u32 = 100_000;

/// Parameters of create that are not config keys.
pub(super) const CREATE_ONLY: &[&str] = &[
    "bwlimit",
    "force",
    "ha-managed",
    "ignore-unpack-errors",
    "password",
    "pool",
    "restore",
    "ssh-public-keys",
    "start",
    "storage",
    "unique",
];

/// `@COMMON_TAR_FLAGS` of pve-storage src/PVE/Storage/Plugin.pm as `restore_tar_archive`
/// (src/PVE/LXC/Create.pm) extracts with them (`-p` is in `xpf`; `--one-file-system` only matters
/// when packing, vzdump adds it): POSIX ACLs and, of the other xattrs, `user.*` and
/// `security.capability` only; an xattr that cannot be written is dropped without a word.
pub(super) const COMMON_TAR_FLAGS: &[&str] = &[
    "--sparse",
    "--numeric-owner",
    "--acls",
    "--xattrs",
    "--xattrs-include=user.*",
    "--xattrs-include=security.capability",
    "--warning=no-file-ignored",
    "--warning=no-xattr-write",
];

/// `tar_compression_option`: the tar flag for the archive's compression.
pub(super) fn compression_flag(archive: &str) -> std::result::Result<Option<&'static str>, String> {
    let Some(pos) = archive.rfind(".tar") else {
        return Err(format!(
            "file does not look like a template archive: {archive}"
        ));
    };
    let ext = &archive[pos + 4..];
    if ext.contains('/') || (!ext.is_empty() && (!ext.starts_with('.') || ext[1..].contains('.'))) {
        return Err(format!(
            "file does not look like a template archive: {archive}"
        ));
    }
    match ext {
        "" => Ok(None),
        ".gz" => Ok(Some("-z")),
        ".bz2" => Ok(Some("-j")),
        ".xz" => Ok(Some("-J")),
        ".lzo" => Ok(Some("--lzop")),
        ".zst" => Ok(Some("--zstd")),
        other => Err(format!("unrecognized compression format: {other}")),
    }
}

/// A size in GiB as disk parameters write it: `\d+(\.\d+)?`.
pub(super) fn is_gib(v: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match v.split_once('.') {
        Some((a, b)) => digits(a) && digits(b),
        None => digits(v),
    }
}

/// `$NEW_DISK_RE`: `<storage>:<size in GiB>` asks for a new volume.
fn new_disk(volume: &str) -> Option<(&str, f64)> {
    let (sid, size) = volume.split_once(':')?;
    let ok = !sid.is_empty() && !sid.contains(char::is_whitespace) && is_gib(size);
    ok.then(|| size.parse().ok().map(|n| (sid, n)))?
}

/// `check_and_activate_storage`: the storage exists, holds CT volumes and is usable.
pub(super) fn check_storage(sim: &Sim, sid: &str) -> Result<()> {
    let st = storage::storage_config(sim, sid).map_err(Failure::die)?;
    if !st.allows("rootdir") {
        return Err(Failure::Param {
            errors: vec![(
                "storage".into(),
                format!("storage '{sid}' does not support container directories"),
            )],
            usage: "pct create <vmid> <ostemplate> [OPTIONS]".into(),
        });
    }
    storage::activate(&st).map_err(Failure::die)
}

/// The archive to extract: a host path, or a `vztmpl` volume (`abs_filesystem_path`).
fn archive_path(sim: &Sim, template: &str) -> Result<PathBuf> {
    if !template.starts_with('/') && storage::parse_volume_id(template).is_ok() {
        return storage::template_path(sim, template).map_err(Failure::die);
    }
    let path = Path::new(template);
    if !path.is_file() {
        return Err(Failure::die(format!("can't find file '{template}'")));
    }
    Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    if p.flag("restore") {
        return super::restore::run(sim, p);
    }
    // `create_vm` checks quorum first (pve-container src/PVE/API2/LXC.pm).
    if !sim.quorate() {
        return Err(Failure::die(crate::cluster::NO_QUORUM));
    }
    if let Some(node) = store::owner_node(sim, vmid) {
        return Err(Failure::die(format!(
            "CT {vmid} already exists on node '{node}'"
        )));
    }

    let template = &p.args["ostemplate"];
    if template == "-" {
        return Err(Failure::die("pve-sim: restore from stdin is not simulated"));
    }
    let archive = archive_path(sim, template)?;

    // Disks: a bare number means `<storage>:<n>`; no disk at all means `<storage>:4`.
    let storage = p.get("storage").unwrap_or("local");
    let mut disks: Vec<(String, String)> = Vec::new();
    for (k, v) in p
        .opts
        .iter()
        .filter(|(k, _)| *k == "rootfs" || k.starts_with("mp"))
    {
        let v = if is_gib(v) {
            format!("{storage}:{v}")
        } else {
            v.clone()
        };
        let fmt = if k == "rootfs" {
            &ROOTFS_FORMAT
        } else {
            &MP_FORMAT
        };
        let vol = fmt
            .parse(&v)
            .map_err(|e| Failure::die(format!("{k}: {e}")))?["volume"]
            .clone();
        if !vol.starts_with('/') {
            let (sid, _) = storage::parse_volume_id(&vol).map_err(Failure::die)?;
            check_storage(sim, sid)?;
        }
        disks.push((k.clone(), v));
    }
    if disks.is_empty() {
        check_storage(sim, storage)?;
        disks.push(("rootfs".into(), format!("{storage}:4")));
    } else if !disks.iter().any(|(k, _)| k == "rootfs") {
        return Err(Failure::die(
            "mount points configured, but 'rootfs' not set - aborting",
        ));
    }

    // `update_pct_config`'s netN checks, before the config exists.
    for (k, v) in p.opts.iter().filter(|(k, _)| k.starts_with("net")) {
        crate::netns::update_check(sim, k, v).map_err(Failure::die)?;
    }
    reserve_vmid(sim, vmid, "create")?;

    run_task(|task| {
        let _lock = in_task(store::lock(sim, vmid))?;
        let mut vollist = Vec::new();
        create_task(sim, p, &disks, &archive, &mut vollist, task).map_err(|e| {
            // Nothing of a failed create stays: its new volumes, then its config.
            for volid in &vollist {
                let _ = storage::free(sim, volid);
            }
            store::remove(sim, vmid);
            format!("unable to create CT {vmid} - {e}")
        })
    })?;

    if p.flag("start") {
        return super::start::run(sim, p);
    }
    Ok(())
}

fn random_mac() -> String {
    let mut b = [0u8; 3];
    if let Ok(mut f) = File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

fn create_task(
    sim: &Sim,
    p: &Params,
    disks: &[(String, String)],
    archive: &Path,
    vollist: &mut Vec<String>,
    task: &mut Task,
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
    // pve-container's create (src/PVE/API2/LXC.pm) writes the key only for an unprivileged CT.
    if conf.options.get("unprivileged").is_some_and(|u| u == "0") {
        conf.options.remove("unprivileged");
    } else {
        conf.options.insert("unprivileged".into(), "1".into());
    }
    if let Some(t) = conf.options.get("tags").cloned() {
        conf.set("tags", &confkeys::normalize_tags(&t));
    }
    for k in ["nameserver", "searchdomain"] {
        if let Some(v) = conf.options.get(k).cloned() {
            conf.set(k, &confkeys::split_list(&v).collect::<Vec<_>>().join(" "));
        }
    }
    // Property strings are re-printed the way Proxmox stores them.
    let keys: Vec<String> = conf.options.keys().cloned().collect();
    for k in keys {
        let v = conf.options[&k].clone();
        let printed = if k == "rootfs" {
            ROOTFS_FORMAT
                .parse(&v)
                .and_then(|m| ROOTFS_FORMAT.print(&m))
        } else if k.starts_with("mp") {
            MP_FORMAT.parse(&v).and_then(|m| MP_FORMAT.print(&m))
        } else if k.starts_with("net") {
            NET_FORMAT.parse(&v).and_then(|mut m| {
                m.insert("type".into(), "veth".into());
                m.entry("hwaddr".into()).or_insert_with(random_mac);
                NET_FORMAT.print(&m)
            })
        } else {
            continue;
        };
        conf.set(&k, &printed.map_err(|e| format!("{k}: {e}"))?);
    }

    create_disks(sim, vmid, &mut conf, vollist)?;
    // `mount_all` mounts the rootfs and mount points to extract the template, walking bind
    // sources and destinations without following symlinks (pve-container src/PVE/LXC.pm).
    crate::prestart::mount_walks(sim, vmid, &conf)?;

    let rootvol = ROOTFS_FORMAT
        .parse(&conf.options["rootfs"])
        .map_err(|e| e.to_string())?["volume"]
        .clone();
    let rootdir = if rootvol.starts_with('/') {
        rootvol
    } else {
        storage::data_path(sim, &rootvol)?
            .to_string_lossy()
            .into_owned()
    };
    if !Path::new(&rootdir).is_dir() {
        return Err(format!("directory '{rootdir}' does not exist"));
    }
    extract(sim, &conf, &archive.to_string_lossy(), &rootdir, task)?;

    if !conf.options.contains_key("ostype") {
        let os = detect_ostype(Path::new(&rootdir), task)?;
        conf.set("ostype", &os);
    }
    if !conf.options.contains_key("arch") {
        let arch = if conf.options["ostype"] == "unmanaged" {
            None
        } else {
            detect_arch(Path::new(&rootdir))
        };
        match arch {
            Some(a) => {
                task.log(&format!("Detected container architecture: {a}"));
                conf.set("arch", a);
            }
            None => {
                task.log("Falling back to amd64.\nUse `pct set VMID --arch ARCH` to change.");
                conf.set("arch", "amd64");
            }
        }
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
    in_task(store::write(sim, vmid, &conf))
}

/// `create_disks`: allocates a volume for every `<storage>:<GiB>` disk and records its volume
/// ID and `size=`: an ext4 image for a sized mount point (enforced), a directory for the
/// rootfs or a size of 0 (not enforced). New volumes are added to
/// `vollist` at once, so a later failure removes them.
pub(super) fn create_disks(
    sim: &Sim,
    vmid: u32,
    conf: &mut CtConfig,
    vollist: &mut Vec<String>,
) -> std::result::Result<(), String> {
    let unprivileged = conf.options.get("unprivileged").is_some_and(|u| u == "1");
    // `foreach_volume` order: rootfs, then mp0, mp1, ... (disk numbers follow it).
    let mut keys: Vec<String> = conf
        .options
        .keys()
        .filter(|k| k.starts_with("mp"))
        .cloned()
        .collect();
    keys.sort_by_key(|k| k[2..].parse::<u32>().unwrap_or(u32::MAX));
    keys.insert(0, "rootfs".into());
    for k in keys {
        let fmt = if k == "rootfs" {
            &ROOTFS_FORMAT
        } else {
            &MP_FORMAT
        };
        let mut props = fmt
            .parse(&conf.options[&k])
            .map_err(|e| format!("{k}: {e}"))?;
        let Some((sid, gib)) = new_disk(&props["volume"]) else {
            continue;
        };
        let bytes = (gib * f64::from(1u32 << 30)) as u64;
        // A sized mount point is an ext4 image that enforces its size (storage/image.rs); the
        // rootfs stays a directory, its size recorded only.
        if k != "rootfs" && bytes > 0 {
            let owner = if unprivileged { CT_ROOT } else { 0 };
            let volid = storage::alloc_image(sim, sid, vmid, bytes, owner)?;
            vollist.push(volid.clone());
            props.insert("volume".into(), volid);
            props.insert("size".into(), confkeys::format_size(bytes));
            conf.set(&k, &fmt.print(&props).map_err(|e| format!("{k}: {e}"))?);
            continue;
        }
        let volid = storage::alloc_volume(sim, sid, vmid)?;
        vollist.push(volid.clone());
        if unprivileged {
            // The volume's root belongs to the CT's root, so that the extraction (and the CT)
            // running in the user namespace can write to it.
            let dir = storage::data_path(sim, &volid)?;
            nix::unistd::chown(
                &dir,
                Some(nix::unistd::Uid::from_raw(CT_ROOT)),
                Some(nix::unistd::Gid::from_raw(CT_ROOT)),
            )
            .map_err(|e| format!("unable to chown '{}' - {e}", dir.display()))?;
        }
        props.insert("volume".into(), volid);
        props.insert("size".into(), confkeys::format_size(bytes));
        conf.set(&k, &fmt.print(&props).map_err(|e| format!("{k}: {e}"))?);
    }
    Ok(())
}

/// Unpacks the template into the rootfs directory, keeping existing files and skipping `/dev`
/// contents (a bind rootfs is a host directory: nothing in it is replaced or removed).
pub(super) fn extract(
    sim: &Sim,
    conf: &CtConfig,
    archive: &str,
    rootdir: &str,
    task: &mut Task,
) -> std::result::Result<(), String> {
    let comp = compression_flag(archive)?;
    let unprivileged = conf.options.get("unprivileged").is_some_and(|u| u == "1");
    let passthrough = ROOTFS_FORMAT
        .parse(&conf.options["rootfs"])
        .ok()
        .and_then(|m| m.get("idmap").cloned())
        .is_some_and(|i| i == "passthrough");
    let in_userns = unprivileged && !passthrough;
    // In the user namespace, tar starts in the target directory (`-C .`): the CT's root may
    // not be able to traverse the host directories above it (a 0700 temp dir in tests).
    let target = if in_userns { "." } else { rootdir };
    let mut argv: Vec<String> = Vec::new();
    if in_userns {
        argv.extend(
            [
                "lxc-usernsexec",
                "-m",
                "u:0:100000:65536",
                "-m",
                "g:0:100000:65536",
                "--",
            ]
            .map(String::from),
        );
    }
    argv.extend(["tar", "xpf", "-"].map(String::from));
    argv.extend(comp.map(String::from));
    argv.push("--totals".into());
    argv.extend(COMMON_TAR_FLAGS.iter().map(|s| s.to_string()));
    argv.extend(
        [
            "-C",
            target,
            "--skip-old-files",
            "--anchored",
            "--exclude",
            "./dev/*",
        ]
        .map(String::from),
    );
    let cmdline = argv.join(" ");

    task.log(&format!("extracting archive '{archive}'"));
    if sim.fails("create") {
        return Err(format!("command '{cmdline}' failed: exit code 2"));
    }
    let input = File::open(archive).map_err(|e| format!("unable to open '{archive}' - {e}"))?;
    // The task's stdout and stderr both end up on pct's stdout.
    let out = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(rootdir)
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .status()
        .map_err(|e| format!("command '{cmdline}' failed: {e}"))?;
    if !status.success() {
        return Err(format!(
            "command '{cmdline}' failed: exit code {}",
            status.code().unwrap_or(-1)
        ));
    }
    Ok(())
}

/// OS detection from `/etc/os-release` or legacy release files (`PVE::LXC::Setup`).
fn detect_ostype(root: &Path, task: &mut Task) -> std::result::Result<String, String> {
    if let Ok(text) = std::fs::read_to_string(root.join("etc/os-release")) {
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("ID="))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        let os = match id.as_str() {
            "rocky" | "almalinux" => "centos",
            "arch" => "archlinux",
            i if i.starts_with("opensuse") || i == "sles" => "opensuse",
            i if confkeys::OSTYPES.contains(&i) && i != "unmanaged" => i,
            _ => return Err("unable to detect OS distribution".into()),
        };
        return Ok(os.to_string());
    }
    for (file, os) in [
        ("etc/debian_version", "debian"),
        ("etc/alpine-release", "alpine"),
        ("etc/arch-release", "archlinux"),
        ("etc/fedora-release", "fedora"),
        ("etc/redhat-release", "centos"),
        ("etc/gentoo-release", "gentoo"),
        ("etc/SuSE-release", "opensuse"),
    ] {
        if root.join(file).exists() {
            return Ok(os.to_string());
        }
    }
    task.warn("unable to detect OS distribution, using 'unmanaged'");
    Ok("unmanaged".into())
}

/// Architecture of the rootfs's `/bin/sh` from its ELF header.
fn detect_arch(root: &Path) -> Option<&'static str> {
    let mut sh = root.join("bin/sh");
    for _ in 0..8 {
        match std::fs::read_link(&sh) {
            Ok(target) if target.is_absolute() => sh = root.join(target.strip_prefix("/").ok()?),
            Ok(target) => sh = sh.parent()?.join(target),
            Err(_) => break,
        }
    }
    let data = std::fs::read(&sh).ok()?;
    if data.len() < 20 || &data[..4] != b"\x7fELF" {
        return None;
    }
    let class64 = data[4] == 2;
    match u16::from_le_bytes([data[18], data[19]]) {
        0x3e => Some("amd64"),
        0x03 => Some("i386"),
        0xb7 => Some("arm64"),
        0x28 => Some("armhf"),
        0xf3 if class64 => Some("riscv64"),
        0xf3 => Some("riscv32"),
        _ => None,
    }
}

/// Reserves the VMID for `create_vm` (`verb`: `create` or `restore`): `lock: create` written
/// exclusively under the config lock, refused when any node has the VMID.
pub(super) fn reserve_vmid(sim: &Sim, vmid: u32, verb: &str) -> Result<()> {
    let _lock = store::lock(sim, vmid)?;
    let exists = |node: String| {
        Failure::die(format!(
            "unable to {verb} CT {vmid} - CT {vmid} already exists on node '{node}'"
        ))
    };
    if let Some(node) = store::owner_node(sim, vmid) {
        return Err(exists(node));
    }
    let mut reserve = CtConfig::default();
    reserve.set("lock", "create");
    if !store::write_new(sim, vmid, &reserve)? {
        return Err(exists(sim.node.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names() {
        assert_eq!(compression_flag("/t/empty.tar"), Ok(None));
        assert_eq!(compression_flag("/t/a.tar.zst"), Ok(Some("--zstd")));
        assert_eq!(compression_flag("/t/a.tar.gz"), Ok(Some("-z")));
        assert_eq!(
            compression_flag("/t/a.tar.foo"),
            Err("unrecognized compression format: .foo".into())
        );
        assert_eq!(
            compression_flag("/t/a.zip"),
            Err("file does not look like a template archive: /t/a.zip".into())
        );
        assert!(compression_flag("/t.tar/a").is_err());
    }

    #[test]
    fn new_disk_syntax() {
        assert_eq!(new_disk("local:8"), Some(("local", 8.0)));
        assert_eq!(new_disk("local:0.5"), Some(("local", 0.5)));
        assert_eq!(new_disk("local:vztmpl/x.tar"), None);
        assert_eq!(new_disk("local:1e3"), None);
        assert!(is_gib("4") && !is_gib("4.") && !is_gib("-1"));
    }
}
