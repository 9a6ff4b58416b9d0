//! `pct create <vmid> <ostemplate> [OPTIONS]` (`create_vm`, reference §1.2, §2.8, §6).

use std::fs::File;
use std::os::unix::io::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};

use proxmox_lxcri::pve::confkeys::{self, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use super::{in_task, run_task, Task};
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::store;

/// Parameters of create that are not config keys.
const CREATE_ONLY: &[&str] = &[
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

const COMMON_TAR_FLAGS: &[&str] = &[
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
fn compression_flag(archive: &str) -> std::result::Result<Option<&'static str>, String> {
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

fn volume_error(volume: &str) -> Failure {
    match volume.split_once(':') {
        Some((sid, _)) => Failure::die(format!("storage '{sid}' does not exist")),
        None => Failure::die(format!("unable to parse volume ID '{volume}'")),
    }
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    if p.flag("restore") {
        return Err(Failure::die("pve-sim: 'pct restore' is not simulated"));
    }
    if let Some(node) = store::owner_node(sim, vmid) {
        return Err(Failure::die(format!(
            "CT {vmid} already exists on node '{node}'"
        )));
    }

    // Storage: the sim has none, so only directory (bind) volumes work.
    let storage = p.get("storage").unwrap_or("local");
    let Some(rootfs) = p.get("rootfs") else {
        return Err(Failure::Param {
            errors: vec![(
                "storage".into(),
                format!("storage '{storage}' does not support container directories"),
            )],
            usage: "pct create <vmid> <ostemplate> [OPTIONS]".into(),
        });
    };
    for (k, v) in p
        .opts
        .iter()
        .filter(|(k, _)| *k == "rootfs" || k.starts_with("mp"))
    {
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
            return Err(volume_error(&vol));
        }
    }
    let _ = rootfs;

    let template = &p.args["ostemplate"];
    if template == "-" {
        return Err(Failure::die("pve-sim: restore from stdin is not simulated"));
    }
    if !template.starts_with('/') {
        return Err(volume_error(template));
    }
    if !Path::new(template).is_file() {
        return Err(Failure::die(format!("can't find file '{template}'")));
    }

    // Reserve the VMID: `lock: create` written exclusively under the config lock.
    {
        let _lock = store::lock(sim, vmid)?;
        let exists = |node: String| {
            Failure::die(format!(
                "unable to create CT {vmid} - CT {vmid} already exists on node '{node}'"
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
    }

    run_task(|task| {
        let _lock = in_task(store::lock(sim, vmid))?;
        create_task(sim, p, template, task).map_err(|e| {
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
    template: &str,
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
    conf.options
        .entry("unprivileged".into())
        .or_insert_with(|| "1".into());
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

    let rootdir = ROOTFS_FORMAT
        .parse(&conf.options["rootfs"])
        .map_err(|e| e.to_string())?["volume"]
        .clone();
    if !Path::new(&rootdir).is_dir() {
        return Err(format!("directory '{rootdir}' does not exist"));
    }
    extract(sim, &conf, template, &rootdir, task)?;

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

/// Unpacks the template into the rootfs directory, keeping existing files and skipping `/dev`
/// contents (a bind rootfs is a host directory: nothing in it is replaced or removed).
fn extract(
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
    let mut argv: Vec<String> = Vec::new();
    if unprivileged && !passthrough {
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
            rootdir,
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
}
