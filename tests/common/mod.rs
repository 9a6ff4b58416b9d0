//! Test harness: a pve-sim node per test (own sim root, own VMID range), busybox bundles made from
//! Debian's busybox-static, and the runtime binary driven like a shell script would.
//! Everything a test starts is stopped and destroyed when its `Sim` drops, even on failure.

#![allow(dead_code)]

pub mod cases;
pub mod console;
pub mod netns;
pub mod oci;
pub mod podman;
pub mod real_pve;
pub mod remote;
pub mod sshd;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

pub fn runtime_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proxmox-lxcri"))
}

/// A sibling binary of the runtime in the same target dir (pct from pve-sim, the init).
pub fn sibling_bin(name: &str) -> PathBuf {
    let p = runtime_bin().with_file_name(name);
    assert!(
        p.exists(),
        "{} missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests drive real LXC containers and must run as root"
    );
}

/// Which node the runtime drives: the same case bodies run on each (tests/common/cases.rs).
pub enum Node {
    /// pve-sim's `pct` on this machine.
    PveSim,
    /// Proxmox's real `pct` and pmxcfs in the real-pve sandbox (`PROXMOX_LXCRI_REAL_PVE`): the
    /// runtime and `pct` run inside its mount namespace, where `/etc/pve` and `/run` are.
    RealPve { sandbox: PathBuf },
    /// A spare Proxmox node this test runs on (`PROXMOX_LXCRI_TEST_CONFIG`).
    Spare,
}

pub struct Sim {
    pub node: Node,
    pub dir: tempfile::TempDir,
    pub sim_root: PathBuf,
    pub state_root: PathBuf,
    pub config: PathBuf,
    pub pct: PathBuf,
    pub vmid_range: [u32; 2],
}

/// `#[test] fn $name` that runs `$case` on the node `$node(name)` gives, or passes as skipped
/// when `$node` gives none (a tier whose node is not configured here).
#[macro_export]
macro_rules! tier_case {
    ($node:path, $name:ident, $case:path) => {
        #[test]
        fn $name() {
            if let Some(node) = $node(stringify!($name)) {
                $case(&node);
            }
        }
    };
}

/// The cases every tier beyond pve-sim runs, each a `#[test]` on the node `$node(name)` gives.
#[macro_export]
macro_rules! tier_cases {
    ($node:path) => {
        tier_case!($node, lifecycle, cases::lifecycle);
        tier_case!($node, exec_with_a_process_file, cases::exec_process_file);
        tier_case!($node, terminal_on_the_console_socket, cases::terminal);
        tier_case!($node, update_api_and_raw_keys, cases::update);
        tier_case!($node, kill_kill_gives_137, cases::kill_kill);
        tier_case!($node, term_is_ignored_by_pid1, cases::term_ignored_by_pid1);
        tier_case!(
            $node,
            term_and_kill_of_a_created_container,
            cases::term_and_kill_created
        );
        tier_case!(
            $node,
            delete_force_of_a_running_container,
            cases::delete_force_running
        );
    };
}

/// `dir/name`: a script that runs pve-sim's binary `name` for the sim node under `sim_root`
/// (node `sim` unless the caller's `PVE_SIM_NODE` says otherwise).
pub fn sim_wrapper(dir: &Path, name: &str, sim_root: &Path) -> PathBuf {
    let path = dir.join(name);
    write_script(
        &path,
        &format!(
            "#!/bin/sh\nexport PVE_SIM_ROOT='{}' PVE_SIM_NODE=\"${{PVE_SIM_NODE:-sim}}\"\nexec '{}' \"$@\"\n",
            sim_root.display(),
            sibling_bin(name).display()
        ),
    );
    path
}

/// `text` as an executable file at `path`.
pub fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Disjoint VMID ranges per test: CT cgroups (`lxc/<vmid>`) are global on the host.
/// `PROXMOX_LXCRI_TEST_SLOT=N` (0..=99) moves every range by N million, so that several checkouts
/// can run their tests at once.
fn vmid_range(name: &str) -> [u32; 2] {
    let lo = 200_000 + test_slot() * 1_000_000 + (name_hash(name) % 7000) * 100;
    [lo, lo + 99]
}

fn test_slot() -> u32 {
    std::env::var("PROXMOX_LXCRI_TEST_SLOT")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n < 100)
        .unwrap_or(0)
}

fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// The pve-container version of the test's node: pve-sim's default node (Proxmox VE 9.1.2). The
/// runtime learns it from the sim's `pveversion --verbose` (`pct.dpkg_status` points at a file
/// that does not exist, as on a node without dpkg's status file); [`Sim::set_node_version`]
/// makes the sim another release.
pub const NODE_VERSION: &str = "6.1.10";

impl Sim {
    pub fn new(name: &str) -> Sim {
        Self::with_config(name, "")
    }

    /// A sim node plus a runtime config; `extra` is appended to the config's top level.
    pub fn with_config(name: &str, extra: &str) -> Sim {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("plx-test-")
            .tempdir()
            .unwrap();
        let sim_root = dir.path().join("sim");
        let state_root = dir.path().join("run");
        std::fs::create_dir_all(&sim_root).unwrap();
        // The runtime runs with almost no environment under podman/CRI-O; the wrappers carry
        // the sim's settings, as a real node's /usr/sbin/pct needs none.
        let pct = sim_wrapper(dir.path(), "pct", &sim_root);
        let pveversion = sim_wrapper(dir.path(), "pveversion", &sim_root);
        let vmid_range = vmid_range(name);
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "node = \"sim\"\nvmid_range = [{}, {}]\n{}init_path = \"{}\"\n{extra}\n[pct]\npath = \"{}\"\npve_dir = \"{}\"\nlxc_path = \"{}\"\ntimeout = 60\ndpkg_status = \"{}\"\npveversion = \"{}\"\n",
                vmid_range[0],
                vmid_range[1],
                // Privileged unless a test asks otherwise: most tests are about the lifecycle.
                if extra.contains("unprivileged") { "" } else { "unprivileged = false\n" },
                sibling_bin("proxmox-lxcri-init").display(),
                pct.display(),
                sim_root.join("etc/pve").display(),
                sim_root.join("lxc").display(),
                dir.path().join("no-dpkg-status").display(),
                pveversion.display()
            ),
        )
        .unwrap();
        // The audit log stays with the test, not in the host's /var/log.
        let mut conf = std::fs::read_to_string(&config).unwrap();
        conf.push_str(&format!(
            "\n[audit]\npath = \"{}\"\n",
            dir.path().join("audit.jsonl").display()
        ));
        std::fs::write(&config, conf).unwrap();
        Sim {
            node: Node::PveSim,
            dir,
            sim_root,
            state_root,
            config,
            pct,
            vmid_range,
        }
    }

    /// Make the sim a node of the Proxmox VE release that ships pve-container `version` (8.4 for
    /// 5.x, 9.0 before 6.0.15, else 9.1), with exactly that pve-container, from now on: every
    /// `pct`, `pveversion` and API answer follows (the sim's version file, which also reaches
    /// callers that lose the environment, such as podman's).
    pub fn set_node_version(&self, version: &str) {
        let nums: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
        let release = match nums.as_slice() {
            [5, ..] => "8.4.14",
            [6, 0, p, ..] if *p < 15 => "9.0.11",
            _ => "9.1.2",
        };
        std::fs::write(
            self.sim_root.join("pve-sim-version"),
            format!("{release} {version}\n"),
        )
        .unwrap();
        // The runtime trusts what it learned for a minute.
        let _ = std::fs::remove_dir_all(self.state_root.join(".nodes"));
    }

    /// `program` on this node: inside the real-pve sandbox for that tier.
    pub fn on_node(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.node {
            Node::RealPve { sandbox } => {
                let mut c = Command::new(sandbox.join("sandbox.sh"));
                c.arg("exec").arg(program);
                c
            }
            Node::PveSim | Node::Spare => Command::new(program),
        }
    }

    /// The runtime with this sim's `--root` and `--config`.
    pub fn runtime(&self) -> Command {
        let mut c = self.on_node(runtime_bin());
        c.arg("--root")
            .arg(&self.state_root)
            .arg("--config")
            .arg(&self.config);
        c.env_remove("PVE_SIM_FAIL");
        // For debugging a test: PLX_TEST_LOG=/tmp/x.log collects every runtime call's log.
        if let Some(log) = std::env::var_os("PLX_TEST_LOG") {
            c.arg("--debug").arg("--log").arg(log);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.runtime();
        c.args(args).stdin(Stdio::null());
        c.output().unwrap()
    }

    /// The lines of the audit log the sim's config names, parsed.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    pub fn pct(&self, args: &[&str]) -> Output {
        let mut out = self
            .on_node(&self.pct)
            .args(args)
            .env_remove("PVE_SIM_FAIL")
            .output()
            .unwrap();
        out.stderr = real_pve::without_noise(&out.stderr).into_bytes();
        out
    }

    /// `pct list` rows as (vmid, status), of this test's VMID range only (a real node has
    /// others).
    pub fn cts(&self) -> Vec<(u32, String)> {
        let out = self.pct(&["list"]);
        let [lo, hi] = self.vmid_range;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?.parse().ok()?, it.next()?.to_string()))
            })
            .filter(|(vmid, _)| (lo..=hi).contains(vmid))
            .collect()
    }

    /// No CT left in this test's range, waiting a little for destroys that `delete` left to a
    /// detached process while the CT finished going down (src/pending.rs).
    /// `create` of `bundle` as `id` fails with exactly one line on stderr (returned) and
    /// leaves no CT and no state dir.
    pub fn create_refused(&self, bundle: &Path, id: &str) -> String {
        let out = self.run(&["create", "--bundle", bundle.to_str().unwrap(), id]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{id}: create succeeded");
        assert_eq!(err.lines().count(), 1, "{id}: one line: {err}");
        assert!(self.no_cts(), "{id}: CT left");
        assert!(!self.state_root.join(id).exists(), "{id}: state dir left");
        err
    }

    pub fn no_cts(&self) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.cts().is_empty() {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pct subcommands the node has run so far, e.g. `["create", ...]`: pve-sim logs each
    /// call to `pct.calls`, the real-pve tier's wrapper around `pct` too.
    pub fn pct_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.sim_root.join("pct.calls"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|s| s.trim_matches('\'').to_string())
            .collect()
    }

    /// The value of `key` in `pct config <vmid>`.
    pub fn conf_value(&self, vmid: u32, key: &str) -> Option<String> {
        let out = self.pct(&["config", &vmid.to_string()]);
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.strip_prefix(&format!("{key}: "))
                .map(|v| v.trim().to_string())
        })
    }

    /// A busybox bundle whose process runs `sh -c script`.
    pub fn bundle(&self, name: &str, script: &str) -> PathBuf {
        let b = self.dir.path().join(name);
        make_rootfs(&b.join("rootfs"));
        let mut spec = base_spec();
        spec["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        write_spec(&b, &spec);
        b
    }

    pub fn state_json(&self, id: &str) -> serde_json::Value {
        let out = self.run(&["state", id]);
        assert!(
            out.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Containers first (the runtime's own cleanup), then anything left on the sim node.
        if let Ok(ids) = std::fs::read_dir(&self.state_root) {
            for e in ids.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
        for (vmid, _) in self.cts() {
            let v = vmid.to_string();
            let _ = self.pct(&["stop", &v]);
            let _ = self.pct(&["destroy", &v, "--force", "1", "--purge", "1"]);
        }
        // Shims, exec shims and `delete`'s detached destroyers (the runtime, with this directory
        // on its command line) write here until they end: the audit line of the workload's end,
        // the operation counts, pct's call log. Gone first, or they make this directory again
        // after it was removed.
        let here = self.dir.path().to_string_lossy().into_owned();
        let pending = self.state_root.join(".pending");
        let runtime = |pid: &i32| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|e| e.to_string_lossy().contains("/proxmox-lxcri"))
        };
        let busy = || {
            processes_mentioning(&here).iter().any(runtime)
                || std::fs::read_dir(&pending).is_ok_and(|mut d| d.next().is_some())
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while busy() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        remove_lxc_locks(self.dir.path());
    }
}

/// LXC keeps a lock directory per container path under /run/lxc/lock and never removes it;
/// each test's path is new, so its directory goes with the test.
pub fn remove_lxc_locks(dir: &Path) {
    if let Ok(rel) = dir.strip_prefix("/") {
        let _ = std::fs::remove_dir_all(Path::new("/run/lxc/lock").join(rel));
    }
}

/// A runc-style default spec (what `runc spec` gives), non-terminal, rootfs `rootfs`.
pub fn base_spec() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Change a bundle's config.json in place.
pub fn edit_spec(bundle: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    f(&mut spec);
    write_spec(bundle, &spec);
}

pub fn write_spec(bundle: &Path, spec: &serde_json::Value) {
    std::fs::create_dir_all(bundle).unwrap();
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(spec).unwrap(),
    )
    .unwrap();
}

/// A minimal rootfs: static busybox and its applets, the directories LXC mounts onto.
pub fn make_rootfs(root: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = root.join("bin/busybox");
    std::fs::copy("/bin/busybox", &bb).expect("busybox-static is installed (/bin/busybox)");
    for applet in [
        "sh", "echo", "cat", "ls", "hostname", "pwd", "sleep", "id", "env", "true", "false",
        "kill", "ps", "touch",
    ] {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

/// The sim's `local` template directory: (name, inode, mtime ns) of each file.
pub fn uploads(sim: &Sim) -> Vec<(String, u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let dir = sim.sim_root.join("var/lib/vz/template/cache");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let m = e.metadata().unwrap();
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `images import` under a pseudo-terminal (util-linux `script`): the progress line is redrawn
/// in place with bytes and percent.
pub fn import_on_a_terminal(sim: &Sim, rootfs: &Path) -> String {
    let c = sim.runtime();
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let mut line = quote(c.get_program());
    for a in c.get_args() {
        line.push(' ');
        line.push_str(&quote(a));
    }
    line.push_str(&format!(
        " images import {} --storage local",
        quote(rootfs.as_os_str())
    ));
    let mut s = std::process::Command::new("script");
    s.args(["-qec", &line, "/dev/null"]);
    if let Some(d) = c.get_current_dir() {
        s.current_dir(d);
    }
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    let out = s.stdin(std::process::Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait until `f` holds, or panic after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Processes whose command line mentions `needle` (to prove nothing leaked).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// A container made by `create`, with create's (and so the workload's) stdout and stderr in files.
pub struct Ctr<'a> {
    pub sim: &'a Sim,
    pub id: String,
    /// The pid from `--pid-file`: our adopted shim.
    pub pid: i32,
    pub out: PathBuf,
    pub err: PathBuf,
}

pub fn create<'a>(sim: &'a Sim, bundle: &Path, id: &str) -> Ctr<'a> {
    create_with(sim, bundle, id, &[])
}

/// `create` with the runtime's global options `global` (such as `--log FILE`) before it.
pub fn create_with<'a>(
    sim: &'a Sim,
    bundle: &Path,
    id: &str,
    global: &[&std::ffi::OsStr],
) -> Ctr<'a> {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| nix::sys::prctl::set_child_subreaper(true).unwrap());
    let (out, err) = (
        sim.dir.path().join(format!("{id}.out")),
        sim.dir.path().join(format!("{id}.err")),
    );
    let pid_file = sim.dir.path().join(format!("{id}.pid"));
    let status = sim
        .runtime()
        .args(global)
        .args(["create", "--bundle"])
        .arg(bundle)
        .arg(format!("--pid-file={}", pid_file.display()))
        .arg(id)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "create {id}: {}",
        std::fs::read_to_string(&err).unwrap()
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    Ctr {
        sim,
        id: id.into(),
        pid,
        out,
        err,
    }
}

impl Ctr<'_> {
    pub fn start(&self) {
        let s = self.sim.run(&["start", &self.id]);
        assert!(s.status.success(), "start {}: {}", self.id, stderr(&s));
    }

    /// Wait for the shim and return its exit code as conmon computes it.
    pub fn wait(&self) -> i32 {
        match waitpid(Pid::from_raw(self.pid), None).unwrap() {
            WaitStatus::Exited(_, c) => c,
            WaitStatus::Signaled(_, s, _) => 128 + s as i32,
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap()
    }

    pub fn status(&self) -> serde_json::Value {
        self.sim.state_json(&self.id)["status"].clone()
    }

    pub fn delete(&self) {
        let d = self.sim.run(&["delete", &self.id]);
        assert!(d.status.success(), "delete {}: {}", self.id, stderr(&d));
    }

    /// start, wait, and the workload's stdout.
    pub fn run(&self, want_code: i32) -> String {
        self.start();
        assert_eq!(self.wait(), want_code, "exit status of {}", self.id);
        self.stdout()
    }
}

/// The value of the one sample of `family` whose labels include every one of `labels`.
pub fn sample(text: &str, family: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `proxmox_lxcri_container_restarts_total` of container `id` with `labels` in a `metrics`
/// run now (None when absent), and the output with stderr for a failing assertion.
pub fn restarts(sim: &Sim, id: &str, labels: &[&str]) -> (Option<f64>, String) {
    let m = sim.run(&["metrics"]);
    let text = format!("{}{}", String::from_utf8_lossy(&m.stdout), stderr(&m));
    let mut all = vec![format!("id=\"{id}\"")];
    all.extend(labels.iter().map(|l| l.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let n = sample(&text, "proxmox_lxcri_container_restarts_total", &all);
    (n, text)
}

/// A pod of two running containers as CRI-O makes one for shareProcessNamespace: `member`
/// joins the pid namespace of `infra` given as the infra shim's (`/proc/<pid>/ns/pid`).
pub fn pod_of_two<'a>(sim: &'a Sim, infra_script: &str, member_script: &str) -> (Ctr<'a>, Ctr<'a>) {
    let infra_bundle = sim.bundle("infra", infra_script);
    let infra = create(sim, &infra_bundle, "infra");
    infra.start();
    let bundle = sim.bundle("member", member_script);
    edit_spec(&bundle, |spec| {
        for n in spec["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "pid" {
                n["path"] = format!("/proc/{}/ns/pid", infra.pid).into();
            }
        }
    });
    let member = create(sim, &bundle, "member");
    member.start();
    (infra, member)
}

/// `promtool check metrics` on `text` passes. Missing promtool fails the test (Debian's
/// `prometheus` package; contrib/setup-host.sh installs it).
pub fn promtool(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
