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
