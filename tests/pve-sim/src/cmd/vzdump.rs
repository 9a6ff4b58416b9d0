//! `vzdump <vmid> [--storage S] [--mode snapshot|suspend|stop] [--compress 0|gzip|zstd]
//! [--dumpdir D]` for one CT (pve-manager PVE/VZDump.pm `exec_backup_task`, pve-container
//! src/PVE/VZDump/LXC.pm). The archive is a real tar: `./etc/vzdump/pct.conf` and
//! `./etc/vzdump/pct.fw` first, then the CT's file tree, as its root sees it (tar runs in the
//! CT's user namespace, `userns_cmd`).
//!
//! Modes, for a running CT: `snapshot` needs storage snapshots, which no sim storage has (the
//! sim's `local-lvm` is a directory, not a thin LV), so it fails with `mode failure - some
//! volumes do not support snapshots` and VZDump.pm falls back to `suspend`; `suspend` copies the
//! tree with rsync from `/proc/<pid>/root`, freezes the CT (`lxc-freeze`), copies again and
//! thaws it; `stop` shuts the CT down, copies its volumes and starts it again. A stopped CT is
//! always backed up in `stop` mode. Where Proxmox mounts volumes at `/mnt/vzsnap0` (stop) the
//! sim copies them into the temporary directory with rsync as suspend mode does.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use crate::sim::Sim;
use crate::{ct, storage, store};

/// What `vzdump` was asked.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub vmid: u32,
    pub storage: Option<String>,
    pub mode: String,
    /// `0`, `gzip` or `zstd` (`compress`).
    pub compress: String,
    pub dumpdir: Option<PathBuf>,
    /// Minutes a `stop` mode shutdown may take before the CT is killed (`stopwait`, 10).
    pub stopwait: u64,
    /// The command line, for `starting new backup job: ...`.
    pub cmdline: String,
}

/// `debugmsg('info', ...)`: every log line goes to stderr (the task log in a worker) and into
/// the archive's `.log` file.
struct Log {
    lines: Vec<String>,
}

impl Log {
    fn info(&mut self, msg: &str) {
        let line = format!("INFO: {msg}");
        eprintln!("{line}");
        self.lines.push(line);
    }
}

/// `strftime("%Y_%m_%d-%H_%M_%S")` of now in UTC (the sim's node clock is UTC).
fn timestamp(fmt_dash: bool) -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    if fmt_dash {
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}")
    } else {
        format!("{y:04}_{mo:02}_{d:02}-{h:02}_{m:02}_{s:02}")
    }
}

/// `compressor_info`: the compressor command and the archive's extension.
fn compressor(c: &str) -> Result<(Option<&'static [&'static str]>, &'static str), String> {
    match c {
        "0" | "" => Ok((None, "tar")),
        "gzip" | "1" => Ok((Some(&["gzip", "--rsyncable"]), "tar.gz")),
        "zstd" => Ok((Some(&["zstd", "--threads=1"]), "tar.zst")),
        other => Err(format!("unknown compression method '{other}'")),
    }
}

/// The mount points going into the archive (`foreach_mountpoint` + `mountpoint_backup_enabled`):
/// rootfs always, a volume `mpN` with `backup=1`; (name, mount path, data directory).
fn disks(
    sim: &Sim,
    conf: &CtConfig,
    log: &mut Log,
) -> Result<Vec<(String, String, PathBuf)>, String> {
    let mut keys: Vec<&String> = conf.options.keys().filter(|k| is_mp(k)).collect();
    keys.sort_by_key(|k| k[2..].parse::<u32>().unwrap_or(u32::MAX));
    let mut out = Vec::new();
    let root = ROOTFS_FORMAT
        .parse(conf.options.get("rootfs").map_or("", String::as_str))
        .map_err(|e| format!("rootfs: {e}"))?;
    out.push((
        "rootfs".into(),
        "/".into(),
        volume_dir(sim, &root["volume"])?,
    ));
    for k in keys {
        let mp = MP_FORMAT
            .parse(&conf.options[k])
            .map_err(|e| format!("{k}: {e}"))?;
        let path = mp.get("mp").cloned().unwrap_or_default();
        let volume = mp.get("volume").cloned().unwrap_or_default();
        let kind = if volume.starts_with('/') {
            "bind"
        } else {
            "volume"
        };
        if kind != "volume" || mp.get("backup").is_none_or(|b| b != "1") {
            log.info(&format!(
                "excluding {kind} mount point {k} ('{path}') from backup"
            ));
            continue;
        }
        out.push((k.clone(), path, volume_dir(sim, &volume)?));
    }
    Ok(out)
}

fn is_mp(k: &str) -> bool {
    k.strip_prefix("mp")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn volume_dir(sim: &Sim, volume: &str) -> Result<PathBuf, String> {
    if volume.starts_with('/') {
        return Ok(PathBuf::from(volume));
    }
    storage::data_path(sim, volume)
}

/// Sets or clears `lock: backup` (`lock_vm` / `unlock_vm`).
fn set_lock(sim: &Sim, vmid: u32, on: bool) -> Result<(), String> {
    let _l = super::in_task(store::lock(sim, vmid))?;
    let (mut conf, _) = super::in_task(store::load_quiet(sim, vmid))?;
    if on {
        super::task_check_lock(&conf)?;
        conf.set("lock", "backup");
    } else if conf.lock() == Some("backup") {
        conf.options.remove("lock");
    }
    super::in_task(store::write(sim, vmid, &conf))
}

fn run_cmd(argv: &[&str]) -> Result<(), String> {
    let st = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("command '{}' failed: {e}", argv.join(" ")))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!(
            "command '{}' failed: exit code {}",
            argv.join(" "),
            st.code().unwrap_or(-1)
        ))
    }
}

/// `$rsync_vm`: every disk to `to<mp>`, keeping ids, hard links, ACLs and xattrs.
fn rsync(
    log: &mut Log,
    disks: &[(String, String, PathBuf)],
    from: &dyn Fn(&(String, String, PathBuf)) -> PathBuf,
    to: &Path,
    text: &str,
) -> Result<(), String> {
    let shown = from(&disks[0]);
    log.info(&format!(
        "starting {text} sync {}/ to {}",
        shown.display(),
        to.display()
    ));
    let start = Instant::now();
    for d in disks {
        let dest = to.join(d.1.trim_start_matches('/'));
        fs::create_dir_all(&dest).map_err(|e| format!("mkdir '{}' - {e}", dest.display()))?;
        let src = format!("{}/", from(d).display());
        let dest = format!("{}/", dest.display());
        run_cmd(&[
            "rsync",
            "--stats",
            "-X",
            "-A",
            "--numeric-ids",
            "-aH",
            "--delete",
            "--one-file-system",
            &src,
            &dest,
        ])?;
    }
    log.info(&format!(
        "{text} sync finished ({} seconds)",
        start.elapsed().as_secs()
    ));
    Ok(())
}

/// Runs the backup; returns the archive's path. Each failure is `Backup of VM <vmid> failed -
/// <reason>` in the log, and the function's error.
pub fn run(sim: &Sim, job: &Job) -> Result<PathBuf, String> {
    let mut log = Log { lines: Vec::new() };
    log.info(&format!("starting new backup job: {}", job.cmdline));
    let vmid = job.vmid;
    // `exec_backup`: a guest that is not in the cluster's VM list.
    if store::owner_node(sim, vmid).is_none() {
        let msg = format!("unable to find VM {vmid}");
        eprintln!("ERROR: Backup of VM {vmid} failed - {msg}");
        return Err(msg);
    }
    // Where the archive goes: --dumpdir, else the storage's `dump/` (`storage` defaults to
    // `local` when neither is given, as vzdump.conf's default does).
    let (dumpdir, _sid) = match (&job.dumpdir, &job.storage) {
        (Some(d), _) => (d.clone(), None),
        (None, s) => {
            let sid = s.clone().unwrap_or_else(|| "local".into());
            let st = storage::storage_config(sim, &sid)?;
            if !st.allows("backup") {
                return Err(format!("storage '{sid}' does not support vzdump backups"));
            }
            (storage::subdir(&st, "backup")?, Some(sid))
        }
    };
    fs::create_dir_all(&dumpdir)
        .map_err(|e| format!("unable to create '{}' - {e}", dumpdir.display()))?;
    let (comp, ext) = compressor(&job.compress)?;
    log.info(&format!("Starting Backup of VM {vmid} (lxc)"));
    log.info(&format!("Backup started at {}", timestamp(true)));
    let started = Instant::now();
    let basename = format!("vzdump-lxc-{vmid}-{}", timestamp(false));
    let archive = dumpdir.join(format!("{basename}.{ext}"));
    let tmpdir = PathBuf::from(format!("/var/tmp/vzdumptmp{}_{vmid}", std::process::id()));
    let res = backup(sim, job, &mut log, &archive, comp, &tmpdir);
    let _ = fs::remove_dir_all(&tmpdir);
    let _ = set_lock(sim, vmid, false);
    match &res {
        Ok(()) => {
            let secs = started.elapsed().as_secs();
            log.info(&format!(
                "Finished Backup of VM {vmid} ({:02}:{:02}:{:02})",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            ));
            log.info(&format!("Backup finished at {}", timestamp(true)));
            log.info("Backup job finished successfully");
            let _ = fs::write(
                dumpdir.join(format!("{basename}.log")),
                log.lines.join("\n") + "\n",
            );
        }
        Err(e) => {
            let _ = fs::remove_file(&archive);
            let _ = fs::remove_file(archive.with_extension(format!("{ext}.tmp")));
            eprintln!("ERROR: Backup of VM {vmid} failed - {e}");
        }
    }
    res.map(|()| archive)
}

fn backup(
    sim: &Sim,
    job: &Job,
    log: &mut Log,
    archive: &Path,
    comp: Option<&[&str]>,
    tmpdir: &Path,
) -> Result<(), String> {
    let vmid = job.vmid;
    let running = ct::is_running(sim, vmid);
    log.info(&format!(
        "status = {}",
        if running { "running" } else { "stopped" }
    ));
    set_lock(sim, vmid, true)?;
    let (conf, _) = super::in_task(store::load_quiet(sim, vmid))?;
    let prepare = |log: &mut Log| -> Result<Vec<(String, String, PathBuf)>, String> {
        if let Some(h) = conf.options.get("hostname") {
            log.info(&format!("CT Name: {h}"));
        }
        let d = disks(sim, &conf, log)?;
        for (name, mp, _) in &d {
            log.info(&format!("including mount point {name} ('{mp}') in backup"));
        }
        Ok(d)
    };
    let mut mode = if running { job.mode.as_str() } else { "stop" };
    let mut d = prepare(log)?;
    if mode == "snapshot" {
        // No sim storage has the `snapshot` feature (see the module comment).
        log.info("mode failure - some volumes do not support snapshots");
        log.info("trying 'suspend' mode instead");
        mode = "suspend";
        d = prepare(log)?;
    }
    log.info(&format!("backup mode: {mode}"));
    log.info("ionice priority: 7");
    fs::create_dir_all(tmpdir).map_err(|e| format!("mkdir '{}' - {e}", tmpdir.display()))?;
    // The CT's root reads it in its user namespace.
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(tmpdir, fs::Permissions::from_mode(0o755));
    let mut restart = false;
    match mode {
        "suspend" => {
            let pid = ct::pid(sim, vmid).ok_or_else(|| format!("CT {vmid} not running"))?;
            let proc_root = move |disk: &(String, String, PathBuf)| {
                PathBuf::from(format!("/proc/{pid}/root{}", disk.1.trim_end_matches('/')))
            };
            rsync(log, &d, &proc_root, &tmpdir.join("root"), "first")?;
            log.info("suspending guest");
            let lxcpath = sim.lxc_path().to_string_lossy().into_owned();
            let id = vmid.to_string();
            run_cmd(&["lxc-freeze", "-n", &id, "-P", &lxcpath])?;
            let t = Instant::now();
            let r = rsync(log, &d, &proc_root, &tmpdir.join("root"), "final");
            log.info("resuming guest");
            run_cmd(&["lxc-unfreeze", "-n", &id, "-P", &lxcpath])?;
            r?;
            log.info(&format!(
                "guest is online again after {} seconds",
                t.elapsed().as_secs()
            ));
        }
        "stop" => {
            if running {
                log.info("stopping virtual guest");
                // `vm_stop` with the stopwait timeout; lxc-stop takes no zero timeout.
                if job.stopwait == 0 {
                    ct::hard_stop(sim, vmid)?;
                } else {
                    ct::shutdown(sim, vmid, job.stopwait * 60, true)?;
                }
                restart = true;
            }
            let t = Instant::now();
            // The stopped CT's image volumes are read mounted, as `mount_all` does on a node.
            let mounted = super::start::mount_images(sim, &conf)?;
            let dirs = |disk: &(String, String, PathBuf)| disk.2.clone();
            let r = rsync(log, &d, &dirs, &tmpdir.join("root"), "first");
            for m in &mounted {
                storage::image::umount(m);
            }
            if restart {
                log.info("restarting vm");
                start_ct(vmid)?;
                log.info(&format!(
                    "guest is online again after {} seconds",
                    t.elapsed().as_secs()
                ));
            }
            r?;
        }
        other => return Err(format!("unknown mode '{other}'")),
    }
    // `assemble`: the config without lock, snapshots, parent and pending; the firewall file.
    let etc = tmpdir.join("conf/etc/vzdump");
    fs::create_dir_all(&etc).map_err(|e| format!("mkdir '{}' - {e}", etc.display()))?;
    let mut saved = conf.clone();
    saved.options.remove("lock");
    saved.options.remove("parent");
    saved.pending.clear();
    saved.pending_delete.clear();
    fs::write(etc.join("pct.conf"), saved.to_conf_string())
        .map_err(|e| format!("unable to write pct.conf - {e}"))?;
    let fw = sim.pve_dir().join(format!("firewall/{vmid}.fw"));
    fs::write(etc.join("pct.fw"), fs::read(fw).unwrap_or_default())
        .map_err(|e| format!("unable to write pct.fw - {e}"))?;

    log.info(&format!("creating vzdump archive '{}'", archive.display()));
    let size = archive_tree(&conf, tmpdir, archive, comp)?;
    log.info(&format!("archive file size: {}", human(size)));
    Ok(())
}

/// `pct start --skiplock` of this sim (`systemctl start pve-container@<vmid>` on a node, which
/// does not look at the config lock).
fn start_ct(vmid: u32) -> Result<(), String> {
    let pct = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("pct")))
        .unwrap_or_else(|| PathBuf::from("pct"));
    let out = Command::new(&pct)
        .args(["start", &vmid.to_string(), "--skiplock"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("command 'systemctl start pve-container@{vmid}' failed: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "command 'systemctl start pve-container@{vmid}' failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `tar cpf - --totals <COMMON_TAR_FLAGS> --one-file-system ...` piped into the compressor,
/// in the CT's user namespace for an unprivileged CT; returns the archive's size.
fn archive_tree(
    conf: &CtConfig,
    tmpdir: &Path,
    archive: &Path,
    comp: Option<&[&str]>,
) -> Result<u64, String> {
    let unprivileged = conf.options.get("unprivileged").is_some_and(|u| u == "1");
    let mut argv: Vec<String> = Vec::new();
    if unprivileged {
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
    argv.extend(["tar", "cpf", "-", "--totals"].map(String::from));
    argv.extend(
        super::create::COMMON_TAR_FLAGS
            .iter()
            .map(|s| s.to_string()),
    );
    if unprivileged {
        argv.extend(["--no-anchored", "--exclude=lost+found", "--anchored"].map(String::from));
    }
    argv.extend(
        [
            "--one-file-system",
            "--warning=no-file-ignored",
            // The config first (`extract_vzdump_config_tar` reads the start), then the tree;
            // the second directory is relative to the first.
            "--directory=conf",
            "./etc/vzdump/pct.conf",
            "./etc/vzdump/pct.fw",
            "--directory=../root",
            ".",
        ]
        .map(String::from),
    );
    let tmp = archive.with_file_name(format!(
        "{}.tmp",
        archive.file_name().unwrap_or_default().to_string_lossy()
    ));
    let out = fs::File::create(&tmp)
        .map_err(|e| format!("unable to create '{}' - {e}", tmp.display()))?;
    let cmdline = argv.join(" ");
    let mut tar = Command::new(&argv[0]);
    tar.args(&argv[1..])
        // The user namespace's root may not traverse the host directories above it.
        .current_dir(tmpdir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let ok = match comp {
        None => tar
            .stdout(out)
            .status()
            .map_err(|e| format!("command '{cmdline}' failed: {e}"))?
            .success(),
        Some(c) => {
            let mut t = tar
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("command '{cmdline}' failed: {e}"))?;
            let input = t.stdout.take().map_or(Stdio::null(), Stdio::from);
            let z = Command::new(c[0])
                .args(&c[1..])
                .stdin(input)
                .stdout(out)
                .status()
                .map_err(|e| format!("command '{}' failed: {e}", c.join(" ")))?;
            let t = t.wait().map_err(|e| e.to_string())?;
            t.success() && z.success()
        }
    };
    if !ok {
        let _ = fs::remove_file(&tmp);
        return Err(format!("command '{cmdline}' failed: exit code 2"));
    }
    fs::rename(&tmp, archive).map_err(|e| format!("rename '{}' - {e}", tmp.display()))?;
    Ok(fs::metadata(archive).map(|m| m.len()).unwrap_or(0))
}

/// `format_size`: `<n>MB`/`<n>GB` as vzdump logs the archive size.
fn human(size: u64) -> String {
    let kb = size as f64 / 1024.0;
    if kb < 1024.0 {
        format!("{}KB", kb as u64)
    } else if kb < 1024.0 * 1024.0 {
        format!("{:.0}MB", kb / 1024.0)
    } else {
        format!("{:.2}GB", kb / 1024.0 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compressors() {
        assert_eq!(super::compressor("zstd").unwrap().1, "tar.zst");
        assert_eq!(super::compressor("0").unwrap().1, "tar");
        assert!(super::compressor("lz4").is_err());
        assert_eq!(super::timestamp(false).len(), 19);
    }
}
