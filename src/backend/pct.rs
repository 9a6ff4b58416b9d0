//! The `pct` backend: `pct` on this node (docs/proxmox-facts.md). Raw `lxc.*` keys and `env` can
//! only be added by editing `<pve_dir>/lxc/<vmid>.conf`, which is done under Proxmox's own per-CT
//! config lock so that concurrent `pct` runs see a whole file. `pause`/`resume` and the live part
//! of raw cgroup keys act on the CT's cgroup on this node (see `cgroup`).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::cgroup::CtCgroup;
use super::nodever::{from_pveversion_output, Detected};
use super::run::{one_line, run, Output};
use super::{Backend, BackendError, CtStatus, TaggedCt};
use crate::config::Config;
use crate::pve::{version, CtConfig, Vmid};
use crate::vztmpl::Origin;

pub struct Pct {
    node: String,
    path: PathBuf,
    pve_dir: PathBuf,
    lock_dir: PathBuf,
    lxc_path: PathBuf,
    timeout: Duration,
    dpkg_status: PathBuf,
    pveversion: PathBuf,
    /// The empty template `pct create` needs: the rootfs is a bind mount, nothing is extracted.
    template: PathBuf,
}

/// Where the empty template lives: a root-only directory, since `pct create` unpacks it as root
/// into the container's rootfs.
const TEMPLATE: &str = "/run/proxmox-lxcri-empty.tar";

/// 20 zero blocks: a valid, empty tar archive.
const EMPTY_TAR: [u8; 10240] = [0; 10240];

impl Pct {
    pub fn new(cfg: &Config) -> Pct {
        Pct {
            node: cfg.node_name(),
            path: cfg.pct.path.clone(),
            pve_dir: cfg.pct.pve_dir.clone(),
            lock_dir: cfg.pct.lock_dir.clone(),
            lxc_path: cfg.pct.lxc_path.clone(),
            timeout: Duration::from_secs(cfg.pct.timeout),
            dpkg_status: cfg.pct.dpkg_status.clone(),
            pveversion: cfg.pct.pveversion.clone(),
            template: PathBuf::from(TEMPLATE),
        }
    }

    fn pct(&self, args: &[String]) -> Result<Output, BackendError> {
        let mut cmd = Command::new(&self.path);
        cmd.args(args);
        // pct decodes arguments with the locale; descriptions may be UTF-8.
        cmd.env("LC_ALL", "C.UTF-8");
        log::debug!("pct {}", args.join(" "));
        run(cmd, self.timeout, args.first().map_or("", String::as_str))
    }

    fn checked(&self, vmid: Vmid, args: &[String]) -> Result<Output, BackendError> {
        let out = self.pct(args)?;
        if out.status == 0 {
            return Ok(out);
        }
        Err(classify(vmid, &args[0], &out.stderr))
    }

    fn ensure_template(&self) -> Result<(), BackendError> {
        if is_empty_tar(&self.template) {
            return Ok(());
        }
        crate::sys::fs::write_atomic(&self.template, &EMPTY_TAR, 0o644)
            .map_err(|e| BackendError::Other(e.to_string()))
    }

    fn conf_path(&self, vmid: Vmid) -> PathBuf {
        self.pve_dir.join("lxc").join(format!("{vmid}.conf"))
    }

    /// Append `env` and raw `lxc.*` pairs to the CT's config file.
    fn add_raw_keys(&self, vmid: Vmid, ct: &CtConfig) -> Result<(), BackendError> {
        if ct.env.is_empty() && ct.lxc.is_empty() {
            return Ok(());
        }
        self.edit_conf(vmid, |conf| {
            conf.env.extend(ct.env.iter().cloned());
            conf.lxc.extend(ct.lxc.iter().cloned());
        })
    }

    /// Drop every line of the raw keys in `unset` and in `pairs`, then append `pairs`.
    fn replace_raw_keys(
        &self,
        vmid: Vmid,
        pairs: &[(String, String)],
        unset: &[String],
    ) -> Result<(), BackendError> {
        if pairs.is_empty() && unset.is_empty() {
            return Ok(());
        }
        self.edit_conf(vmid, |conf| replace_raw(conf, pairs, unset))
    }

    /// Change the CT's config file under its config lock; the file is replaced atomically.
    fn edit_conf(&self, vmid: Vmid, f: impl FnOnce(&mut CtConfig)) -> Result<(), BackendError> {
        let lock_path = self.lock_dir.join(format!("pve-config-{vmid}.lock"));
        let io = |what: &PathBuf| {
            let what = what.display().to_string();
            move |source| BackendError::Io { what, source }
        };
        std::fs::create_dir_all(&self.lock_dir).map_err(io(&self.lock_dir))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock_with_timeout(&lock, Duration::from_secs(10)).map_err(|_| {
            BackendError::Other(format!(
                "can't lock file '{}' - got timeout",
                lock_path.display()
            ))
        })?;
        let path = self.conf_path(vmid);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BackendError::NoSuchCt(vmid),
            _ => io(&path)(e),
        })?;
        let mut conf = CtConfig::parse(&text)
            .map_err(|e| BackendError::Other(format!("{}: {e}", path.display())))?;
        f(&mut conf);
        crate::sys::fs::write_atomic(&path, conf.to_conf_string().as_bytes(), 0o640)
            .map_err(|e| BackendError::Other(e.to_string()))
    }
}

fn replace_raw(conf: &mut CtConfig, pairs: &[(String, String)], unset: &[String]) {
    conf.lxc
        .retain(|(k, _)| !unset.contains(k) && pairs.iter().all(|(p, _)| p != k));
    conf.lxc.extend(pairs.iter().cloned());
}

/// How long freezing or thawing a CT may take before it is given up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

fn lock_with_timeout(file: &std::fs::File, timeout: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + timeout;
    loop {
        match crate::sys::fs::flock(file, true) {
            Ok(()) => return Ok(()),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return Err(()),
        }
    }
}

/// Ours and untouched: a regular root-owned file of exactly the empty archive's zero bytes.
fn is_empty_tar(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ok = std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_file() && m.uid() == 0 && m.len() == EMPTY_TAR.len() as u64);
    ok && std::fs::read(path).is_ok_and(|d| d == EMPTY_TAR)
}

/// Map pct's stderr (Proxmox's wording: docs/proxmox-facts.md) to what the caller can act on.
pub(crate) fn classify(vmid: Vmid, sub: &str, stderr: &str) -> BackendError {
    let msg = one_line(&without_our_warnings(stderr));
    super::known_error(vmid, &msg, sub == "create").unwrap_or_else(|| BackendError::Command {
        cmd: format!("pct {sub} {vmid}"),
        msg,
    })
}

/// pct's stderr without the warning every config read prints for the raw key we write on
/// purpose (`lxc.cgroup.dir.container`, src/mapping/cgroups.rs): it is not the error.
fn without_our_warnings(stderr: &str) -> String {
    let ours = format!(
        " - {} is deprecated, this will be a hard error in the future!",
        crate::mapping::cgroups::CONTAINER_DIR_KEY
    );
    stderr
        .lines()
        .filter(|l| !(l.starts_with("vm ") && l.trim_end().ends_with(&ours)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Whatever runs `pct` (here, or on the node over SSH): a failed run is already classified.
pub(crate) trait RunsPct {
    fn checked(&self, vmid: Vmid, args: &[String]) -> Result<Output, BackendError>;
}

impl RunsPct for Pct {
    fn checked(&self, vmid: Vmid, args: &[String]) -> Result<Output, BackendError> {
        Pct::checked(self, vmid, args)
    }
}

/// The `pct` calls both pct-driven backends make alike.
pub(crate) mod ops {
    use super::*;

    pub fn start(r: &impl RunsPct, vmid: Vmid) -> Result<(), BackendError> {
        r.checked(vmid, &["start".into(), vmid.to_string()])
            .map(drop)
    }

    pub fn status(r: &impl RunsPct, vmid: Vmid) -> Result<CtStatus, BackendError> {
        let out = r.checked(
            vmid,
            &["status".into(), vmid.to_string(), "--verbose".into()],
        )?;
        parse_status(&out.stdout).ok_or_else(|| {
            BackendError::Other(format!(
                "pct status {vmid}: unexpected output: {}",
                one_line(&out.stdout)
            ))
        })
    }

    /// A stopped CT is not an error.
    pub fn stop(r: &impl RunsPct, vmid: Vmid) -> Result<(), BackendError> {
        match r.checked(vmid, &["stop".into(), vmid.to_string()]) {
            Ok(_) | Err(BackendError::NotRunning(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A missing CT is not an error.
    pub fn destroy(r: &impl RunsPct, vmid: Vmid) -> Result<(), BackendError> {
        let args = ["destroy", &vmid.to_string(), "--force", "1", "--purge", "1"].map(String::from);
        match r.checked(vmid, &args) {
            Ok(_) | Err(BackendError::NoSuchCt(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Whether a CT config file's description (its leading `#` lines, percent-encoded as every
/// `pct set` rewrites it) names container `id`.
pub(crate) fn conf_names(text: &str, vmid: Vmid, id: &str) -> bool {
    let (conf, _) = CtConfig::parse_lenient(text, vmid.get());
    crate::mapping::description_names(&conf.description, id)
}

/// The VMID of a CT config file `<vmid>.conf`.
pub(crate) fn conf_vmid(path: &Path) -> Option<Vmid> {
    let name = path.file_name()?.to_str()?.strip_suffix(".conf")?;
    Vmid::new(name.parse().ok()?).ok()
}

/// `--key value` pairs for every API-settable key.
pub fn create_args(vmid: Vmid, template: &str, ct: &CtConfig) -> Vec<String> {
    let mut args = vec!["create".to_string(), vmid.to_string(), template.to_string()];
    for (k, v) in &ct.options {
        args.push(format!("--{k}"));
        args.push(v.clone());
    }
    if !ct.description.is_empty() {
        args.push("--description".into());
        args.push(ct.description.clone());
    }
    args
}

/// `pct set <vmid> --key value ...` for API keys.
pub fn set_args(vmid: Vmid, options: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut args = vec!["set".to_string(), vmid.to_string()];
    for (k, v) in options {
        args.push(format!("--{k}"));
        args.push(v.clone());
    }
    args
}

/// The init pid from `pct status --verbose` output.
pub fn parse_status(out: &str) -> Option<CtStatus> {
    let mut status = None;
    let mut pid = None;
    for line in out.lines() {
        match line.split_once(": ") {
            Some(("status", s)) => status = Some(s.trim().to_string()),
            Some(("pid", p)) => pid = p.trim().parse::<i32>().ok(),
            _ => {}
        }
    }
    match (status.as_deref(), pid) {
        (Some("running"), Some(pid)) => Some(CtStatus::Running { init_pid: pid }),
        (Some("stopped"), _) => Some(CtStatus::Stopped),
        _ => None,
    }
}

impl Backend for Pct {
    fn node_version(&self) -> Result<Detected, BackendError> {
        // Cheapest first: dpkg's status file is a read, `pveversion` a Perl start-up.
        if let Ok(text) = std::fs::read_to_string(&self.dpkg_status) {
            if let Some(version) = version::from_dpkg_status(&text) {
                return Ok(Detected {
                    version,
                    source: "dpkg".into(),
                });
            }
        }
        let mut cmd = Command::new(&self.pveversion);
        cmd.arg("--verbose");
        let out = run(cmd, self.timeout, "pveversion")?;
        let name = format!("{} --verbose", self.pveversion.display());
        if out.status != 0 {
            return Err(BackendError::Command {
                cmd: name,
                msg: one_line(&out.stderr),
            });
        }
        from_pveversion_output(&out.stdout, &name)
    }

    fn node_memory(&self) -> Option<(u64, u64)> {
        // This host is the node.
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        super::meminfo_totals(&text)
    }

    fn cgroup_mode(&self) -> crate::mapping::CgroupMode {
        // This host is the node; Proxmox looks at the file system type there too.
        match nix::sys::statfs::statfs("/sys/fs/cgroup") {
            Ok(st) if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => {
                crate::mapping::CgroupMode::Unified
            }
            Ok(_) => crate::mapping::CgroupMode::Legacy,
            Err(e) => {
                log::debug!("/sys/fs/cgroup: {e}; taking cgroup v2");
                crate::mapping::CgroupMode::Unified
            }
        }
    }

    fn template(&self, _: &Path, _: &Path, _: Origin) -> Result<String, BackendError> {
        self.ensure_template()?;
        Ok(self.template.to_string_lossy().into_owned())
    }

    fn create(&self, vmid: Vmid, template: &str, ct: &CtConfig) -> Result<(), BackendError> {
        self.checked(vmid, &create_args(vmid, template, ct))?;
        if let Err(e) = self.add_raw_keys(vmid, ct) {
            let _ = self.destroy(vmid);
            return Err(e);
        }
        Ok(())
    }

    fn start(&self, vmid: Vmid) -> Result<(), BackendError> {
        ops::start(self, vmid)
    }

    fn status(&self, vmid: Vmid) -> Result<CtStatus, BackendError> {
        // LXC answers in milliseconds; `pct status` only when LXC cannot say.
        match super::lxc_info::init_pid(vmid, &self.lxc_path, self.timeout) {
            Some(init_pid) => Ok(CtStatus::Running { init_pid }),
            None => ops::status(self, vmid),
        }
    }

    fn stop(&self, vmid: Vmid) -> Result<(), BackendError> {
        ops::stop(self, vmid)
    }

    fn is_ours(&self, vmid: Vmid, id: &str) -> Result<bool, BackendError> {
        let path = self.conf_path(vmid);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(BackendError::Io {
                    what: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(conf_names(&text, vmid, id))
    }

    fn destroy(&self, vmid: Vmid) -> Result<(), BackendError> {
        ops::destroy(self, vmid)
    }

    /// This node's CT config files (`<pve_dir>/lxc`, pmxcfs's link to the node's own directory):
    /// reads, where `pct list` would cost a Perl start-up and still not give descriptions.
    fn tagged_cts(&self) -> Result<Vec<TaggedCt>, BackendError> {
        let dir = self.pve_dir.join("lxc");
        let io = |what: &Path| {
            let what = what.display().to_string();
            move |source| BackendError::Io { what, source }
        };
        let mut files = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = e.map_err(io(&dir))?.path();
            let Some(vmid) = conf_vmid(&path) else {
                continue;
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((vmid, text)),
                // Destroyed since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(super::tagged_in_confs(
            files
                .iter()
                .map(|(v, t)| (self.node.as_str(), *v, t.as_str())),
        ))
    }

    fn update(
        &self,
        vmid: Vmid,
        init_pid: i32,
        ct: &CtConfig,
        unset: &[String],
    ) -> Result<Vec<String>, BackendError> {
        if !ct.options.is_empty() {
            self.checked(vmid, &set_args(vmid, &ct.options))?;
        }
        self.replace_raw_keys(vmid, &ct.lxc, unset)?;
        if ct.lxc.is_empty() {
            return Ok(Vec::new());
        }
        // Proxmox applies raw keys only at start; the running CT gets them from us.
        CtCgroup::of(vmid, init_pid)?.apply_raw(&ct.lxc)
    }

    // Locally, as `lxc-freeze` would: `pct suspend` is a CRIU checkpoint, not a freeze.
    fn freeze(&self, vmid: Vmid, init_pid: i32) -> Result<(), BackendError> {
        CtCgroup::of(vmid, init_pid)?.freeze(FREEZE_TIMEOUT)
    }

    fn thaw(&self, vmid: Vmid, init_pid: i32) -> Result<(), BackendError> {
        CtCgroup::of(vmid, init_pid)?.thaw(FREEZE_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmid() -> Vmid {
        Vmid::new(100123).unwrap()
    }

    #[test]
    fn node_version_from_dpkg_status_then_pveversion() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.pct.dpkg_status = dir.path().join("status");
        cfg.pct.pveversion = dir.path().join("pveversion");
        let pct = Pct::new(&cfg);
        // Neither: an error naming pveversion.
        let e = pct.node_version().unwrap_err().to_string();
        assert!(e.contains("pveversion"), "{e}");
        // pveversion only.
        let script = dir.path().join("pveversion");
        std::fs::write(&script, "#!/bin/sh\n[ \"$1\" = --verbose ] && echo 'pve-manager: 9.0.10 (running version: 9.0.10/x)' && echo 'pve-container: 6.0.9'\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let d = pct.node_version().unwrap();
        assert_eq!(
            (d.version.to_string(), d.source.as_str()),
            ("6.0.9".into(), "pveversion")
        );
        // dpkg's status file wins, without a process.
        std::fs::write(
            dir.path().join("status"),
            "Package: pve-container\nStatus: install ok installed\nVersion: 6.1.10\n",
        )
        .unwrap();
        std::fs::remove_file(&script).unwrap();
        let d = pct.node_version().unwrap();
        assert_eq!(
            (d.version.to_string(), d.source.as_str()),
            ("6.1.10".into(), "dpkg")
        );
    }

    #[test]
    fn only_cts_naming_the_container_are_ours() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.pct.pve_dir = dir.path().into();
        let pct = Pct::new(&cfg);
        std::fs::create_dir_all(dir.path().join("lxc")).unwrap();
        assert!(
            !pct.is_ours(vmid(), "c1").unwrap(),
            "no config: nothing to touch"
        );
        let conf = dir.path().join("lxc/100123.conf");
        std::fs::write(&conf, "#proxmox-lxcri id%3A c1\narch: amd64\n").unwrap();
        assert!(pct.is_ours(vmid(), "c1").unwrap());
        assert!(!pct.is_ours(vmid(), "c2").unwrap());
        // What every `pct set` leaves: the description in `#` lines, percent-encoded, its
        // trailing newline dropped (pve-container's config writer).
        std::fs::write(
            &conf,
            "#proxmox-lxcri id%3A c1\n#second%3A line 100%25\narch: amd64\ncores: 1\n",
        )
        .unwrap();
        assert!(pct.is_ours(vmid(), "c1").unwrap());
        std::fs::write(&conf, "#someone's web server\narch: amd64\n").unwrap();
        assert!(!pct.is_ours(vmid(), "c1").unwrap());
    }

    #[test]
    fn tagged_cts_are_read_from_the_nodes_config_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.pct.pve_dir = dir.path().into();
        cfg.node = "pve1".into();
        let lxc = dir.path().join("lxc");
        std::fs::create_dir_all(&lxc).unwrap();
        std::fs::write(
            lxc.join("100123.conf"),
            "#proxmox-lxcri id%3A c1\n#proxmox-lxcri host%3A h\narch: amd64\ntags: proxmox-lxcri\n",
        )
        .unwrap();
        std::fs::write(lxc.join("100.conf"), "#web\narch: amd64\n").unwrap();
        std::fs::write(lxc.join("notes.txt"), "tags: proxmox-lxcri\n").unwrap();
        let got = Pct::new(&cfg).tagged_cts().unwrap();
        assert_eq!(
            got,
            [TaggedCt {
                vmid: vmid(),
                node: "pve1".into(),
                description: "proxmox-lxcri id: c1\nproxmox-lxcri host: h\n".into(),
            }]
        );
    }

    #[test]
    fn a_tampered_template_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t.tar");
        std::fs::write(&t, EMPTY_TAR).unwrap();
        assert!(is_empty_tar(&t));
        let mut bad = EMPTY_TAR;
        bad[0] = b'x';
        std::fs::write(&t, bad).unwrap();
        assert!(!is_empty_tar(&t));
        std::fs::remove_file(&t).unwrap();
        std::os::unix::fs::symlink("/dev/null", &t).unwrap();
        assert!(!is_empty_tar(&t));
    }

    #[test]
    fn status_verbose_running_and_stopped() {
        let running = "cpus: 1\nmaxmem: 536870912\nname: CT100123\npid: 4242\nstatus: running\ntype: lxc\nvmid: 100123\n";
        assert_eq!(
            parse_status(running),
            Some(CtStatus::Running { init_pid: 4242 })
        );
        assert_eq!(parse_status("status: stopped\n"), Some(CtStatus::Stopped));
        assert_eq!(parse_status("status: running\n"), None);
        assert_eq!(parse_status("garbage"), None);
    }

    #[test]
    fn errors_are_classified_by_proxmox_wording() {
        let v = vmid();
        let taken = "unable to create CT 100123 - CT 100123 already exists on node 'pve1'\n";
        assert!(matches!(
            classify(v, "create", taken),
            BackendError::VmidTaken(_)
        ));
        let missing = "Configuration file 'nodes/pve1/lxc/100123.conf' does not exist\n";
        assert!(matches!(
            classify(v, "destroy", missing),
            BackendError::NoSuchCt(_)
        ));
        assert!(matches!(
            classify(v, "stop", "CT 100123 not running\n"),
            BackendError::NotRunning(_)
        ));
        let e = classify(v, "create", "cluster not ready - no quorum?\n");
        assert!(e
            .to_string()
            .starts_with("the cluster of this node has no quorum;"));
        assert!(e
            .on_node("pve1")
            .to_string()
            .starts_with("node pve1: its cluster has no quorum;"));
        let e = classify(
            v,
            "start",
            "vm 100123 - lxc.cgroup.dir.container is deprecated, this will be a hard error in the future!\n\
             startup for container '100123' failed\n",
        );
        assert_eq!(
            e.to_string(),
            "pct start 100123: startup for container '100123' failed"
        );
    }

    #[test]
    fn create_passes_api_keys_as_options() {
        let mut ct = CtConfig::default();
        ct.options.insert("ostype".into(), "unmanaged".into());
        ct.options.insert("rootfs".into(), "/b/rootfs,ro=1".into());
        ct.description = "proxmox-lxcri id: c1".into();
        ct.lxc
            .push(("lxc.prlimit.nofile".into(), "1024:1024".into()));
        let args = create_args(vmid(), "/t.tar", &ct);
        assert_eq!(
            args,
            [
                "create",
                "100123",
                "/t.tar",
                "--ostype",
                "unmanaged",
                "--rootfs",
                "/b/rootfs,ro=1",
                "--description",
                "proxmox-lxcri id: c1"
            ]
        );
    }

    #[test]
    fn set_passes_each_option() {
        let mut o = std::collections::BTreeMap::new();
        o.insert("memory".to_string(), "512".to_string());
        o.insert("cpulimit".to_string(), "0.5".to_string());
        assert_eq!(
            set_args(vmid(), &o),
            ["set", "100123", "--cpulimit", "0.5", "--memory", "512"]
        );
    }

    #[test]
    fn raw_keys_are_replaced_and_unset() {
        let mut conf = CtConfig::default();
        for (k, v) in [
            ("lxc.prlimit.nofile", "1024:1024"),
            ("lxc.cgroup2.pids.max", "10"),
            ("lxc.cgroup2.memory.swap.max", "max"),
            ("lxc.cgroup2.pids.max", "20"),
        ] {
            conf.lxc.push((k.into(), v.into()));
        }
        replace_raw(
            &mut conf,
            &[("lxc.cgroup2.pids.max".into(), "64".into())],
            &["lxc.cgroup2.memory.swap.max".into()],
        );
        let pairs: Vec<(&str, &str)> = conf
            .lxc
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("lxc.prlimit.nofile", "1024:1024"),
                ("lxc.cgroup2.pids.max", "64")
            ]
        );
    }
}
