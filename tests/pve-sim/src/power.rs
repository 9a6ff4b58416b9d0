//! A node's power: `pve-sim node down NODE` / `pve-sim node up NODE` (README.md, "The cluster").
//!
//! Every process that runs "on" a node from the outside (its sshd and the sessions it forks, the
//! API server on the local node, API task workers for the node) sits in the node's cgroup v1
//! freezer `/sys/fs/cgroup/freezer/pve-sim/<root hash>/<node>`. Down freezes that cgroup (a
//! powered-off machine: connections are accepted by the kernel but get no banner, sessions
//! send nothing, neither RST nor EOF), puts the node on `api-faults.json`'s `offline` list
//! (what the API, `pvesh`, `pvecm` and quorum read) and kills its running CTs (a power loss:
//! `lxc-stop --kill`, configs stay in the node's dir as pmxcfs keeps them). Up kills the
//! frozen sessions and workers (a reboot ends them), thaws the daemons, takes the node off the
//! list and starts the CTs with `onboot: 1` (pve-manager PVE/API2/Nodes.pm `startall`, run by
//! pve-guests.service at boot).
//!
//! A CT's monitor leaves the node's cgroup when it starts (`leave`), as systemd runs it in its
//! own unit on a node: a frozen monitor could not be told to kill its CT.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};

use crate::sim::Sim;
use crate::{ct, store};

const FREEZER: &str = "/sys/fs/cgroup/freezer";
/// How long freezing, thawing or emptying a cgroup may take.
const SETTLE: Duration = Duration::from_secs(10);

/// The freezer cgroup of `node` of the sim under `root`.
pub fn cgroup_dir(root: &Path, node: &str) -> PathBuf {
    root_cgroup(root).join(node)
}

fn root_cgroup(root: &Path) -> PathBuf {
    let h = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let hex: String = h.iter().take(6).map(|b| format!("{b:02x}")).collect();
    Path::new(FREEZER).join("pve-sim").join(hex)
}

/// Creates `node`'s cgroup; its `cgroup.procs` path.
pub fn procs_file(root: &Path, node: &str) -> Result<PathBuf, String> {
    if !Path::new(FREEZER).join("cgroup.procs").exists() {
        return Err(format!(
            "{FREEZER}: no cgroup v1 freezer hierarchy mounted (node down/up need it)"
        ));
    }
    let dir = cgroup_dir(root, node);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir.join("cgroup.procs"))
}

/// Moves the calling process (and so what it forks from now on) onto `node`.
pub fn join(root: &Path, node: &str) -> Result<(), String> {
    let procs = procs_file(root, node)?;
    fs::write(&procs, std::process::id().to_string())
        .map_err(|e| format!("{}: {e}", procs.display()))
}

/// Moves the calling process out of every node (to the freezer's root), ignoring a host
/// without the hierarchy.
pub fn leave() {
    let _ = fs::write(
        Path::new(FREEZER).join("cgroup.procs"),
        std::process::id().to_string(),
    );
}

/// Records the calling process as a daemon of `node` (`what`: `sshd`, `api`): up thaws it
/// instead of ending it.
pub fn register_daemon(root: &Path, node: &str, what: &str) -> Result<(), String> {
    let dir = daemons_dir(root);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{node}.{what}.pid"));
    fs::write(&path, std::process::id().to_string()).map_err(|e| format!("{}: {e}", path.display()))
}

fn daemons_dir(root: &Path) -> PathBuf {
    root.join("run/pve-sim")
}

fn daemons(root: &Path, node: &str) -> Vec<i32> {
    let prefix = format!("{node}.");
    fs::read_dir(daemons_dir(root))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".pid") && n.matches('.').count() == 2
        })
        .filter_map(|e| fs::read_to_string(e.path()).ok()?.trim().parse().ok())
        .collect()
}

fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Writes `want` to the cgroup's `freezer.state` and waits until it reads so.
fn set_state(dir: &Path, want: &str) -> Result<(), String> {
    let state = dir.join("freezer.state");
    fs::write(&state, want).map_err(|e| format!("{}: {e}", state.display()))?;
    let until = Instant::now() + SETTLE;
    loop {
        let now = fs::read_to_string(&state).unwrap_or_default();
        if now.trim() == want {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!(
                "{}: still {} after {SETTLE:?}",
                state.display(),
                now.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Adds `node` to (or, `on == false`, removes it from) `api-faults.json`'s `offline` list,
/// keeping the other knobs.
fn set_offline(root: &Path, node: &str, on: bool) -> Result<(), String> {
    let path = root.join("api-faults.json");
    let mut v: serde_json::Value = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let mut list: Vec<String> = v["offline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(String::from))
        .filter(|n| n != node)
        .collect();
    if on {
        list.push(node.to_string());
    }
    v["offline"] = serde_json::json!(list);
    let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
    fs::write(&tmp, v.to_string()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

fn node_sim(root: &Path, node: &str) -> Result<Sim, String> {
    let mut sim = Sim::from_env();
    sim.set_root(root.to_path_buf());
    sim.node = node.to_string();
    if !sim.pve_dir().join("nodes").join(node).is_dir() {
        return Err(format!("no such cluster node '{node}'"));
    }
    Ok(sim)
}

/// `pve-sim node down NODE`.
pub fn down(root: &Path, node: &str) -> Result<(), String> {
    let sim = node_sim(root, node)?;
    procs_file(root, node)?;
    set_offline(root, node, true)?;
    // Sessions first, so that none reports its CT's end to a client.
    set_state(&cgroup_dir(root, node), "FROZEN")?;
    release_attached(root, node);
    for vmid in store::list(&sim) {
        if ct::is_running(&sim, vmid) {
            ct::hard_stop(&sim, vmid).map_err(|e| format!("CT {vmid}: {e}"))?;
        }
    }
    Ok(())
}

/// A frozen `lxc-attach` (a session's `pct exec`) could never reap its process in the CT, so
/// the CT's pid namespace, and with it `lxc-stop --kill`, would never end: such processes
/// leave the node's cgroup (thawed, out of reach of the session, whose sshd stays frozen and
/// reports nothing) before the CTs are killed.
fn release_attached(root: &Path, node: &str) {
    for pid in pids(&cgroup_dir(root, node)) {
        // Its comm may be `memfd:lxc-attac` (LXC re-executes itself from a memfd).
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default();
        if argv0.ends_with(b"lxc-attach") {
            let _ = fs::write(Path::new(FREEZER).join("cgroup.procs"), pid.to_string());
        }
    }
}

/// `pve-sim node up NODE`; for a node that is not down only its `offline` entry goes.
pub fn up(root: &Path, node: &str) -> Result<(), String> {
    let sim = node_sim(root, node)?;
    let dir = cgroup_dir(root, node);
    let was_down =
        fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED");
    if was_down {
        let keep = daemons(root, node);
        for pid in pids(&dir) {
            if !keep.contains(&pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        set_state(&dir, "THAWED")?;
    }
    set_offline(root, node, false)?;
    if !was_down {
        return Ok(());
    }
    for vmid in store::list(&sim) {
        let onboot = store::load_quiet(&sim, vmid)
            .is_ok_and(|(c, _)| c.options.get("onboot").is_some_and(|v| v == "1"));
        if onboot && !ct::is_running(&sim, vmid) {
            start(root, node, vmid)?;
        }
    }
    Ok(())
}

/// `pct start VMID` on `node`.
fn start(root: &Path, node: &str, vmid: u32) -> Result<(), String> {
    let pct = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("pct");
    let out = std::process::Command::new(pct)
        .args(["start", &vmid.to_string()])
        .env("PVE_SIM_ROOT", root)
        .env("PVE_SIM_NODE", node)
        .output()
        .map_err(|e| format!("pct start {vmid}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "onboot: pct start {vmid}: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}

/// `pve-sim node cleanup`: ends every process left on the root's nodes and removes their
/// cgroups (a test's last step).
pub fn cleanup(root: &Path) -> Result<(), String> {
    let base = root_cgroup(root);
    let nodes = match fs::read_dir(&base) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", base.display())),
    };
    for dir in nodes.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let until = Instant::now() + SETTLE;
        loop {
            for pid in pids(&dir) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = set_state(&dir, "THAWED");
            match fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(format!("{}: {e}", dir.display())),
            }
        }
    }
    fs::remove_dir(&base).map_err(|e| format!("{}: {e}", base.display()))
}

/// `pve-sim node down|up|cleanup ...`; the exit status.
pub fn main(args: &[String]) -> i32 {
    const USAGE: &str = "usage: pve-sim node down NODE | node up NODE | node cleanup";
    let root = Sim::from_env().root;
    let res = match args {
        [cmd, node] if cmd == "down" => down(&root, node),
        [cmd, node] if cmd == "up" => up(&root, node),
        [cmd] if cmd == "cleanup" => cleanup(&root),
        _ => {
            eprintln!("{USAGE}");
            return 2;
        }
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pve-sim node: {e}");
            1
        }
    }
}
