//! `pct migrate <vmid> <target> [--restart B] [--online B] [--timeout N] [--target-storage MAP]
//! [--bwlimit N]`: moving a CT to another member of the cluster.
//!
//! The checks before the task are pve-container src/PVE/API2/LXC.pm `migrate_vm` (shared with
//! the API's `POST …/lxc/{vmid}/migrate`); the task is src/PVE/LXC/Migrate.pm (`prepare`,
//! `phase1`, `phase3`, `final_cleanup`) driven by pve-guest-common src/PVE/AbstractMigrate.pm
//! `migrate`, whose log lines it prints. All nodes of the sim share this machine, so a local
//! volume needs no copy: it is "copied" under its own name, which is what `storage_migrate`
//! with `allow_rename` gives on an empty target. Commands Proxmox runs on the target over SSH
//! (`pct unlock`, `pct start`) run as the sim's `pct` with `PVE_SIM_NODE` set to the target.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use proxmox_lxcri::pve::confkeys::{MP_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use super::in_task;
use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::{shell_quote, Sim};
use crate::{cluster, ct, storage, store};

/// The options of a migration, as `migrate_vm` takes them.
#[derive(Debug, Default, Clone)]
pub struct Opts {
    pub restart: bool,
    pub online: bool,
    /// Shutdown timeout of a restart migration (default 180).
    pub timeout: Option<u64>,
    /// `--target-storage`: a storage ID, `SRC:DST` pairs, or `1` (each to itself).
    pub target_storage: Option<String>,
}

impl Opts {
    fn of(p: &Params) -> Opts {
        Opts {
            restart: p.flag("restart"),
            online: p.flag("online"),
            timeout: p.get("timeout").and_then(|t| t.parse().ok()),
            target_storage: p.get("target-storage").map(str::to_string),
        }
    }
}

/// A parsed `--target-storage` (pve-common src/PVE/JSONSchema.pm `parse_idmap`).
#[derive(Debug, Default)]
struct StorageMap {
    entries: BTreeMap<String, String>,
    default: Option<String>,
    identity: bool,
}

impl StorageMap {
    fn parse(text: &str) -> std::result::Result<StorageMap, String> {
        let mut map = StorageMap::default();
        for item in text.split([',', ';', ' ']).filter(|s| !s.is_empty()) {
            if item == "1" {
                map.identity = true;
                continue;
            }
            match item.split_once(':') {
                Some((src, dst)) => {
                    for id in [src, dst] {
                        if !storage::valid_storage_id(id) {
                            return Err(format!("invalid format - storage ID '{id}'"));
                        }
                    }
                    if map.entries.insert(src.into(), dst.into()).is_some() {
                        return Err(format!("duplicate mapping for source '{src}'"));
                    }
                }
                None => {
                    if !storage::valid_storage_id(item) {
                        return Err(format!("invalid format - storage ID '{item}'"));
                    }
                    if map.default.replace(item.into()).is_some() {
                        return Err("default target ID can only be provided once".into());
                    }
                }
            }
        }
        Ok(map)
    }

    /// `map_id`: the target of `sid`.
    fn map(&self, sid: &str) -> String {
        self.entries
            .get(sid)
            .or(self.default.as_ref())
            .cloned()
            .unwrap_or_else(|| sid.to_string())
    }

    fn targets(&self) -> Vec<&String> {
        self.entries.values().chain(self.default.iter()).collect()
    }
}

/// `$check_storage_access_migrate` (pve-container src/PVE/API2/LXC.pm): the target storage
/// exists, is enabled and holds CT volumes.
fn check_target_storage(sim: &Sim, sid: &str) -> std::result::Result<(), String> {
    let st = storage::storage_config(sim, sid)?;
    if st.disabled {
        return Err(format!("storage '{sid}' is disabled"));
    }
    if !st.allows("rootdir") {
        return Err(format!("storage '{sid}' does not support CT rootdirs"));
    }
    Ok(())
}

/// `migrate_vm`'s checks, in its order, before any task: the target is not this node, the
/// cluster is quorate, the target is a member, the CT exists, a running CT needs `restart` (or
/// `online`), the target storages are usable.
pub fn precheck(sim: &Sim, vmid: u32, target: &str, o: &Opts) -> Result<()> {
    if target == sim.node {
        return Err(Failure::Param {
            errors: vec![("target".into(), "target is local node.".into())],
            usage: "pct migrate <vmid> <target> [OPTIONS]".into(),
        });
    }
    if !sim.quorate() || !cluster::quorate(sim, &cluster::members(sim)) {
        return Err(Failure::die(cluster::NO_QUORUM));
    }
    if !cluster::members(sim).iter().any(|m| m == target) {
        return Err(Failure::die(format!("no such cluster node '{target}'")));
    }
    store::load_quiet(sim, vmid)?;
    if ct::is_running(sim, vmid) && !o.online && !o.restart {
        return Err(Failure::die(
            "can't migrate running container without --online or --restart",
        ));
    }
    if let Some(text) = &o.target_storage {
        let map = StorageMap::parse(text).map_err(|e| Failure::Param {
            errors: vec![(
                "target-storage".into(),
                format!("failed to parse storage map: {e}"),
            )],
            usage: "pct migrate <vmid> <target> [OPTIONS]".into(),
        })?;
        for sid in map.targets() {
            check_target_storage(sim, sid).map_err(Failure::die)?;
        }
    }
    Ok(())
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let target = p.args.get("target").cloned().unwrap_or_default();
    let o = Opts::of(p);
    precheck(sim, p.vmid, &target, &o)?;
    use std::io::Write;
    let res = worker(sim, p.vmid, &target, &o);
    let _ = std::io::stdout().flush();
    res.map_err(Failure::task)
}

/// `AbstractMigrate::log`: each line with the local time, errors marked.
fn log(level: &str, msg: &str) {
    let prefix = local_time();
    let mark = if level == "err" { " ERROR:" } else { "" };
    for line in msg.trim_end_matches('\n').lines() {
        println!("{prefix}{mark} {line}");
    }
}

/// `strftime("%F %H:%M:%S", localtime)`.
fn local_time() -> String {
    // SAFETY: time and localtime_r write into locals we own; strftime is bounded by the buffer.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        let mut buf = [0u8; 32];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%F %H:%M:%S".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// One migration, `AbstractMigrate::migrate` under `guest_migration_lock`: `Err` is the task's
/// error (`migration aborted`), after the reason was logged.
pub fn worker(sim: &Sim, vmid: u32, target: &str, o: &Opts) -> std::result::Result<(), String> {
    let started = Instant::now();
    let res = (|| {
        let _guard = migration_lock(sim, vmid)?;
        let lock = in_task(store::lock(sim, vmid))?;
        let mut m = Migration {
            sim,
            vmid,
            target,
            o,
            was_running: false,
            conf_migrated: false,
        };
        m.prepare()?;
        let phase1 = m.phase1();
        // The commands run "on the target" take that node's config lock, which is this
        // machine's in the sim.
        drop(lock);
        if let Err(e) = phase1 {
            log("err", &e);
            log("info", "aborting phase 1 - cleanup resources");
            if let Err(e2) = m.final_cleanup() {
                log("err", &e2);
            }
            return Err(e);
        }
        // phase3: the source's copies of local volumes are freed; here source and target are
        // one directory, so there is nothing to free.
        m.final_cleanup()
    })();
    let d = started.elapsed().as_secs();
    let duration = format!("{:02}:{:02}:{:02}", d / 3600, d / 60 % 60, d % 60);
    match res {
        Ok(()) => {
            log(
                "info",
                &format!("migration finished successfully (duration {duration})"),
            );
            Ok(())
        }
        Err(e) => {
            log(
                "err",
                &format!("migration aborted (duration {duration}): {}", e.trim_end()),
            );
            Err("migration aborted".into())
        }
    }
}

/// `guest_migration_lock` (pve-guest-common src/PVE/GuestHelpers.pm): `pve-migrate-<vmid>`, 10 s.
fn migration_lock(sim: &Sim, vmid: u32) -> std::result::Result<std::fs::File, String> {
    use std::os::unix::io::AsRawFd;
    let dir = sim.root.join("var/lock/pve-manager");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("pve-migrate-{vmid}"));
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("can't open file - {e}"))?;
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(f);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "can't lock file '{}' - got timeout",
                path.display()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

struct Migration<'a> {
    sim: &'a Sim,
    vmid: u32,
    target: &'a str,
    o: &'a Opts,
    was_running: bool,
    conf_migrated: bool,
}

/// A CT's mount points (`rootfs`, `mpN`, `unusedN`) as (key, volume, type), where the type is
/// `volume`, `bind` or `device` (pve-container src/PVE/LXC/Config.pm `classify_mountpoint`).
fn mount_points(conf: &CtConfig) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for (k, v) in &conf.options {
        let volume = if k == "rootfs" {
            ROOTFS_FORMAT.parse(v).ok().map(|m| m["volume"].clone())
        } else if k.starts_with("mp") {
            MP_FORMAT.parse(v).ok().map(|m| m["volume"].clone())
        } else if k.starts_with("unused") {
            Some(v.clone())
        } else {
            None
        };
        let Some(volume) = volume else { continue };
        let kind = if volume.starts_with("/dev/") {
            "device"
        } else if volume.starts_with('/') {
            "bind"
        } else {
            "volume"
        };
        out.push((k.clone(), volume, kind));
    }
    out
}

impl Migration<'_> {
    fn conf(&self) -> std::result::Result<CtConfig, String> {
        in_task(store::load_quiet(self.sim, self.vmid)).map(|(c, _)| c)
    }

    /// src/PVE/LXC/Migrate.pm `prepare`.
    fn prepare(&mut self) -> std::result::Result<(), String> {
        let (sim, vmid) = (self.sim, self.vmid);
        let conf = self.conf()?;
        if let Some(l) = conf.lock() {
            return Err(format!("CT is locked ({l})"));
        }
        let running = ct::is_running(sim, vmid);
        if running {
            if self.o.online {
                return Err("lxc live migration is currently not implemented".into());
            }
            if !self.o.restart {
                return Err("running container can only be migrated in restart mode at /usr/share/perl5/PVE/LXC/Migrate.pm line 53.".into());
            }
        }
        self.was_running = running;
        let map = match &self.o.target_storage {
            Some(t) => StorageMap::parse(t)?,
            None => StorageMap::default(),
        };
        // No storage of the sim is shared: bind and device mount points cannot follow.
        for (ms, volume, kind) in mount_points(&conf) {
            if kind != "volume" {
                return Err(format!("cannot migrate local {kind} mount point '{ms}'"));
            }
            let (sid, _) = storage::parse_volume_id(&volume)
                .map_err(|_| format!("can't determine assigned storage for mount point '{ms}'"))?;
            let scfg = storage::storage_config(sim, sid)?;
            if scfg.disabled {
                return Err(format!("storage '{sid}' is disabled"));
            }
            if !scfg.allows("rootdir") {
                return Err(format!(
                    "content type 'rootdir' is not available on storage '{sid}'"
                ));
            }
            let tsid = map.map(sid);
            let tcfg = storage::storage_config(sim, &tsid)?;
            if !tcfg.allows("rootdir") {
                return Err(format!(
                    "{volume}: content type 'rootdir' is not available on storage '{tsid}'"
                ));
            }
        }
        // The SSH test (`/bin/true` on the target): a node that is down does not answer.
        if cluster::offline(&sim.root, self.target) {
            return Err("Can't connect to destination address using public key".into());
        }
        if self.o.restart && running {
            log("info", &format!("shutdown CT {vmid}"));
            // `vm_stop($vmid, 0, $timeout)`: lxc-stop --nokill --timeout.
            ct::shutdown(sim, vmid, self.o.timeout.unwrap_or(180), false)?;
        }
        Ok(())
    }

    /// src/PVE/LXC/Migrate.pm `phase1`: lock, the local volumes, the config moved to the target.
    fn phase1(&mut self) -> std::result::Result<(), String> {
        let (sim, vmid) = (self.sim, self.vmid);
        log(
            "info",
            &format!(
                "starting migration of CT {vmid} to node '{}' ({})",
                self.target,
                self.address(self.target)
            ),
        );
        let mut conf = self.conf()?;
        conf.set("lock", "migrate");
        in_task(store::write(sim, vmid, &conf))?;
        let map = match &self.o.target_storage {
            Some(t) => StorageMap::parse(t)?,
            None => StorageMap::default(),
        };
        let mut volumes: Vec<String> = mount_points(&conf).into_iter().map(|(_, v, _)| v).collect();
        volumes.sort();
        volumes.dedup();
        for volid in &volumes {
            let r = storage::resolve(sim, volid)?;
            if r.vol.vmid != Some(vmid) {
                return Err(format!(
                    "can't migrate local volume '{volid}': owned by other guest (owner = {})",
                    r.vol.vmid.map(|v| v.to_string()).unwrap_or_default()
                ));
            }
            log(
                "info",
                &format!("found local volume '{volid}' (in current VM config)"),
            );
        }
        for volid in &volumes {
            let (sid, _) = storage::parse_volume_id(volid)?;
            let tsid = map.map(sid);
            if tsid != sid {
                return Err(format!("storage migration for '{volid}' to storage '{tsid}' failed - pve-sim: moving a volume to another storage is not simulated"));
            }
            log(
                "info",
                &format!("volume '{volid}' is '{volid}' on the target"),
            );
        }
        // `move_config_to_node` (pve-guest-common src/PVE/AbstractConfig.pm).
        let from = sim.conf_path(vmid);
        let to_dir = sim.pve_dir().join("nodes").join(self.target).join("lxc");
        let _ = std::fs::create_dir_all(&to_dir);
        std::fs::rename(&from, to_dir.join(format!("{vmid}.conf")))
            .map_err(|e| format!("failed to move config file to node '{}': {e}", self.target))?;
        self.conf_migrated = true;
        Ok(())
    }

    /// src/PVE/LXC/Migrate.pm `final_cleanup`.
    fn final_cleanup(&mut self) -> std::result::Result<(), String> {
        let vmid = self.vmid;
        log("info", "start final cleanup");
        if !self.conf_migrated {
            let mut conf = self.conf()?;
            if conf.lock() == Some("migrate") {
                conf.remove("lock");
                if let Err(e) = in_task(store::write(self.sim, vmid, &conf)) {
                    log("err", &e);
                }
            }
            if self.o.restart && self.was_running {
                log("info", "start container on source node");
                self.pct_on(
                    &self.sim.node,
                    &["start", &vmid.to_string(), "--skiplock"],
                    true,
                )?;
            }
            return Ok(());
        }
        let id = vmid.to_string();
        // `cmd_logerr`: quiet unless it fails.
        if let Err(e) = self.pct_on(self.target, &["unlock", &id], false) {
            log("err", &format!("failed to clear migrate lock: {e}"));
        }
        if self.o.restart && self.was_running {
            log("info", "start container on target node");
            self.pct_on(self.target, &["start", &id], true)?;
        }
        Ok(())
    }

    /// The member's address (`remote_node_ip`).
    fn address(&self, node: &str) -> String {
        let members = cluster::members(self.sim);
        cluster::address(members.iter().position(|m| m == node).unwrap_or(0))
    }

    /// The sim's `pct` as run on `node` (over SSH on a cluster: `cmd` logs the command line and
    /// its output when `loud`).
    fn pct_on(&self, node: &str, args: &[&str], loud: bool) -> std::result::Result<(), String> {
        let ssh = format!(
            "/usr/bin/ssh -e none -o BatchMode=yes -o HostKeyAlias={node} root@{} pct",
            self.address(node)
        );
        let line = args.iter().fold(ssh, |s, a| s + " " + &shell_quote(a));
        if loud {
            log("info", &format!("# {line}"));
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = Command::new(exe)
            .args(args)
            .env("PVE_SIM_ROOT", &self.sim.root)
            .env("PVE_SIM_NODE", node)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("command '{line}' failed: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if loud || !out.status.success() {
            for l in text.lines().filter(|l| !l.trim().is_empty()) {
                log("info", l);
            }
        }
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "command '{line}' failed: exit code {}",
                out.status.code().unwrap_or(-1)
            ))
        }
    }
}
