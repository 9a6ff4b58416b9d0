//! Test harness for pve-sim: a node root and a busybox-static rootfs in a temp dir, `pct`
//! runs against it, and a guard that stops and destroys every CT the test created, even when
//! the test fails, then checks that no process or mount of this node is left.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const NODE: &str = "simnode";
pub const PCT: &str = env!("CARGO_BIN_EXE_pct");

/// Applets the test rootfs links to busybox.
const APPLETS: &[&str] = &[
    "sh", "sleep", "ls", "cat", "id", "echo", "touch", "stat", "kill", "env", "mount", "hostname",
    "tr",
];

pub struct Node {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub rootfs: PathBuf,
    pub template: PathBuf,
    vmids: std::cell::RefCell<Vec<u32>>,
}

/// pve-sim drives real LXC and needs root; tests are skipped otherwise.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: pve-sim tests need root");
    }
    root
}

/// A fresh node for a test, or `None` (the test is skipped) without root.
pub fn root_node() -> Option<Node> {
    is_root().then(Node::new)
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("pve-sim-test-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().join("node");
        let rootfs = dir.path().join("rootfs");
        make_rootfs(&rootfs);
        let template = dir.path().join("empty.tar");
        let st = Command::new("tar")
            .arg("cf")
            .arg(&template)
            .args(["-T", "/dev/null"])
            .status()
            .expect("tar");
        assert!(st.success(), "creating the empty template failed");
        Node {
            dir,
            root,
            rootfs,
            template,
            vmids: Default::default(),
        }
    }

    pub fn pct_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = Command::new(PCT);
        c.args(args)
            .env("PVE_SIM_ROOT", &self.root)
            .env("PVE_SIM_NODE", NODE)
            .env_remove("PVE_SIM_FAIL")
            .env_remove("PVE_SIM_VERSION")
            .env_remove("PVE_SIM_PVE_CONTAINER");
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null()).output().expect("running pct")
    }

    pub fn pct(&self, args: &[&str]) -> Output {
        self.pct_env(&[], args)
    }

    /// Runs pct and asserts exit 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.pct(args);
        assert_eq!(
            code(&o),
            0,
            "pct {args:?} failed: stdout {:?} stderr {:?}",
            out(&o),
            err(&o)
        );
        out(&o)
    }

    /// `pct exec <vmid> -- /bin/sh -c <script>`.
    pub fn sh(&self, vmid: u32, script: &str) -> Output {
        self.pct(&["exec", &vmid.to_string(), "--", "/bin/sh", "-c", script])
    }

    /// Runs a shell script in the CT, asserts exit 0 and returns its stdout.
    pub fn sh_ok(&self, vmid: u32, script: &str) -> String {
        let o = self.sh(vmid, script);
        assert_eq!(code(&o), 0, "{script}: {}", err(&o));
        out(&o)
    }

    pub fn conf_path(&self, vmid: u32) -> PathBuf {
        self.root
            .join(format!("etc/pve/nodes/{NODE}/lxc/{vmid}.conf"))
    }

    pub fn conf(&self, vmid: u32) -> String {
        fs::read_to_string(self.conf_path(vmid)).unwrap_or_default()
    }

    /// Appends lines to the CT config, as the runtime does under the config lock.
    pub fn append_conf(&self, vmid: u32, lines: &str) {
        let mut c = self.conf(vmid);
        c.push_str(lines);
        fs::write(self.conf_path(vmid), c).expect("writing conf");
    }

    /// Registers `vmid` for cleanup (call before creating it).
    pub fn track(&self, vmid: u32) {
        self.vmids.borrow_mut().push(vmid);
    }

    /// Creates a privileged CT on the test rootfs whose init is busybox `sleep` (started as
    /// `/bin/sleep`); `extra` are more `pct create` options.
    pub fn create(&self, vmid: u32, extra: &[&str]) {
        let rootfs = self.rootfs.to_string_lossy().into_owned();
        let mut opts = vec!["--unprivileged", "0", "--memory", "64", "--swap", "0"];
        opts.extend(extra);
        self.create_from(vmid, self.template.to_str().unwrap(), &rootfs, &opts);
    }

    /// Creates a CT from `template` on `rootfs` (as `pct create` takes them) whose init is
    /// busybox `sleep`; `extra` are more options. Returns pct's output.
    pub fn create_from(&self, vmid: u32, template: &str, rootfs: &str, extra: &[&str]) -> String {
        self.track(vmid);
        let id = vmid.to_string();
        let mut args = vec!["create", &id, template, "--rootfs", rootfs];
        args.extend(["--ostype", "unmanaged", "--arch", "amd64"]);
        args.extend(["--entrypoint", "/bin/sleep 100000"]);
        args.extend(extra);
        self.ok(&args)
    }

    pub fn lxc_path(&self) -> PathBuf {
        self.root.join("lxc")
    }

    /// PIDs of processes whose command line mentions this node's root (monitors, supervisors).
    pub fn processes(&self) -> Vec<(i32, String)> {
        let needle = self.root.to_string_lossy().into_owned();
        let mut found = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) {
                found.push((pid, cmd));
            }
        }
        found
    }

    /// Host mounts under this test's temp dir.
    pub fn mounts(&self) -> Vec<String> {
        let needle = self.dir.path().to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Waits (up to 10 s) until no process of this node is left.
    pub fn wait_no_processes(&self) -> Vec<(i32, String)> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let p = self.processes();
            if p.is_empty() || Instant::now() >= until {
                return p;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cleanup(&self) {
        for vmid in self.vmids.borrow().iter() {
            let id = vmid.to_string();
            let _ = Command::new("lxc-stop")
                .args(["-n", &id, "-P"])
                .arg(self.lxc_path())
                .arg("--kill")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if self.conf_path(*vmid).exists() {
                let _ = self.pct(&["unlock", &id]);
                let _ = self.pct(&["destroy", &id, "--force", "--purge"]);
            }
        }
        for (pid, _) in self.wait_no_processes() {
            // SAFETY: killing a leftover process of this test.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for m in self.mounts() {
            if let Some(target) = m.split_whitespace().nth(4) {
                let _ = Command::new("umount").arg("-l").arg(target).status();
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.cleanup();
        // LXC's lock directory for this node's container path, which LXC never removes.
        if let Ok(rel) = self.dir.path().strip_prefix("/") {
            let _ = fs::remove_dir_all(Path::new("/run/lxc/lock").join(rel));
        }
    }
}

fn make_rootfs(rootfs: &Path) {
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp", "mnt/data"] {
        fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is installed");
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).expect("applet link");
    }
    fs::write(rootfs.join("etc/hello"), "hello from the image\n").expect("rootfs file");
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("tmp mode");
}

/// Packs the tree `src` into the tar `out` with extra `tar` flags (compression).
pub fn pack(src: &Path, out: &Path, flags: &[&str]) {
    let st = Command::new("tar")
        .args(flags)
        .arg("-cf")
        .arg(out)
        .arg("-C")
        .arg(src)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "packing {}", out.display());
}

/// `(uid, gid)` of a file on the host.
pub fn owner(p: &Path) -> (u32, u32) {
    let md = fs::symlink_metadata(p).unwrap();
    (md.uid(), md.gid())
}

/// Everything about a tree that a run must not change: per entry its type, mode, owner, size,
/// content hash (files), link target (symlinks), and mtime of non-directories.
pub fn tree_state(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = fs::symlink_metadata(&p).expect("stat");
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let desc = if md.is_dir() {
            for e in fs::read_dir(&p).expect("readdir").flatten() {
                stack.push(e.path());
            }
            format!("dir {:o} {}:{}", md.mode(), md.uid(), md.gid())
        } else if md.file_type().is_symlink() {
            format!("link {}", fs::read_link(&p).unwrap().display())
        } else {
            let data = fs::read(&p).expect("read");
            let sum = data.iter().fold(0u64, |h, b| {
                h.wrapping_mul(1_099_511_628_211)
                    .wrapping_add(u64::from(*b))
            });
            format!(
                "file {:o} {}:{} {} {:x} {}",
                md.mode(),
                md.uid(),
                md.gid(),
                md.len(),
                sum,
                md.mtime()
            )
        };
        m.insert(rel, desc);
    }
    m
}
