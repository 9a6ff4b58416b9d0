//! The two tiers beyond pve-sim: Proxmox's real `pct` in the real-pve sandbox
//! (`PROXMOX_LXCRI_REAL_PVE` names the harness directory) and a spare Proxmox node
//! (`PROXMOX_LXCRI_TEST_CONFIG` names the runtime's config for it). Each constructor returns
//! `None`, after printing why the test is skipped, when its variable is not set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::{name_hash, require_root, sibling_bin, test_slot, write_script, Node, Sim};

/// Lines the sandbox's Perl prints that a node does not (its README: Perl 5.36 instead of 5.40,
/// no syslog socket).
pub fn without_noise(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| !l.contains("is experimental at") && !l.contains("setlogsock()"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The harness whose sandbox this test binary started: stopped when the binary exits.
static STARTED_BY_US: Mutex<Option<PathBuf>> = Mutex::new(None);

extern "C" fn stop_sandbox_at_exit() {
    if let Some(dir) = STARTED_BY_US.lock().ok().and_then(|mut s| s.take()) {
        let _ = Command::new(dir.join("sandbox.sh")).arg("stop").output();
    }
}

/// Start the sandbox unless it runs; the process stops it when it exits (all tests done) only
/// if it was started here.
fn ensure_sandbox(dir: &Path) {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let sb = dir.join("sandbox.sh");
        let status = Command::new(&sb).arg("status").output().unwrap();
        let running = String::from_utf8_lossy(&status.stdout)
            .lines()
            .any(|l| l.starts_with("namespace:") && !l.contains("not running"));
        if running {
            return;
        }
        let out = Command::new(&sb).arg("start").output().unwrap();
        assert!(
            out.status.success(),
            "{} start: {}",
            sb.display(),
            without_noise(&out.stderr)
        );
        *STARTED_BY_US.lock().unwrap() = Some(dir.to_path_buf());
        // SAFETY: registers a plain extern "C" function.
        unsafe { libc::atexit(stop_sandbox_at_exit) };
    });
}

/// A VMID range of this tier's own: above every pve-sim test range of the same slot.
fn real_pve_range(name: &str) -> [u32; 2] {
    let lo = 950_000 + test_slot() * 1_000_000 + (name_hash(name) % 490) * 100;
    [lo, lo + 99]
}

/// The pve-container version the harness runs, from its SOURCES.txt
/// (`pve-container  <commit>  pve-container 6.1.10`).
fn harness_pve_container(sandbox: &std::path::Path) -> String {
    let sources = sandbox.join("SOURCES.txt");
    let text =
        std::fs::read_to_string(&sources).unwrap_or_else(|e| panic!("{}: {e}", sources.display()));
    text.lines()
        .find(|l| l.starts_with("pve-container "))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("{}: no pve-container line", sources.display()))
        .to_string()
}

/// Proxmox's node name: the host name up to the first dot.
fn node_name() -> String {
    let host = nix::unistd::gethostname().unwrap();
    let host = host.to_string_lossy();
    host.split('.').next().unwrap_or_default().to_string()
}

impl Sim {
    /// A node of Proxmox's real `pct`, or `None` (skipped) without `PROXMOX_LXCRI_REAL_PVE`.
    /// The harness has neither dpkg's record of pve-container nor `pveversion`; the runtime is
    /// told the version its SOURCES.txt names.
    pub fn real_pve(name: &str) -> Option<Sim> {
        Self::real_pve_as(name, None)
    }

    /// Like [`Sim::real_pve`], with the runtime told the node runs pve-container `version`
    /// (an older one makes it write raw keys instead of `entrypoint`/`env`).
    pub fn real_pve_as(name: &str, version: Option<&str>) -> Option<Sim> {
        let Some(harness) = std::env::var_os("PROXMOX_LXCRI_REAL_PVE") else {
            eprintln!("skipped: PROXMOX_LXCRI_REAL_PVE not set (no real-pve harness named)");
            return None;
        };
        require_root();
        let sandbox = std::fs::canonicalize(&harness)
            .unwrap_or_else(|e| panic!("PROXMOX_LXCRI_REAL_PVE={harness:?}: {e}"));
        ensure_sandbox(&sandbox);
        let version = version
            .map(str::to_string)
            .unwrap_or_else(|| harness_pve_container(&sandbox));
        // /run is overlaid inside the sandbox: state and bundles live under /tmp.
        let dir = tempfile::Builder::new()
            .prefix("plx-real-")
            .tempdir_in("/tmp")
            .unwrap();
        let vmid_range = real_pve_range(name);
        // The runtime's pct calls are logged to `pct.calls` as pve-sim logs them (`pct_calls`).
        let counted = dir.path().join("pct");
        write_script(
            &counted,
            &format!(
                "#!/bin/sh\necho \"pct $1\" >> '{}'\nexec /usr/sbin/pct \"$@\"\n",
                dir.path().join("pct.calls").display()
            ),
        );
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "node = \"{}\"\nvmid_range = [{}, {}]\nunprivileged = false\nnode_version = \"{version}\"\ninit_path = \"{}\"\n[pct]\npath = \"{}\"\ntimeout = 120\n",
                node_name(),
                vmid_range[0],
                vmid_range[1],
                sibling_bin("proxmox-lxcri-init").display(),
                counted.display(),
            ),
        )
        .unwrap();
        Some(Sim {
            node: Node::RealPve { sandbox },
            sim_root: dir.path().to_path_buf(),
            state_root: dir.path().join("run"),
            config,
            pct: "pct".into(),
            vmid_range,
            dir,
        })
    }

    /// The Proxmox node this test runs on, or `None` (skipped) without
    /// `PROXMOX_LXCRI_TEST_CONFIG`. The config's `vmid_range` must hold no other CTs: the tests
    /// destroy what they find there.
    pub fn real_node(name: &str) -> Option<Sim> {
        let Some(config) = std::env::var_os("PROXMOX_LXCRI_TEST_CONFIG") else {
            eprintln!("skipped: PROXMOX_LXCRI_TEST_CONFIG not set (no real Proxmox node named)");
            return None;
        };
        require_root();
        let config = std::fs::canonicalize(&config)
            .unwrap_or_else(|e| panic!("PROXMOX_LXCRI_TEST_CONFIG={config:?}: {e}"));
        let text = std::fs::read_to_string(&config).unwrap();
        let table: toml::Table = text.parse().expect("PROXMOX_LXCRI_TEST_CONFIG is TOML");
        let range = table
            .get("vmid_range")
            .and_then(|v| v.as_array())
            .and_then(|a| Some([a.first()?.as_integer()?, a.get(1)?.as_integer()?]))
            .expect("the real-node config sets vmid_range = [LO, HI], a range no other CT uses");
        let dir = tempfile::Builder::new()
            .prefix(&format!("plx-node-{name}-"))
            .tempdir_in("/tmp")
            .unwrap();
        let pct = table
            .get("pct")
            .and_then(|p| p.get("path"))
            .and_then(|p| p.as_str())
            .unwrap_or("/usr/sbin/pct")
            .into();
        Some(Sim {
            node: Node::Spare,
            sim_root: PathBuf::from("/"),
            state_root: dir.path().join("run"),
            config,
            pct,
            vmid_range: [range[0] as u32, range[1] as u32],
            dir,
        })
    }
}
