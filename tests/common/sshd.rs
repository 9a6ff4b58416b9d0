//! A private OpenSSH server on loopback for one test: own host key, own client key, own port.
//! The client key's authorized_keys entry carries the environment the test asks for (PATH to
//! find pve-sim's `pct`, PVE_SIM_ROOT, ...). sshd is killed and reaped when `Sshd` drops.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proxmox_lxcri::transport::ssh::SshTarget;
use tempfile::TempDir;

pub struct Sshd {
    pub port: u16,
    /// The host key's `.pub` line (`ssh-ed25519 AAAA... comment`).
    pub host_key_pub: String,
    pub known_hosts: PathBuf,
    pub identity: PathBuf,
    dir: TempDir,
    child: Child,
}

/// A fresh passphrase-less ed25519 key pair at `path` and `path.pub`.
pub fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(st.success(), "ssh-keygen {}", path.display());
}

impl Sshd {
    pub fn start(env: &[(&str, &str)]) -> Sshd {
        let dir = tempfile::Builder::new().prefix("sshd").tempdir().unwrap();
        let d = dir.path();
        let host_key = d.join("host_ed25519");
        let identity = d.join("id_ed25519");
        keygen(&host_key);
        keygen(&identity);

        // An empty home: the login shell reads no rc file of this machine's root (whose
        // ~/.bashrc may print, as pyenv's rehash does when two shells start at once).
        let home = d.join("home");
        fs::create_dir_all(&home).unwrap();
        let home = home.display().to_string();
        let opts: Vec<String> = env
            .iter()
            .chain(&[("HOME", home.as_str())])
            .map(|(k, v)| format!("environment=\"{k}={}\"", v.replace('"', "\\\"")))
            .collect();
        let client_pub = fs::read_to_string(identity.with_extension("pub")).unwrap();
        let mut line = opts.join(",");
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(client_pub.trim());
        fs::write(d.join("authorized_keys"), line + "\n").unwrap();
        // privilege separation directory Debian's sshd insists on
        fs::create_dir_all("/run/sshd").unwrap();

        let (port, child) = (0..10)
            .find_map(|_| try_start(d, &host_key))
            .unwrap_or_else(|| {
                panic!(
                    "sshd did not come up: {}",
                    fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                )
            });
        let host_key_pub = fs::read_to_string(host_key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string();
        let known_hosts = d.join("known_hosts");
        fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key_pub}\n")).unwrap();
        Sshd {
            port,
            host_key_pub,
            known_hosts,
            identity,
            dir,
            child,
        }
    }

    /// The test's own directory (keys, config, log); removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How the runtime reaches this server as the current user.
    pub fn target(&self) -> SshTarget {
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .expect("current user has a name")
            .name;
        SshTarget {
            host: "127.0.0.1".into(),
            port: self.port,
            user,
            identity: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One attempt on a port that was free a moment ago; None if sshd could not take it.
fn try_start(d: &Path, host_key: &Path) -> Option<(u16, Child)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = d.join("sshd_config");
    let text = format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {}\n\
         AuthorizedKeysFile {}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitUserEnvironment yes\n\
         UsePAM no\n\
         PidFile none\n\
         StrictModes no\n\
         Subsystem sftp internal-sftp\n\
         LogLevel ERROR\n",
        host_key.display(),
        d.join("authorized_keys").display(),
    );
    fs::write(&cfg, text).unwrap();
    let log = fs::File::create(d.join("sshd.log")).unwrap();
    let mut child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start /usr/sbin/sshd");
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((port, child));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // a connection's sshd ends soon after its client; the listener must live to reap it
        let listener = self.child.id() as i32;
        let until = Instant::now() + Duration::from_secs(5);
        while !children(listener).is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in children(listener) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes whose parent is `parent`.
fn children(parent: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| ppid(*pid) == Some(parent))
        .collect()
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the fields after the parenthesized command name: state, ppid, ...
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// One sshd per node of a sim cluster (`pve-sim sshd`): node `i` of `nodes` listens on
/// `127.0.0.{i+1}`, every node on the same port, each with its own host key; one client key
/// and one known_hosts file for them all. Its sessions run the sim's tools as that node.
/// `down`/`up` are `pve-sim node down|up`. On drop the servers are killed and every process
/// left on the nodes ends (`pve-sim node cleanup`).
pub struct NodeSshds {
    pub port: u16,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// The first node's host key line (`ssh-ed25519 AAAA... comment`).
    pub host_key_pub: String,
    pub nodes: Vec<NodeLogin>,
    sim_root: PathBuf,
    dir: TempDir,
}

/// One node's login.
pub struct NodeLogin {
    pub node: String,
    /// `127.0.0.{i+1}`.
    pub addr: String,
    pub host_key_pub: String,
    child: Child,
}

/// The address pve-sim gives the `i`-th member of a cluster (0 = the first node).
pub fn node_address(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

impl NodeSshds {
    /// Sshds for `nodes` (the first is the cluster's first node, the others sorted by name, the
    /// order pve-sim's `/cluster/status` gives them) of the sim under `sim_root`; `env` goes into
    /// the client key's `authorized_keys` entry (PATH to find the tools, ...).
    pub fn start(sim_root: &Path, nodes: &[&str], env: &[(&str, &str)]) -> NodeSshds {
        assert!(!nodes.is_empty());
        assert!(
            nodes[1..].windows(2).all(|w| w[0] < w[1]),
            "nodes after the first are sorted by name, as pve-sim orders members: {nodes:?}"
        );
        let pve = sim_root.join("etc/pve");
        for n in nodes {
            fs::create_dir_all(pve.join("nodes").join(n).join("lxc")).unwrap();
        }
        // The first node is the cluster's first member (pve-sim's `cluster::first_node`).
        let local = pve.join("local");
        if fs::symlink_metadata(&local).is_err() {
            std::os::unix::fs::symlink(format!("nodes/{}", nodes[0]), &local).unwrap();
        }
        let dir = tempfile::Builder::new().prefix("sshds").tempdir().unwrap();
        let d = dir.path();
        let identity = d.join("id_ed25519");
        keygen(&identity);
        let home = d.join("home");
        fs::create_dir_all(&home).unwrap();
        let home = home.display().to_string();
        let opts: Vec<String> = env
            .iter()
            .chain(&[("HOME", home.as_str())])
            .map(|(k, v)| format!("environment=\"{k}={}\"", v.replace('"', "\\\"")))
            .collect();
        let client_pub = fs::read_to_string(identity.with_extension("pub")).unwrap();
        let keys = d.join("authorized_keys");
        fs::write(&keys, format!("{} {}\n", opts.join(","), client_pub.trim())).unwrap();
        let host_keys: Vec<PathBuf> = nodes
            .iter()
            .map(|n| {
                let k = d.join(format!("host_{n}"));
                keygen(&k);
                k
            })
            .collect();
        let (port, children) = (0..10)
            .find_map(|_| try_start_nodes(sim_root, d, nodes, &host_keys, &keys))
            .unwrap_or_else(|| {
                panic!(
                    "node sshds did not come up: {}",
                    fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                )
            });
        let mut kh = String::new();
        let mut logins = Vec::new();
        for (i, (child, key)) in children.into_iter().zip(&host_keys).enumerate() {
            let host_key_pub = fs::read_to_string(key.with_extension("pub"))
                .unwrap()
                .trim()
                .to_string();
            let addr = node_address(i);
            kh.push_str(&format!("[{addr}]:{port} {host_key_pub}\n"));
            logins.push(NodeLogin {
                node: nodes[i].to_string(),
                addr,
                host_key_pub,
                child,
            });
        }
        let known_hosts = d.join("known_hosts");
        fs::write(&known_hosts, kh).unwrap();
        NodeSshds {
            port,
            identity,
            known_hosts,
            host_key_pub: logins[0].host_key_pub.clone(),
            nodes: logins,
            sim_root: sim_root.to_path_buf(),
            dir,
        }
    }

    /// The keys, config and log directory; removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `node`'s address.
    pub fn addr(&self, node: &str) -> String {
        self.login(node).addr.clone()
    }

    fn login(&self, node: &str) -> &NodeLogin {
        self.nodes
            .iter()
            .find(|l| l.node == node)
            .unwrap_or_else(|| panic!("no sshd for node {node}"))
    }

    /// How the runtime reaches `node` as the current user.
    pub fn target(&self, node: &str) -> SshTarget {
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .expect("current user has a name")
            .name;
        SshTarget {
            host: self.addr(node),
            port: self.port,
            user,
            identity: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            timeout: Duration::from_secs(10),
        }
    }

    /// `pve-sim node down NODE`: offline, its CTs killed, its SSH silent.
    pub fn down(&self, node: &str) {
        self.power("down", node);
    }

    /// `pve-sim node up NODE`: the node answers again (stale sessions ended, onboot CTs
    /// started).
    pub fn up(&self, node: &str) {
        self.power("up", node);
    }

    /// Every node up again, without asserting (for a `Drop` that cleans up through the nodes).
    pub fn all_up(&self) {
        for l in &self.nodes {
            let _ = pve_sim(&self.sim_root)
                .args(["node", "up", &l.node])
                .output();
        }
    }

    fn power(&self, what: &str, node: &str) {
        let out = pve_sim(&self.sim_root)
            .args(["node", what, node])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pve-sim node {what} {node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn pve_sim(sim_root: &Path) -> Command {
    let mut c = Command::new(super::sibling_bin("pve-sim"));
    c.env("PVE_SIM_ROOT", sim_root).stdin(Stdio::null());
    c
}

/// All nodes' sshds on one port that was free a moment ago; None (and nothing left running)
/// if one of them could not take it.
fn try_start_nodes(
    sim_root: &Path,
    d: &Path,
    nodes: &[&str],
    host_keys: &[PathBuf],
    keys: &Path,
) -> Option<(u16, Vec<Child>)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut children: Vec<Child> = Vec::new();
    let give_up = |children: &mut Vec<Child>| {
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        None
    };
    for (i, node) in nodes.iter().enumerate() {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("sshd.log"))
            .unwrap();
        let addr = node_address(i);
        let child = pve_sim(sim_root)
            .arg("sshd")
            .arg(node)
            .arg("--listen")
            .arg(format!("{addr}:{port}"))
            .arg("--host-key")
            .arg(&host_keys[i])
            .arg("--authorized-keys")
            .arg(keys)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start pve-sim sshd");
        children.push(child);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if children[i].try_wait().unwrap().is_some() {
                return give_up(&mut children);
            }
            if TcpStream::connect((addr.as_str(), port)).is_ok() {
                break;
            }
            if Instant::now() >= until {
                return give_up(&mut children);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Some((port, children))
}

impl Drop for NodeSshds {
    fn drop(&mut self) {
        // A node left down would keep its frozen processes: bring every node back first.
        self.all_up();
        for l in &mut self.nodes {
            let listener = l.child.id() as i32;
            let until = Instant::now() + Duration::from_secs(5);
            while !children(listener).is_empty() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            for pid in children(listener) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = l.child.kill();
            let _ = l.child.wait();
        }
        let _ = pve_sim(&self.sim_root).args(["node", "cleanup"]).output();
    }
}
