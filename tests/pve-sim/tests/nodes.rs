//! Each member of the sim's cluster as a node of its own from outside: its own address and
//! sshd (`pve-sim sshd`), whose sessions run the tools as that node, and its power
//! (`pve-sim node down|up`).

mod common;

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{code, err, out, root_node, Node, NODE};

const PVE_SIM: &str = env!("CARGO_BIN_EXE_pve-sim");
const OTHER: &str = "n2";

/// The sshds of `NODE` (127.0.0.1) and `OTHER` (127.0.0.2) on one port, a client key for both.
struct Logins {
    root: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    servers: Vec<Child>,
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

fn pve_sim(root: &Path, args: &[&str]) -> Output {
    Command::new(PVE_SIM)
        .args(args)
        .env("PVE_SIM_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

impl Logins {
    fn start(n: &Node) -> Logins {
        fs::create_dir_all(n.root.join(format!("etc/pve/nodes/{OTHER}/lxc"))).unwrap();
        n.ok(&["list"]);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("id"));
        let client = fs::read_to_string(d.join("id.pub")).unwrap();
        fs::write(d.join("keys"), client).unwrap();
        let bin = Path::new(PVE_SIM).parent().unwrap().display().to_string();
        let path = format!("{bin}:/usr/sbin:/usr/bin:/sbin:/bin");
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut servers = Vec::new();
            let mut kh = String::new();
            for (i, node) in [NODE, OTHER].iter().enumerate() {
                let key = d.join(format!("host_{node}"));
                if !key.exists() {
                    keygen(&key);
                }
                let addr = format!("127.0.0.{}", i + 1);
                let pubkey = fs::read_to_string(key.with_extension("pub")).unwrap();
                kh.push_str(&format!("[{addr}]:{port} {}", pubkey));
                servers.push(
                    Command::new(PVE_SIM)
                        .args(["sshd", node, "--listen", &format!("{addr}:{port}")])
                        .arg("--host-key")
                        .arg(&key)
                        .arg("--authorized-keys")
                        .arg(d.join("keys"))
                        .args(["--path", &path])
                        .env("PVE_SIM_ROOT", &n.root)
                        .stdin(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
            }
            fs::write(d.join("known_hosts"), kh).unwrap();
            let until = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < until {
                up = ["127.0.0.1", "127.0.0.2"]
                    .iter()
                    .all(|a| TcpStream::connect((*a, port)).is_ok());
                if up || servers.iter_mut().any(|s| s.try_wait().unwrap().is_some()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                return Logins {
                    root: n.root.clone(),
                    dir,
                    port,
                    servers,
                };
            }
            // The port was taken meanwhile: another one.
            for mut s in servers {
                let _ = s.kill();
                let _ = s.wait();
            }
        }
        panic!("the node sshds did not come up");
    }

    /// `ssh` to `addr` running `cmd`.
    fn ssh(&self, addr: &str, cmd: &str) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("ssh");
        c.arg("-i")
            .arg(d.join("id"))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                d.join("known_hosts").display()
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args(["-o", "ConnectTimeout=5", "-p", &self.port.to_string()])
            .arg(format!("root@{addr}"))
            .arg(cmd)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, addr: &str, cmd: &str) -> Output {
        self.ssh(addr, cmd).output().unwrap()
    }
}

impl Drop for Logins {
    fn drop(&mut self) {
        for n in [NODE, OTHER] {
            let _ = pve_sim(&self.root, &["node", "up", n]);
        }
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        let o = pve_sim(&self.root, &["node", "cleanup"]);
        assert!(
            o.status.success() || std::thread::panicking(),
            "{}",
            err(&o)
        );
    }
}

/// Stops and destroys CTs of `OTHER` (the `Node` guard handles `NODE`'s).
struct OtherCts<'a>(&'a Node, Vec<u32>);

impl Drop for OtherCts<'_> {
    fn drop(&mut self) {
        for v in &self.1 {
            let v = v.to_string();
            let _ = on_other(self.0, &["stop", &v]);
            let _ = on_other(self.0, &["destroy", &v, "--force", "1"]);
        }
    }
}

fn on_other(n: &Node, args: &[&str]) -> Output {
    n.pct_env(&[("PVE_SIM_NODE", OTHER)], args)
}

fn create_on_other(n: &Node, vmid: u32, extra: &[&str]) {
    let id = vmid.to_string();
    let rootfs = n.rootfs.to_string_lossy().into_owned();
    let mut args = vec![
        "create",
        &id,
        n.template.to_str().unwrap(),
        "--rootfs",
        &rootfs,
    ];
    args.extend([
        "--ostype",
        "unmanaged",
        "--arch",
        "amd64",
        "--unprivileged",
        "0",
    ]);
    args.extend(["--entrypoint", "/bin/sleep 100000", "--memory", "64"]);
    args.extend(extra);
    let o = on_other(n, &args);
    assert_eq!(code(&o), 0, "{}", err(&o));
}

/// Each node's sshd at its own address runs the tools as that node: `pct` there sees only
/// the node's own CTs and refuses another node's as Proxmox does (pve-container
/// src/PVE/LXC/Config.pm `load_config`), and `pvecm status` marks it `(local)`.
#[test]
fn each_node_logs_in_as_itself() {
    let Some(n) = root_node() else { return };
    let l = Logins::start(&n);
    n.create(94101, &[]);
    let o = l.run("127.0.0.2", "echo $PVE_SIM_NODE; pct status 94101");
    assert_eq!(out(&o), "n2\n");
    assert_eq!(code(&o), 2);
    assert_eq!(
        err(&o),
        "Configuration file 'nodes/n2/lxc/94101.conf' does not exist\n"
    );
    let o = l.run("127.0.0.1", "echo $PVE_SIM_NODE; pct status 94101");
    assert_eq!(
        (code(&o), out(&o)),
        (0, format!("{NODE}\nstatus: stopped\n"))
    );

    let o = l.run("127.0.0.2", "pvecm status");
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("Node ID:          0x00000002\n"), "{text}");
    assert!(text.contains("0x00000001          1 127.0.0.1\n"), "{text}");
    assert!(
        text.contains("0x00000002          1 127.0.0.2 (local)\n"),
        "{text}"
    );
    let o = l.run(
        "127.0.0.2",
        "pvesh get /cluster/status --output-format json",
    );
    let st: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(
        (&st[1]["name"], &st[1]["ip"], &st[1]["local"]),
        (
            &serde_json::json!(NODE),
            &serde_json::json!("127.0.0.1"),
            &serde_json::json!(0)
        )
    );
    assert_eq!(
        (&st[2]["name"], &st[2]["ip"], &st[2]["local"]),
        (
            &serde_json::json!(OTHER),
            &serde_json::json!("127.0.0.2"),
            &serde_json::json!(1)
        )
    );
}

/// Bytes a child's stdout has produced so far, read by a thread.
fn collect(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 256];
        while let Ok(k) = stdout.read(&mut chunk) {
            if k == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..k]);
        }
    });
    buf
}

/// `pve-sim node down`: the node is offline for pvecm and pvesh, its running CTs are killed
/// (configs stay), its sshd accepts but never greets, a session on it sends nothing and does
/// not end; the other node answers. `up`: stale sessions end, SSH answers, a CT stays stopped
/// unless `onboot`.
#[test]
fn node_down_and_up() {
    let Some(n) = root_node() else { return };
    let l = Logins::start(&n);
    let _cts = OtherCts(&n, vec![94111, 94112]);
    create_on_other(&n, 94111, &[]);
    create_on_other(&n, 94112, &["--onboot", "1"]);
    for v in ["94111", "94112"] {
        let o = l.run("127.0.0.2", &format!("pct start {v}"));
        assert_eq!(code(&o), 0, "{}", err(&o));
    }
    let mut session = l
        .ssh("127.0.0.2", "while :; do echo tick; sleep 0.1; done")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = collect(&mut session);
    let until = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < until, "the session never printed");
        std::thread::sleep(Duration::from_millis(20));
    }

    let o = pve_sim(&n.root, &["node", "down", OTHER]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let len = seen.lock().unwrap().len();
    for v in [94111, 94112] {
        assert_eq!(
            out(&on_other(&n, &["status", &v.to_string()])),
            "status: stopped\n",
            "CT {v} killed"
        );
        assert!(
            n.root
                .join(format!("etc/pve/nodes/{OTHER}/lxc/{v}.conf"))
                .exists(),
            "config kept"
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_pvecm"))
        .arg("status")
        .env("PVE_SIM_ROOT", &n.root)
        .env("PVE_SIM_NODE", NODE)
        .output()
        .unwrap();
    let text = out(&o);
    assert!(text.contains("Quorate:          No\n"), "{text}");
    assert!(!text.contains("127.0.0.2"), "{text}");

    // A new connection is accepted (the kernel) but gets no banner.
    let mut s = TcpStream::connect(("127.0.0.2", l.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut b = [0u8; 64];
    let r = s.read(&mut b);
    assert!(
        matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "no banner, no EOF: {r:?}"
    );
    // The session neither prints nor ends.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(seen.lock().unwrap().len(), len, "frozen session sent data");
    assert!(session.try_wait().unwrap().is_none(), "session ended");
    // The other node answers.
    let o = l.run("127.0.0.1", "echo $PVE_SIM_NODE");
    assert_eq!(out(&o), format!("{NODE}\n"));

    let o = pve_sim(&n.root, &["node", "up", OTHER]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let until = Instant::now() + Duration::from_secs(10);
    while session.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "stale session still open after up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = l.run("127.0.0.2", "pct status 94111; pct status 94112");
    assert_eq!(
        out(&o),
        "status: stopped\nstatus: running\n",
        "only the onboot CT boots: {}",
        err(&o)
    );
    let faults = fs::read_to_string(n.root.join("api-faults.json")).unwrap();
    assert!(!faults.contains(OTHER), "{faults}");
}

#[test]
fn node_down_of_an_unknown_node_is_refused() {
    let Some(n) = root_node() else { return };
    n.ok(&["list"]);
    let o = pve_sim(&n.root, &["node", "down", "nope"]);
    assert_eq!(code(&o), 1);
    assert_eq!(err(&o), "pve-sim node: no such cluster node 'nope'\n");
    assert!(!n.root.join("api-faults.json").exists());
}

/// `pve-sim api` on the first node, for `NODE` and `OTHER`: (server, base URL, agent whose
/// calls give up after `timeout`).
fn api(n: &Node, timeout: Duration) -> (Child, String, ureq::Agent) {
    use std::io::BufRead;
    let mut child = Command::new(PVE_SIM)
        .args(["api", "--listen", "127.0.0.1:0", "--nodes"])
        .arg(format!("{NODE},{OTHER}"))
        .args([
            "--token",
            "root@pam!t=s",
            "--auth-delay-ms",
            "0",
            "--tls-dir",
        ])
        .arg(n.dir.path().join("tls"))
        .env("PVE_SIM_ROOT", &n.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let rest = line.trim().strip_prefix("listening on ").unwrap();
    let (url, fp) = rest.split_once(" fingerprint ").unwrap();
    let trust = proxmox_lxcri::api::Trust::Pin(fp.parse().unwrap());
    let agent = ureq::AgentBuilder::new()
        .tls_config(proxmox_lxcri::api::client_config(&trust).unwrap())
        .timeout(timeout)
        .build();
    (child, format!("{url}/api2/json"), agent)
}

/// pveproxy runs on its node: a call for a node that is down fails as pveproxy's proxying
/// does (`595 No route to host`, no body), and the server itself goes silent when its own
/// node goes down, and answers again once it is up.
#[test]
fn the_api_for_a_node_that_is_down() {
    let Some(n) = root_node() else { return };
    let l = Logins::start(&n);
    let (mut server, base, agent) = api(&n, Duration::from_millis(1500));
    // (status, reason, body), or None when no answer came.
    let get = |node: &str| -> Option<(u16, String, String)> {
        let r = agent
            .get(&format!("{base}/nodes/{node}/lxc"))
            .set("Authorization", "PVEAPIToken=root@pam!t=s")
            .call();
        let resp = match r {
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
            Err(ureq::Error::Transport(_)) => return None,
        };
        let (code, reason) = (resp.status(), resp.status_text().to_string());
        Some((code, reason, resp.into_string().unwrap_or_default()))
    };
    assert_eq!(get(OTHER).map(|a| a.0), Some(200));
    let o = pve_sim(&n.root, &["node", "down", OTHER]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        get(OTHER),
        Some((595, "No route to host".into(), String::new())),
        "pveproxy's answer for a node it cannot reach"
    );
    assert_eq!(get(NODE).map(|a| a.0), Some(200), "the local node answers");
    let o = pve_sim(&n.root, &["node", "down", NODE]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        get(NODE),
        None,
        "no answer from a server whose node is down"
    );
    for node in [NODE, OTHER] {
        let o = pve_sim(&n.root, &["node", "up", node]);
        assert_eq!(code(&o), 0, "{}", err(&o));
    }
    assert_eq!(get(OTHER).map(|a| a.0), Some(200));
    let _ = server.kill();
    let _ = server.wait();
    drop(l);
}
