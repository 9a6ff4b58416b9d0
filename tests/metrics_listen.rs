//! `metrics --listen`: GET /metrics over HTTP from a pve-sim root with a running container,
//! checked by `promtool check metrics`, each scrape with the operations counted so far; other paths, methods and oversized heads refused
//! while the server keeps serving; SIGTERM ends it with 0; a non-loopback address only with
//! --allow-remote, and then a warning.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server process, killed if a failing test leaves it running.
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `metrics --listen ADDR` (and `extra`) started, stderr piped.
fn start(sim: &Sim, addr: &str, extra: &[&str]) -> Server {
    let child = sim
        .runtime()
        .args(["metrics", "--listen", addr])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Server(child)
}

/// Stderr up to the line that says the server is listening (connecting to find out would take
/// one of its connection slots for a moment).
fn serving(child: &mut Child) -> String {
    let mut r = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "exited before serving: {seen}"
        );
        seen.push_str(&line);
        if line.contains("serving http://") {
            // Keep reading: a closed pipe would make the server's next stderr line fail.
            std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
            return seen;
        }
    }
}

/// Status code of a raw request, and the whole response.
fn raw(port: u16, req: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer before reading everything; a reset on write is fine.
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn get(url: &str) -> (u16, String, String) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    match agent.get(url).call() {
        Ok(r) => {
            let ct = r.header("content-type").unwrap_or("").to_string();
            (r.status(), ct, r.into_string().unwrap())
        }
        Err(ureq::Error::Status(code, r)) => (code, String::new(), r.into_string().unwrap()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

fn sigterm(child: &Child) {
    signal(child, nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn serves_fresh_metrics_refuses_the_rest_and_ends_on_sigterm() {
    let sim = Sim::new("metrics_listen");
    let b = sim.bundle("b", "echo up; sleep 1000");
    let c = create(&sim, &b, "m1");
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        c.stdout() == "up\n"
    });

    let port = free_port();
    let mut server = start(&sim, &format!("127.0.0.1:{port}"), &[]);
    serving(&mut server);
    let url = format!("http://127.0.0.1:{port}/metrics");

    let (code, ct, text) = get(&url);
    assert_eq!(code, 200, "{text}");
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        text.contains(r#"proxmox_lxcri_container_state{id="m1","#)
            && text.contains(r#"state="running"} 1"#),
        "{text}"
    );
    common::promtool(&text);
    let kills = r#"proxmox_lxcri_operations_total{subcommand="kill",result="ok"} 1"#;
    assert!(
        text.contains(r#"proxmox_lxcri_operations_total{subcommand="start",result="ok"} 1"#)
            && !text.contains(kills),
        "{text}"
    );

    assert_eq!(get(&format!("http://127.0.0.1:{port}/other")).0, 404);
    let (code, resp) = raw(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(code, 405, "{resp}");
    assert!(resp.contains("Allow: GET, HEAD\r\n"), "{resp}");
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let (code, resp) = raw(port, big.as_bytes());
    assert_eq!(code, 431, "{resp}");

    // Still serving, and each scrape reads afresh: the killed container is stopped now.
    assert!(sim.run(&["kill", "m1", "KILL"]).status.success());
    c.wait();
    let (code, _, text) = get(&url);
    assert_eq!(code, 200);
    assert!(text.contains(r#"state="stopped"} 1"#), "{text}");
    // So are the operations: every invocation merged its counts as it ended.
    assert!(text.contains(kills), "{text}");

    sigterm(&server);
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    c.delete();
}

#[test]
fn idle_connections_beyond_the_limit_get_503() {
    let sim = Sim::new("metrics_listen_busy");
    let port = free_port();
    let mut server = start(&sim, &format!("127.0.0.1:{port}"), &[]);
    serving(&mut server);
    // Four silent clients hold every slot; the fifth is turned away at once.
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (code, resp) = raw(port, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(code, 503, "{resp}");
    drop(idle);
    wait_for("a free slot", Duration::from_secs(10), || {
        raw(port, b"GET /metrics HTTP/1.1\r\n\r\n").0 == 200
    });
    sigterm(&server);
    assert_eq!(server.wait().unwrap().code(), Some(0));
}

#[test]
fn non_loopback_only_with_allow_remote_and_a_warning() {
    let sim = Sim::new("metrics_listen_remote");
    let port = free_port();
    let addr = format!("0.0.0.0:{port}");
    let out = sim.run(&["metrics", "--listen", &addr]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&addr) && err.contains("--allow-remote") && err.lines().count() == 1,
        "{err}"
    );

    let mut server = start(&sim, &addr, &["--allow-remote"]);
    let err = serving(&mut server);
    assert_eq!(raw(port, b"GET /metrics HTTP/1.1\r\n\r\n").0, 200);
    // SIGINT (a terminal's ^C) ends it as cleanly as SIGTERM.
    signal(&server, nix::sys::signal::Signal::SIGINT);
    assert_eq!(server.wait().unwrap().code(), Some(0));
    assert!(err.contains("warning:") && err.contains(&addr), "{err}");
}

#[test]
fn the_systemd_service_serves_the_crio_root_on_loopback() {
    use clap::Parser;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit =
        std::fs::read_to_string(dir.join("contrib/systemd/proxmox-lxcri-metrics.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    let cli = proxmox_lxcri::cli::Cli::try_parse_from(&argv).expect("the runtime's command line");
    let Some(proxmox_lxcri::cli::Command::Metrics(a)) = cli.command else {
        panic!("not metrics: {exec}");
    };
    assert!(a.listen.unwrap().ip().is_loopback() && !a.allow_remote);
    // The root CRI-O's drop-in passes, and the default configuration.
    let crio = std::fs::read_to_string(dir.join("contrib/crio/50-proxmox-lxcri.conf")).unwrap();
    let root = cli.global.root.unwrap();
    assert!(crio.contains(&format!("runtime_root = \"{}\"", root.display())));
    assert_eq!(
        cli.global.config.unwrap(),
        std::path::PathBuf::from(proxmox_lxcri::config::DEFAULT_PATH)
    );
    assert!(unit.contains("WantedBy=multi-user.target") && unit.contains("Type=simple"));
}
