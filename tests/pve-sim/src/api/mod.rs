//! `pve-sim api`: Proxmox VE's REST API over HTTPS for a simulated cluster, on top of the
//! sim's `pct` (docs/proxmox-facts.md of the runtime; README.md "The API server").
//!
//! One thread per connection, one request per connection. A request goes: format prefix →
//! token auth → route (schema subset) → fault knobs → parameters (query/body, path
//! variables, schema checks) → node checks → handler. Tasks run as child processes
//! (`tasks.rs`); all state is on disk under `PVE_SIM_ROOT`, shared with `pct`.

mod auth;
mod cluster;
mod ctinfo;
mod ctperms;
mod faults;
mod firewall;
mod ha;
mod http;
mod lxc;
mod migrate;
mod movevol;
mod multipart;
mod network;
mod perms;
pub mod pvesh;
mod reply;
mod schema;
mod storage;
mod taskapi;
mod tasks;
mod tls;
mod vzdump;
mod worker;

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxmox_lxcri::api::credentials::Token;

use crate::sim::Sim;
use faults::Faults;
use http::Request;
use reply::{ApiError, ApiResult};

/// The server's shared state.
pub struct Ctx {
    pub root: PathBuf,
    pub nodes: Vec<String>,
    /// The node answering: the first of `nodes` for the server, the caller's for `pvesh`.
    pub local: String,
    pub tokens: Vec<Token>,
    pub fingerprint: String,
    pub auth_delay: Duration,
    /// The sim's `pct`, sibling of this binary.
    pub pct: PathBuf,
    pub self_exe: PathBuf,
    /// VMIDs whose create task runs (vmid → node): the reservation `create_and_lock_config`
    /// makes before forking, kept here because `pct create` itself writes the config.
    pub creating: Mutex<BTreeMap<u32, String>>,
    /// The tokens' privileges (`--acl`; every privilege without it).
    pub acl: perms::Acl,
}

impl Ctx {
    pub fn faults(&self) -> Faults {
        Faults::load(&self.root)
    }

    /// The sim as seen from node `node` (configs under `nodes/<node>/lxc`).
    pub fn sim(&self, node: &str) -> Sim {
        let mut s = Sim::from_env();
        s.set_root(self.root.clone());
        s.node = node.to_string();
        s
    }
}

/// One API call after its checks: the parameters and the authenticated user.
pub struct Call<'a> {
    pub ctx: &'a Arc<Ctx>,
    pub p: BTreeMap<String, String>,
    /// `user@realm!tokenid`.
    pub user: String,
}

impl Call<'_> {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.p.get(k).map(String::as_str)
    }

    pub fn flag(&self, k: &str) -> bool {
        self.get(k) == Some("1")
    }

    pub fn node(&self) -> &str {
        self.get("node").unwrap_or("")
    }

    pub fn vmid(&self) -> u32 {
        self.get("vmid").and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Starts `work` as the call's user; the answer is its UPID.
    pub fn task(&self, work: tasks::Work) -> ApiResult {
        Ok(serde_json::json!(tasks::spawn(self.ctx, &self.user, work)?).into())
    }

    /// Every token user differs from `root@pam`: a token acts as `user@realm!tokenid`.
    pub fn is_root(&self) -> bool {
        self.user == "root@pam"
    }

    /// The caller's privileges.
    pub fn acl(&self) -> &perms::Acl {
        &self.ctx.acl
    }
}

const USAGE: &str =
    "usage: pve-sim api [--listen ADDR] [--nodes N1,N2,...] --token USER@REALM!ID=SECRET \
[--token ...] [--tls-dir DIR] [--auth-delay-ms MS] [--acl FILE]";

/// `pve-sim <args>`: the API server or one of the internal task workers.
pub fn main(args: Vec<String>) -> i32 {
    match args.first().map(String::as_str) {
        Some("api") => match serve(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("pve-sim api: {e}");
                2
            }
        },
        Some("lxcnetaddbr") => crate::netns::hook_main(&args[1..]),
        Some("ha-crm") => crate::hacrm::main(&args[1..]),
        Some("sshd") => crate::sshd::main(&args[1..]),
        Some("node") => crate::power::main(&args[1..]),
        Some(cmd) => worker::run(cmd, &args[1..]).unwrap_or_else(|| {
            eprintln!("{USAGE}");
            2
        }),
        None => {
            eprintln!("{USAGE}");
            2
        }
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let sim = Sim::from_env();
    if let Some(e) = sim.version_error {
        return Err(e);
    }
    let mut listen = "127.0.0.1:8006".to_string();
    let mut nodes = vec![sim.node.clone()];
    let mut tokens = Vec::new();
    let mut tls_dir = sim.root.join("etc/pve/local");
    let mut auth_delay = Duration::from_secs(3);
    let mut acl = perms::Acl::all();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or(format!("{a}: missing value\n{USAGE}"))
        };
        match a.as_str() {
            "--listen" => listen = val()?,
            "--nodes" => {
                nodes = val()?
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--token" => {
                let t = val()?;
                tokens.push(Token::parse(&t).ok_or("--token: expected USER@REALM!ID=SECRET")?);
            }
            "--tls-dir" => tls_dir = PathBuf::from(val()?),
            "--acl" => acl = perms::Acl::load(std::path::Path::new(&val()?))?,
            "--auth-delay-ms" => {
                auth_delay = Duration::from_millis(
                    val()?
                        .parse()
                        .map_err(|_| "--auth-delay-ms: not a number")?,
                )
            }
            other => return Err(format!("unknown option '{other}'\n{USAGE}")),
        }
    }
    if tokens.is_empty() || nodes.is_empty() {
        return Err(USAGE.into());
    }
    let self_exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let ctx = Ctx {
        root: sim.root.clone(),
        pct: self_exe.with_file_name("pct"),
        self_exe,
        local: nodes[0].clone(),
        nodes,
        tokens,
        fingerprint: String::new(),
        auth_delay,
        creating: Mutex::new(BTreeMap::new()),
        acl,
    };
    // The first node is the local one (`etc/pve/lxc` points at it).
    for n in &ctx.nodes {
        ctx.sim(n)
            .ensure_layout()
            .map_err(|e| format!("{}: {e}", ctx.root.display()))?;
    }
    for d in [
        "var/log/pve/tasks",
        "var/tmp",
        storage::TEMPLATE_DIR,
        storage::ISO_DIR,
    ] {
        std::fs::create_dir_all(ctx.root.join(d)).map_err(|e| format!("{d}: {e}"))?;
    }
    let tls = tls::setup(&tls_dir, &ctx.nodes)?;
    // pveproxy runs on the local node: it goes down with it (`pve-sim node down`), once the
    // node runs anything (its sshd made its cgroup).
    if crate::power::cgroup_dir(&ctx.root, &ctx.nodes[0]).is_dir() {
        crate::power::join(&ctx.root, &ctx.nodes[0])?;
        crate::power::register_daemon(&ctx.root, &ctx.nodes[0], "api")?;
    }
    let ctx = Arc::new(Ctx {
        fingerprint: tls.fingerprint.clone(),
        ..ctx
    });
    exit_on_sigterm()?;
    let listener = TcpListener::bind(&listen).map_err(|e| format!("{listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "listening on https://{addr} fingerprint {}",
        ctx.fingerprint
    );
    let _ = out.flush();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (ctx, cfg) = (ctx.clone(), tls.config.clone());
        std::thread::spawn(move || connection(&ctx, stream, cfg));
    }
    Ok(())
}

/// SIGTERM and SIGINT end the server with status 0 (a thread waits for them; they are
/// blocked elsewhere, and child processes get an empty mask from `Command`).
fn exit_on_sigterm() -> Result<(), String> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let _ = set.wait();
        std::process::exit(0);
    });
    Ok(())
}

/// How a request ends.
enum Outcome {
    Answer {
        code: u16,
        reason: String,
        body: Vec<u8>,
    },
    /// The `drop` knob: close without answering.
    Drop,
}

impl From<ApiResult> for Outcome {
    fn from(r: ApiResult) -> Self {
        match r {
            Ok(reply) => Outcome::Answer {
                code: 200,
                reason: "OK".into(),
                body: reply.body(),
            },
            Err(e) => Outcome::Answer {
                code: e.code,
                reason: e.reason(),
                body: e.body(),
            },
        }
    }
}

fn connection(ctx: &Arc<Ctx>, tcp: TcpStream, cfg: Arc<rustls::ServerConfig>) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut r = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let req = match http::read_head(&mut r) {
        Ok(Some(req)) => req,
        _ => return,
    };
    let outcome = handle(ctx, &req, &mut r);
    let tls = r.get_mut();
    match outcome {
        Outcome::Drop => {
            let _ = tls.sock.shutdown(Shutdown::Both);
        }
        Outcome::Answer { code, reason, body } => {
            let _ = http::write_response(tls, code, &reason, &body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
            linger(&mut tls.sock);
        }
    }
}

/// Reads (and drops) what the client still sends after the answer, until it closes: closing
/// a socket with unread request bytes (an early error on a body) would reset the connection
/// and the client could lose the answer.
fn linger(sock: &mut TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 64 * 1024];
    let mut left: usize = 1 << 30;
    while left > 0 {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn handle(ctx: &Arc<Ctx>, req: &Request, body: &mut dyn std::io::BufRead) -> Outcome {
    let Some(path) = req.path.strip_prefix("/api2/json") else {
        return Err(ApiError::new(501, "no such uri")).into();
    };
    if !path.is_empty() && !path.starts_with('/') {
        return Err(ApiError::new(501, "no such uri")).into();
    }
    let user = match auth::check(req, &ctx.tokens) {
        Ok(u) => u,
        Err(denied) => {
            std::thread::sleep(ctx.auth_delay);
            return Outcome::Answer {
                code: 401,
                reason: denied.reason().into(),
                body: Vec::new(),
            };
        }
    };
    let method = req.method.as_str();
    let Some((entry, vars)) = schema::route(method, path) else {
        return Err(ApiError::not_implemented(method, path)).into();
    };
    let call_name = format!("{method} {}", entry.path);
    let faults = ctx.faults();
    let delay = faults.delay_ms(&call_name);
    if delay > 0 {
        std::thread::sleep(Duration::from_millis(delay));
    }
    if faults.drop(&call_name) {
        return Outcome::Drop;
    }
    if faults.status_500(&call_name) {
        return Err(ApiError::die("simulated failure")).into();
    }
    // The schema's `permissions.check`, before the parameters are read or verified, as
    // pve-manager's PVE/HTTPServer.pm `rest_handler` does (`check_api2_permissions`).
    if let Err(e) = perms::check_entry(&ctx.acl, &entry.check, &vars) {
        return Err(e).into();
    }
    let result = (|| {
        if entry.path == "/nodes/{node}/storage/{storage}/upload" && method == "POST" {
            return storage::upload(ctx, req, entry, vars, user, body);
        }
        let mut params = BTreeMap::new();
        match method {
            "GET" | "DELETE" => {
                if req.has_body() {
                    return Err(ApiError::new(
                        501,
                        format!("Unexpected content for method '{method}'"),
                    ));
                }
            }
            _ => {
                let raw = read_body(req, body)?;
                params = http::body_params(&req.content_type(), &raw)
                    .map_err(|e| ApiError::new(400, format!("unable to parse body - {e}")))?;
            }
        }
        // Query parameters win over body parameters (`extract_params`).
        params.extend(req.query.iter().cloned());
        let call = prepare(ctx, entry, vars, params, user)?;
        dispatch(method, &entry.path, &call)
    })();
    result.into()
}

fn read_body(req: &Request, body: &mut dyn std::io::BufRead) -> Result<Vec<u8>, ApiError> {
    let mut raw = Vec::new();
    if req.chunked() {
        http::Chunked::new(body)
            .take(http::MAX_BODY)
            .read_to_end(&mut raw)?;
    } else if let Some(n) = req.content_length() {
        if n > http::MAX_BODY {
            return Err(ApiError::new(413, "request entity too large"));
        }
        body.take(n).read_to_end(&mut raw)?;
    }
    Ok(raw)
}

/// Path variables, schema checks and node checks, shared by all calls.
fn prepare<'a>(
    ctx: &'a Arc<Ctx>,
    entry: &schema::Entry,
    vars: BTreeMap<String, String>,
    mut params: BTreeMap<String, String>,
    user: String,
) -> Result<Call<'a>, ApiError> {
    for (k, v) in vars {
        if params.get(&k).is_some_and(|given| *given != v) {
            return Err(ApiError::new(
                400,
                "duplicate parameter (already defined in URI) with conflicting values!",
            ));
        }
        params.insert(k, v);
    }
    schema::validate(entry, &params, &ctx.sim("").version)?;
    if let Some(node) = params.get("node") {
        if !ctx.nodes.contains(node) {
            return Err(ApiError::die(format!("no such cluster node '{node}'")));
        }
        // pveproxy proxies a call for another node to that node's address (pve-http-server
        // src/PVE/APIServer/AnyEvent.pm `proxy_request`) and passes AnyEvent::HTTP's
        // connection error on as the answer: status 595, the errno text as reason, no body.
        if *node != ctx.nodes[0] && ctx.faults().offline(node) {
            return Err(ApiError::unreachable());
        }
    }
    Ok(Call {
        ctx,
        p: params,
        user,
    })
}

pub(super) fn dispatch(method: &str, full: &str, c: &Call) -> ApiResult {
    let path = full.strip_prefix("/nodes/{node}").unwrap_or(full);
    match (method, path) {
        ("GET", "/version") => cluster::version(c),
        ("GET", "/apt/versions") => cluster::apt_versions(c),
        ("GET", "/nodes") => cluster::nodes(c),
        ("GET", "/cluster/status") => cluster::status(c),
        ("GET", "/cluster/sdn/vnets") => network::sdn_vnets(c),
        ("GET", "/network") => network::node_network(c),
        ("GET", "/cluster/firewall/groups") => firewall::list_groups(c),
        ("GET", "/lxc/{vmid}/firewall/options") => firewall::get_options(c),
        ("PUT", "/lxc/{vmid}/firewall/options") => firewall::set_options(c),
        ("GET", "/lxc/{vmid}/firewall/rules") => firewall::get_rules(c),
        ("POST", "/lxc/{vmid}/firewall/rules") => firewall::create_rule(c),
        ("GET", "/lxc/{vmid}/firewall/rules/{pos}") => firewall::get_rule(c),
        ("DELETE", "/lxc/{vmid}/firewall/rules/{pos}") => firewall::delete_rule(c),
        ("GET", "/cluster/resources") => cluster::resources(c),
        ("GET", "/cluster/nextid") => cluster::nextid(c),
        ("GET", "/lxc") => lxc::list(c),
        ("POST", "/lxc") => lxc::create(c),
        ("GET", "/lxc/{vmid}") => lxc::index(c),
        ("DELETE", "/lxc/{vmid}") => lxc::destroy(c),
        ("GET", "/lxc/{vmid}/config") => lxc::config(c),
        ("PUT", "/lxc/{vmid}/config") => lxc::set(c),
        ("GET", "/lxc/{vmid}/pending") => lxc::pending(c),
        ("GET", "/lxc/{vmid}/status") => lxc::status_index(c),
        ("GET", "/lxc/{vmid}/status/current") => lxc::current(c),
        ("POST", "/lxc/{vmid}/migrate") => migrate::migrate(c),
        ("POST", "/lxc/{vmid}/move_volume") => movevol::move_volume(c),
        ("POST", "/lxc/{vmid}/status/start") => lxc::start(c),
        ("POST", "/lxc/{vmid}/status/stop") => lxc::stop(c, false),
        ("POST", "/lxc/{vmid}/status/shutdown") => lxc::stop(c, true),
        ("POST", "/vzdump") => vzdump::create(c),
        ("GET", "/tasks") => taskapi::list(c),
        ("GET", "/tasks/{upid}") => taskapi::index(c),
        ("GET", "/tasks/{upid}/status") => taskapi::status(c),
        ("GET", "/tasks/{upid}/log") => taskapi::log(c),
        ("DELETE", "/tasks/{upid}") => taskapi::stop(c),
        ("GET", "/storage") => storage::list(c),
        ("GET", "/storage/{storage}") => storage::index(c),
        ("GET", "/storage/{storage}/status") => storage::status(c),
        ("GET", "/storage/{storage}/content") => storage::content(c),
        ("GET", "/storage/{storage}/content/{volume}") => storage::volume_info(c),
        ("DELETE", "/storage/{storage}/content/{volume}") => storage::volume_delete(c),
        ("GET", "/access/permissions") => access_permissions(c),
        ("GET", "/cluster/ha/resources") => ha::index(c),
        ("POST", "/cluster/ha/resources") => ha::create(c),
        ("GET", "/cluster/ha/resources/{sid}") => ha::read(c),
        ("PUT", "/cluster/ha/resources/{sid}") => ha::update(c),
        ("DELETE", "/cluster/ha/resources/{sid}") => ha::delete(c),
        ("GET", "/cluster/ha/status/current") => ha::status_current(c),
        _ => Err(ApiError::new(
            501,
            format!("pve-sim: '{method} {full}' is not simulated"),
        )),
    }
}

/// `GET /access/permissions` (pve-access-control src/PVE/API2/AccessControl.pm `permissions`):
/// the caller's effective privileges, of one `path` or of the whole tree.
fn access_permissions(c: &Call) -> ApiResult {
    if let Some(other) = c.get("userid").filter(|u| *u != c.user) {
        // Another user (or a token not owned by the caller) needs Sys.Audit on /access.
        c.acl().check("/access", &["Sys.Audit"])?;
        return Err(ApiError::new(
            501,
            format!("pve-sim: permissions of '{other}' are not simulated"),
        ));
    }
    let map = match c.get("path") {
        Some(p) => {
            let mut m = BTreeMap::new();
            m.insert(p.to_string(), c.acl().privs(p));
            m
        }
        None => c.acl().effective(),
    };
    Ok(perms::as_json(&map).into())
}
