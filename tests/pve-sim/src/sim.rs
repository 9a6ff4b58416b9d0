//! The simulated node: where its state lives and the knobs the environment sets.
//!
//! * `PVE_SIM_ROOT` (default `/var/lib/pve-sim`) holds `etc/pve` (configs, with `etc/pve/lxc`
//!   linked to the local node's directory as on a real node), `lxc/<vmid>/config` (what
//!   Proxmox keeps in `/var/lib/lxc`), `run/pve/ct-<vmid>.stderr` and the `pct.calls` log.
//! * `PVE_SIM_NODE` names the node (default: the short host name).
//! * `PVE_SIM_FAIL=create,start,stop,destroy` makes those steps fail.
//! * `PVE_SIM_VERSION` (and `PVE_SIM_PVE_CONTAINER`) or `$PVE_SIM_ROOT/pve-sim-version` pick
//!   the node's release (`version.rs`).
//! * `$PVE_SIM_ROOT/pve-sim-no-quorum` (any content): the cluster has lost quorum (`cluster.rs`).
//! * The per-CT config lock is the real node's `/run/lock/lxc/pve-config-<vmid>.lock`, so the
//!   runtime can take the same lock while it edits a config file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::version::NodeVersion;

pub const DEFAULT_ROOT: &str = "/var/lib/pve-sim";
pub const LOCK_DIR: &str = "/run/lock/lxc";

pub struct Sim {
    pub root: PathBuf,
    pub node: String,
    pub version: NodeVersion,
    /// Why `PVE_SIM_VERSION` could not be used; every front end refuses to run then.
    pub version_error: Option<String>,
    fail: Vec<String>,
}

fn short_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn version_of(root: &std::path::Path) -> (NodeVersion, Option<String>) {
    match NodeVersion::from_env(root) {
        Ok(v) => (v, None),
        Err(e) => (NodeVersion::default_node(), Some(e)),
    }
}

impl Sim {
    pub fn from_env() -> Sim {
        let root = std::env::var_os("PVE_SIM_ROOT")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        // LXC derives socket names from the lxcpath, so always use one absolute spelling.
        let root = std::path::absolute(&root).unwrap_or(root);
        let node = std::env::var("PVE_SIM_NODE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(short_hostname);
        let fail = std::env::var("PVE_SIM_FAIL")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let (version, version_error) = version_of(&root);
        Sim {
            root,
            node,
            version,
            version_error,
            fail,
        }
    }

    /// Points the sim at another node root (and that root's version).
    pub fn set_root(&mut self, root: PathBuf) {
        (self.version, self.version_error) = version_of(&root);
        self.root = root;
    }

    /// Whether `PVE_SIM_FAIL` asks step `step` to fail.
    pub fn fails(&self, step: &str) -> bool {
        self.fail.iter().any(|f| f == step)
    }

    /// Whether the cluster is quorate: the quorum-loss knob is a file under the root, so that
    /// every front end (`pct`, the API, `pvecm`, sshd's sessions) sees it at once.
    pub fn quorate(&self) -> bool {
        !self.root.join(crate::cluster::NO_QUORUM_FILE).exists()
    }

    pub fn pve_dir(&self) -> PathBuf {
        self.root.join("etc/pve")
    }

    pub fn conf_dir(&self) -> PathBuf {
        self.pve_dir().join("nodes").join(&self.node).join("lxc")
    }

    pub fn conf_path(&self, vmid: u32) -> PathBuf {
        self.conf_dir().join(format!("{vmid}.conf"))
    }

    /// The name Proxmox uses in messages: relative to `/etc/pve`.
    pub fn conf_name(&self, vmid: u32) -> String {
        format!("nodes/{}/lxc/{vmid}.conf", self.node)
    }

    /// LXC's `-P` path: the sim's `/var/lib/lxc`.
    pub fn lxc_path(&self) -> PathBuf {
        self.root.join("lxc")
    }

    pub fn ct_dir(&self, vmid: u32) -> PathBuf {
        self.lxc_path().join(vmid.to_string())
    }

    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run/pve")
    }

    pub fn stderr_path(&self, vmid: u32) -> PathBuf {
        self.run_dir().join(format!("ct-{vmid}.stderr"))
    }

    pub fn lock_path(&self, vmid: u32) -> PathBuf {
        PathBuf::from(LOCK_DIR).join(format!("pve-config-{vmid}.lock"))
    }

    /// Creates the directory layout of a node (idempotent).
    pub fn ensure_layout(&self) -> std::io::Result<()> {
        fs::create_dir_all(self.conf_dir())?;
        fs::create_dir_all(self.lxc_path())?;
        fs::create_dir_all(self.run_dir())?;
        fs::create_dir_all(LOCK_DIR)?;
        let link = self.pve_dir().join("lxc");
        if fs::symlink_metadata(&link).is_err() {
            let target = PathBuf::from("nodes").join(&self.node).join("lxc");
            match std::os::unix::fs::symlink(target, &link) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        // pmxcfs's `local` link to this node's dir: what Proxmox tests for "mounted", and
        // (its mode) for quorum (pve-cluster src/PVE/Cluster.pm `check_cfs_quorum`). A link
        // on a plain file system always shows 0777: the sim's quorum is the
        // `pve-sim-no-quorum` knob instead (`quorate`).
        let local = self.pve_dir().join("local");
        if fs::symlink_metadata(&local).is_err() {
            let target = PathBuf::from("nodes").join(&self.node);
            match std::os::unix::fs::symlink(target, &local) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Appends this invocation to `pct.calls` (one line, shell-quoted), so benchmarks can
    /// count calls. A single `write` on an `O_APPEND` file keeps concurrent lines whole.
    pub fn log_call(&self, args: &[String]) {
        let mut line = String::from("pct");
        for a in args {
            line.push(' ');
            line.push_str(&log_quote(a));
        }
        line.push('\n');
        let _ = fs::create_dir_all(&self.root);
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .open(self.root.join("pct.calls"))
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// [`shell_quote`], but an argument with a line break (a multi-line `--description`) in
/// bash's `$'...'` form, so that each call stays on one line of the log.
fn log_quote(s: &str) -> String {
    if !s.contains(['\n', '\r']) {
        return shell_quote(s);
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
