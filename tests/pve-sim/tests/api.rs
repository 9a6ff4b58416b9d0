//! `pve-sim api`: the REST API over HTTPS, talked to with a client that pins the fingerprint the
//! server prints. Most CTs come from the sim's `pct` (an API token may not use a bind rootfs);
//! one is created through the API alone from an uploaded template. VMIDs 93801–93899.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{root_node, Node, NODE};
use proxmox_lxcri::api::{client_config, Trust};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TOKEN: &str = "root@pam!ci=s3cret";
const OTHER: &str = "n2";

/// A running `pve-sim api`, killed on drop.
struct Server {
    child: Child,
    base: String,
    fingerprint: String,
    agent: ureq::Agent,
    root: std::path::PathBuf,
}

/// An answer: status, reason phrase, JSON body (`Null` when empty).
struct Answer {
    code: u16,
    reason: String,
    body: Value,
}

impl Answer {
    /// The status code and reason phrase.
    fn status(&self) -> (u16, &str) {
        (self.code, &self.reason)
    }
}

impl Server {
    fn start(n: &Node, extra: &[&str]) -> Server {
        Server::start_env(n, extra, &[])
    }

    /// A server whose environment adds `env` (e.g. `PVE_SIM_VERSION`).
    fn start_env(n: &Node, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let tls = n.dir.path().join("tls");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pve-sim"))
            .args(["api", "--listen", "127.0.0.1:0", "--nodes"])
            .arg(format!("{NODE},{OTHER}"))
            .args(["--token", TOKEN, "--tls-dir"])
            .arg(&tls)
            .args(["--auth-delay-ms", "0"])
            .args(extra)
            .env("PVE_SIM_ROOT", &n.root)
            .env_remove("PVE_SIM_FAIL")
            .env_remove("PVE_SIM_VERSION")
            .env_remove("PVE_SIM_PVE_CONTAINER")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting pve-sim api");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reading the listening line");
        // `listening on https://IP:PORT fingerprint XX:XX:…`
        let rest = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let (url, fp) = rest.split_once(" fingerprint ").expect("fingerprint");
        // The runtime's own pinning, as a client of a real node would use it.
        let pin = fp.parse().expect("printed fingerprint parses");
        let cfg = client_config(&Trust::Pin(pin)).expect("tls config");
        let agent = ureq::AgentBuilder::new()
            .tls_config(cfg)
            .timeout(Duration::from_secs(60))
            .build();
        Server {
            child,
            base: format!("{url}/api2/json"),
            fingerprint: fp.to_string(),
            agent,
            root: n.root.clone(),
        }
    }

    fn send(&self, req: ureq::Request, body: Option<(&str, Vec<u8>)>) -> Answer {
        let res = match body {
            Some((ct, bytes)) => req.set("Content-Type", ct).send_bytes(&bytes),
            None => req.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let code = resp.status();
        let reason = resp.status_text().to_string();
        let text = resp.into_string().unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"))
        };
        Answer { code, reason, body }
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>) -> ureq::Request {
        let mut r = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.set("Authorization", &format!("PVEAPIToken={t}"));
        }
        r
    }

    /// A call with the test token; `form` becomes an urlencoded body.
    fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let r = self.request(method, path, Some(TOKEN));
        if form.is_empty() {
            return self.send(r, None);
        }
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        self.send(
            r,
            Some((
                "application/x-www-form-urlencoded",
                body.join("&").into_bytes(),
            )),
        )
    }

    fn ok(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let a = self.call(method, path, form);
        assert_eq!(a.code, 200, "{method} {path}: {} {}", a.reason, a.body);
        a.body["data"].clone()
    }

    fn task_status(&self, node: &str, upid: &str) -> Value {
        let path = format!("/nodes/{node}/tasks/{}/status", encode(upid));
        self.ok("GET", &path, &[])
    }

    /// A call that fails parameter verification: its per-parameter errors.
    fn param_errors(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let a = self.call(method, path, form);
        let bad = (400, "Parameter verification failed.");
        assert_eq!(a.status(), bad, "{method} {path}: {}", a.body);
        a.body["errors"].clone()
    }

    /// Polls a task until it stopped; returns its status object.
    fn wait_task(&self, node: &str, upid: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let st = self.task_status(node, upid);
            if st["status"] == "stopped" {
                return st;
            }
            assert!(Instant::now() < until, "task {upid} still running");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a task of the local node and asserts that it ended OK.
    fn wait_ok(&self, upid: &str) {
        let st = self.wait_task(NODE, upid);
        assert_eq!(st["exitstatus"], "OK", "{upid}: {st}");
    }

    /// A call that starts a task on the local node; waits until it ended OK, returns the UPID.
    fn task_ok(&self, method: &str, path: &str, form: &[(&str, &str)]) -> String {
        let upid = self.ok(method, path, form);
        let upid = upid.as_str().expect("a UPID");
        self.wait_ok(upid);
        upid.to_string()
    }

    fn task_log(&self, node: &str, upid: &str, query: &str) -> Value {
        let a = self.call(
            "GET",
            &format!("/nodes/{node}/tasks/{}/log{query}", encode(upid)),
            &[],
        );
        assert_eq!(a.code, 200, "{}", a.body);
        a.body
    }

    fn faults(&self, knobs: Value) {
        fs::write(self.root.join("api-faults.json"), knobs.to_string()).unwrap();
    }

    /// Multipart upload with the given parts: `(name, filename, data)`.
    fn upload(&self, node: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Answer {
        self.upload_to(node, "local", parts)
    }

    /// Multipart upload to storage `storage`.
    fn upload_to(
        &self,
        node: &str,
        storage: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Answer {
        let boundary = "pveSimTestBoundary42";
        let mut body = Vec::new();
        for (name, filename, data) in parts {
            body.extend(format!("--{boundary}\r\n").bytes());
            match filename {
                Some(f) => body.extend(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .bytes(),
                ),
                None => body.extend(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").bytes(),
                ),
            }
            body.extend_from_slice(data);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        let r = self.request(
            "POST",
            &format!("/nodes/{node}/storage/{storage}/upload"),
            Some(TOKEN),
        );
        let ct = format!("multipart/form-data; boundary={boundary}");
        self.send(r, Some((&ct, body)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Writes a bare config into `node`'s directory, as if that node owned the CT.
fn foreign_conf(n: &Node, node: &str, vmid: u32) {
    let dir = n.root.join(format!("etc/pve/nodes/{node}/lxc"));
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join(format!("{vmid}.conf")),
        "hostname: elsewhere\nmemory: 64\n",
    )
    .unwrap();
}

/// A tiny tar (just `etc/hello`): fine for upload and listing, but no CT can start from it.
fn small_tar(dir: &Path, name: &str) -> Vec<u8> {
    let src = dir.join("tar-src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hello"), "hi\n").unwrap();
    pack(&src, &dir.join(name))
}

/// A template a CT can start from, like Proxmox's: the test rootfs (busybox with `/bin/sleep`,
/// and `dev/`, `proc/`, `sys/`), packed as `name` in the test's temp dir.
fn rootfs_tar(n: &Node, name: &str) -> Vec<u8> {
    pack(&n.rootfs, &n.dir.path().join(name))
}

/// Packs the tree `src` into the tar `out` and returns its bytes.
fn pack(src: &Path, out: &Path) -> Vec<u8> {
    common::pack(src, out, &[]);
    fs::read(out).unwrap()
}

#[test]
fn auth_and_envelope() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    assert_eq!(s.fingerprint.split(':').count(), 32);

    let a = s.send(s.request("GET", "/version", None), None);
    assert_eq!(
        (a.code, a.reason.as_str(), &a.body),
        (401, "No ticket", &Value::Null)
    );
    let a = s.send(
        s.request("GET", "/version", Some("root@pam!ci=wrong")),
        None,
    );
    assert_eq!(a.status(), (401, "Authentication failed!"));
    // The space form of the header, URI-escaped.
    let r = s
        .agent
        .get(&format!("{}/version", s.base))
        .set("Authorization", "PVEAPIToken root@pam%21ci=s3cret");
    assert_eq!(s.send(r, None).code, 200);

    let v = s.ok("GET", "/version", &[]);
    assert!(v["version"].is_string());

    // Other formats than json.
    let url = s.base.replace("/api2/json", "/api2/extjs/version");
    let a = s.send(
        s.agent
            .get(&url)
            .set("Authorization", &format!("PVEAPIToken={TOKEN}")),
        None,
    );
    assert_eq!(a.status(), (501, "no such uri"));

    // No exec endpoint for CTs.
    let a = s.call("POST", "/nodes/simnode/lxc/93801/exec", &[]);
    assert_eq!(a.code, 501);
    assert_eq!(
        a.body["message"],
        "Method 'POST /nodes/simnode/lxc/93801/exec' not implemented\n"
    );
    assert_eq!(
        a.reason,
        "Method 'POST /nodes/simnode/lxc/93801/exec' not implemented"
    );

    // A body on GET.
    let r = s.request("GET", "/version", Some(TOKEN));
    let a = s.send(
        r,
        Some(("application/x-www-form-urlencoded", b"a=1".to_vec())),
    );
    assert_eq!(a.code, 501);
    assert_eq!(a.body["message"], "Unexpected content for method 'GET'\n");
}

#[test]
fn auth_failures_are_delayed() {
    let Some(n) = root_node() else { return };
    // The later --auth-delay-ms wins over the harness's 0.
    let s = Server::start(&n, &["--auth-delay-ms", "400"]);
    let t = Instant::now();
    let a = s.send(s.request("GET", "/nodes", Some("root@pam!ci=nope")), None);
    assert_eq!(a.code, 401);
    assert!(t.elapsed() >= Duration::from_millis(400));
}

#[test]
fn parameter_checks() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);

    let a = s.call("GET", "/cluster/resources?type=vm&foo=1", &[]);
    assert_eq!(a.status(), (400, "Parameter verification failed."));
    assert_eq!(a.body["message"], "Parameter verification failed.\n");
    assert_eq!(
        a.body["errors"],
        json!({"foo": "property is not defined in schema and the schema does not allow additional properties"})
    );
    let errors = s.param_errors("GET", "/cluster/resources?type=bogus", &[]);
    assert_eq!(
        errors["type"],
        "value 'bogus' does not have a value in the enumeration 'vm, storage, node, sdn'"
    );

    assert_eq!(
        s.param_errors("GET", "/nodes/simnode/lxc/99/config", &[]),
        json!({"vmid": "invalid format - value does not look like a valid VM ID\n"})
    );
    let errors = s.param_errors("GET", "/nodes/simnode/lxc/abc/status/current", &[]);
    assert_eq!(errors["vmid"], "type check ('integer') failed - got 'abc'");

    let form = [("vmid", "93801"), ("memory", "8")];
    assert_eq!(
        s.param_errors("POST", "/nodes/simnode/lxc", &form),
        json!({
            "ostemplate": "property is missing and it is not optional",
            "memory": "value must have a minimum value of 16",
        })
    );
    // JSON bodies work too, booleans included.
    let r = s.request("PUT", "/nodes/simnode/lxc/93801/config", Some(TOKEN));
    let a = s.send(
        r,
        Some((
            "application/json",
            br#"{"onboot":"yes","lxc.foo":"x"}"#.to_vec(),
        )),
    );
    assert_eq!(a.code, 400);
    assert_eq!(
        a.body["errors"]["onboot"],
        "type check ('boolean') failed - got 'yes'"
    );
    assert!(a.body["errors"]["lxc.foo"]
        .as_str()
        .unwrap()
        .starts_with("property is not defined"));

    // Unknown nodes, CTs of another node.
    let a = s.call("GET", "/nodes/nosuch/lxc", &[]);
    assert_eq!(a.status(), (500, "no such cluster node 'nosuch'"));
    foreign_conf(&n, OTHER, 93802);
    let a = s.call("GET", "/nodes/simnode/lxc/93802/config", &[]);
    assert_eq!(
        (a.code, a.body["message"].as_str().unwrap()),
        (
            500,
            "Configuration file 'nodes/simnode/lxc/93802.conf' does not exist\n"
        )
    );
    let conf = s.ok("GET", &format!("/nodes/{OTHER}/lxc/93802/config"), &[]);
    assert_eq!(conf["memory"], 64, "numbers are JSON numbers");
    assert_eq!(conf["digest"].as_str().unwrap().len(), 40);

    // nextid: a string; a taken id is a parameter error.
    let id = s.ok("GET", "/cluster/nextid", &[]);
    assert_eq!(id, json!("100"));
    assert_eq!(
        s.param_errors("GET", "/cluster/nextid?vmid=93802", &[]),
        json!({"vmid": "VM 93802 already exists"})
    );
    assert_eq!(
        s.ok("GET", "/cluster/nextid?vmid=93803", &[]),
        json!("93803")
    );

    // The CT of the other node shows up cluster-wide.
    let res = s.ok("GET", "/cluster/resources?type=vm", &[]);
    let ct = res
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "lxc/93802")
        .expect("CT listed");
    assert_eq!(
        (ct["type"].as_str(), ct["vmid"].as_u64()),
        (Some("lxc"), Some(93802))
    );
    assert_eq!(ct["node"], OTHER);
}

#[test]
fn create_checks_and_task_failure() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    n.track(93811);
    n.track(93812);

    // A token is never root@pam: no bind rootfs, no host-path template.
    let rootfs = n.rootfs.to_string_lossy().into_owned();
    let a = s.call(
        "POST",
        "/nodes/simnode/lxc",
        &[
            ("vmid", "93811"),
            ("ostemplate", "local:vztmpl/x.tar"),
            ("rootfs", &rootfs),
        ],
    );
    assert_eq!(a.code, 403);
    assert_eq!(
        a.reason,
        "Permission check failed (mount point type bind is only allowed for root@pam)"
    );
    let mp0 = format!("{rootfs},mp=/mnt");
    let a = s.call("PUT", "/nodes/simnode/lxc/93811/config", &[("mp0", &mp0)]);
    assert_eq!(a.code, 403);

    // A VMID in use on another node.
    foreign_conf(&n, OTHER, 93812);
    let a = s.call(
        "POST",
        "/nodes/simnode/lxc",
        &[
            ("vmid", "93812"),
            ("ostemplate", "local:vztmpl/x.tar"),
            ("storage", "local-lvm"),
        ],
    );
    assert_eq!(a.code, 500);
    assert_eq!(
        a.body["message"],
        "unable to create CT 93812 - CT 93812 already exists on node 'n2'\n"
    );

    // The task fails (knob): the UPID comes at once, the error only in the task.
    s.faults(json!({"fail_task": ["vzcreate"]}));
    let upid = s.ok(
        "POST",
        "/nodes/simnode/lxc",
        &[
            ("vmid", "93811"),
            ("ostemplate", "local:vztmpl/x.tar"),
            ("storage", "local-lvm"),
        ],
    );
    let upid = upid.as_str().unwrap().to_string();
    let u: proxmox_lxcri::pve::Upid = upid.parse().expect("a valid UPID");
    assert_eq!(
        (
            u.node.as_str(),
            u.worker_type.as_str(),
            u.id.as_str(),
            u.user.as_str()
        ),
        ("simnode", "vzcreate", "93811", "root@pam!ci")
    );
    let st = s.wait_task("simnode", &upid);
    assert_eq!(st["exitstatus"], "simulated task failure");
    assert_eq!(
        (st["user"].as_str(), st["tokenid"].as_str()),
        (Some("root@pam"), Some("ci"))
    );
    let log = s.task_log("simnode", &upid, "");
    let lines = log["data"].as_array().unwrap();
    assert_eq!(
        lines.last().unwrap()["t"],
        "TASK ERROR: simulated task failure"
    );
    // The reservation is gone with the task.
    assert_eq!(
        s.ok("GET", "/cluster/nextid?vmid=93811", &[]),
        json!("93811")
    );

    // Tasks: a bad UPID, one of another node.
    let errors = s.param_errors("GET", "/nodes/simnode/tasks/UPID:junk/status", &[]);
    assert_eq!(errors["upid"], "unable to parse worker upid");
    let other = format!("/nodes/{OTHER}/tasks/{}/status", encode(&upid));
    assert_eq!(s.param_errors("GET", &other, &[])["upid"], "no such task");
    let list = s.ok("GET", "/nodes/simnode/tasks?vmid=93811&errors=1", &[]);
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Storages are checked before the worker: a stock `local` holds no CT volumes (also when
    // it is the default `storage` for a bare size or no rootfs), an unknown one is a 500.
    s.faults(json!({}));
    let create = "/nodes/simnode/lxc";
    let base = [("vmid", "93811"), ("ostemplate", "local:vztmpl/x.tar")];
    let no_rootdir = json!({"storage": "storage 'local' does not support container directories"});
    for extra in [&[("rootfs", "local:1")][..], &[("rootfs", "1")], &[]] {
        let errs = s.param_errors("POST", create, &[&base[..], extra].concat());
        assert_eq!(errs, no_rootdir, "{extra:?}");
    }
    let a = s.call(
        "POST",
        create,
        &[&base[..], &[("rootfs", "nope:1")]].concat(),
    );
    assert_eq!(a.status(), (500, "storage 'nope' does not exist"));
    let a = s.call(
        "POST",
        create,
        &[&base[..], &[("mp0", "local-lvm:1,mp=/x")]].concat(),
    );
    assert_eq!(
        a.status(),
        (
            500,
            "mount points configured, but 'rootfs' not set - aborting"
        )
    );
    assert!(!n.conf_path(93811).exists());
    // A missing template is the task's error: the task fails with pct's error.
    let upid = s.ok(
        "POST",
        create,
        &[&base[..], &[("rootfs", "local-lvm:1")]].concat(),
    );
    let st = s.wait_task("simnode", upid.as_str().unwrap());
    assert_ne!(st["exitstatus"], "OK");
    assert!(
        !n.conf_path(93811).exists(),
        "a failed create leaves no config"
    );
}

#[test]
fn concurrent_creates_of_one_vmid() {
    let Some(n) = root_node() else { return };
    let s = Arc::new(Server::start(&n, &[]));
    n.track(93821);
    // Keep the create task running for a while, then fail it.
    s.faults(json!({"fail_task": ["vzcreate"], "slow_task_ms": {"vzcreate": 3000}}));
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (s, b) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                let a = s.call(
                    "POST",
                    "/nodes/simnode/lxc",
                    &[
                        ("vmid", "93821"),
                        ("ostemplate", "local:vztmpl/x.tar"),
                        ("storage", "local-lvm"),
                    ],
                );
                (a.code, a.body)
            })
        })
        .collect();
    let mut results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    results.sort_by_key(|r| r.0);
    assert_eq!(results[0].0, 200, "{results:?}");
    assert_eq!(results[1].0, 500, "{results:?}");
    assert_eq!(
        results[1].1["message"],
        "unable to create CT 93821 - CT 93821 already exists on node 'simnode'\n"
    );
    let upid = results[0].1["data"].as_str().unwrap().to_string();
    let st = s.task_status("simnode", &upid);
    assert_eq!(st["status"], "running");
    assert!(st.get("exitstatus").is_none());
    // nextid skips the reserved id; asking for it is an error.
    let a = s.call("GET", "/cluster/nextid?vmid=93821", &[]);
    assert_eq!(a.code, 400);
    assert_eq!(
        s.wait_task("simnode", &upid)["exitstatus"],
        "simulated task failure"
    );
}

#[test]
fn fault_knobs() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    s.faults(json!({
        "status_500": ["GET /cluster/status"],
        "drop": ["GET /cluster/resources"],
        "delay_ms": {"GET /version": 300},
        "offline": [OTHER],
    }));
    let a = s.call("GET", "/cluster/status", &[]);
    assert_eq!(a.status(), (500, "simulated failure"));
    assert_eq!(
        a.body,
        json!({"data": null, "message": "simulated failure\n"})
    );

    let r = s.request("GET", "/cluster/resources", Some(TOKEN)).call();
    assert!(
        matches!(r, Err(ureq::Error::Transport(_))),
        "dropped connection: {r:?}"
    );

    let t = Instant::now();
    s.ok("GET", "/version", &[]);
    assert!(t.elapsed() >= Duration::from_millis(300));

    let nodes = s.ok("GET", "/nodes", &[]);
    let status = |name: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["node"] == name)
            .map(|x| x["status"].clone())
    };
    assert_eq!(status(NODE), Some(json!("online")));
    assert_eq!(status(OTHER), Some(json!("offline")));
    let a = s.call("GET", &format!("/nodes/{OTHER}/lxc"), &[]);
    // pveproxy cannot reach the node it proxies to: AnyEvent::HTTP's 595, no body.
    assert_eq!(a.status(), (595, "No route to host"));
    assert_eq!(a.body, json!(null));

    s.faults(json!({}));
    assert_eq!(s.call("GET", "/cluster/status", &[]).code, 200);
    let nodes = s.ok("GET", "/nodes", &[]);
    assert!(nodes
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["status"] == "online"));
    assert_eq!(nodes[0]["ssl_fingerprint"], json!(s.fingerprint));
}

#[test]
fn upload_list_delete_and_task_log_paging() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    let data = small_tar(n.dir.path(), "t.tar");
    let sum: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let a = s.upload(
        NODE,
        &[
            ("content", None, b"vztmpl"),
            ("checksum-algorithm", None, b"sha256"),
            ("checksum", None, sum.as_bytes()),
            ("filename", Some("my tmpl.tar"), &data),
        ],
    );
    assert_eq!(a.code, 200, "{}", a.body);
    let upid = a.body["data"].as_str().unwrap().to_string();
    assert!(upid.contains(":imgcopy::root@pam!ci:"), "{upid}");
    s.wait_ok(&upid);
    let file = n.root.join("var/lib/vz/template/cache/my_tmpl.tar");
    assert_eq!(
        fs::read(&file).unwrap(),
        data,
        "normalised name, same bytes"
    );

    // A stock node's storages: templates only fit on `local`.
    let tmpl = |st: &str, content: &[u8]| {
        s.upload_to(
            NODE,
            st,
            &[
                ("content", None, content),
                ("filename", Some("t.tar"), &data),
            ],
        )
    };
    let a = tmpl("local-lvm", b"vztmpl");
    assert_eq!(a.status(), (500, "can't upload to storage type 'lvmthin'"));
    let a = tmpl("local", b"rootdir");
    assert_eq!(a.status(), (400, "Parameter verification failed."));
    assert_eq!(
        a.body["errors"],
        json!({"content": "value 'rootdir' does not have a value in the enumeration 'iso, vztmpl, import'"})
    );
    let cfg = n.root.join("etc/pve/storage.cfg");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str("\ndir: isos\n\tpath /nonexistent\n\tcontent iso\n");
    fs::write(&cfg, text).unwrap();
    let a = tmpl("isos", b"vztmpl");
    assert_eq!(
        a.status(),
        (500, "storage 'isos' does not support 'vztmpl' content")
    );
    let stores = s.ok("GET", &format!("/nodes/{NODE}/storage"), &[]);
    let kinds: Vec<(&str, &str, &str)> = stores
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["storage"].as_str().unwrap(),
                v["type"].as_str().unwrap(),
                v["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("local", "dir", "backup,iso,vztmpl"),
            ("local-lvm", "lvmthin", "images,rootdir"),
            ("isos", "dir", "iso")
        ]
    );
    let rootdir = s.ok(
        "GET",
        &format!("/nodes/{NODE}/storage?content=rootdir"),
        &[],
    );
    assert_eq!(rootdir.as_array().unwrap().len(), 1);
    assert_eq!(rootdir[0]["storage"], "local-lvm");

    let list = s.ok(
        "GET",
        "/nodes/simnode/storage/local/content?content=vztmpl",
        &[],
    );
    assert_eq!(
        list,
        json!([{"volid": "local:vztmpl/my_tmpl.tar", "format": "tar", "content": "vztmpl",
                "size": data.len(), "ctime": list[0]["ctime"]}])
    );

    // Log paging: `n` counts from 1, `total` is all lines, limit 0 is everything.
    let full = s.task_log(NODE, &upid, "?limit=0");
    let total = full["total"].as_u64().unwrap() as usize;
    assert!(total >= 3);
    assert_eq!(full["data"].as_array().unwrap().len(), total);
    assert_eq!(full["data"][total - 1]["t"], "TASK OK");
    let page = s.task_log(NODE, &upid, "?start=1&limit=2");
    assert_eq!(page["total"].as_u64().unwrap() as usize, total);
    assert_eq!(
        page["data"],
        json!([full["data"][1].clone(), full["data"][2].clone()])
    );
    assert_eq!(page["data"][0]["n"], 2);

    // A wrong checksum fails the task and imports nothing.
    let a = s.upload(
        NODE,
        &[
            ("content", None, b"vztmpl"),
            ("checksum-algorithm", None, b"sha256"),
            ("checksum", None, b"00"),
            ("filename", Some("other.tar"), &data),
        ],
    );
    let st = s.wait_task(NODE, a.body["data"].as_str().unwrap());
    assert!(
        st["exitstatus"]
            .as_str()
            .unwrap()
            .starts_with("checksum mismatch"),
        "{st}"
    );
    assert!(!n.root.join("var/lib/vz/template/cache/other.tar").exists());

    // The file part's field name and the extension are checked.
    let a = s.upload(
        NODE,
        &[("content", None, b"vztmpl"), ("file", Some("a.tar"), &data)],
    );
    assert_eq!(a.code, 400);
    assert_eq!(
        a.body["message"],
        "wrong field name 'file' for file upload, expected 'filename'\n"
    );
    let a = s.upload(
        NODE,
        &[
            ("content", None, b"vztmpl"),
            ("filename", Some("a.zip"), &data),
        ],
    );
    assert_eq!(
        a.body["errors"],
        json!({"filename": "wrong file extension"})
    );
    let spool: Vec<_> = fs::read_dir(n.root.join("var/tmp")).unwrap().collect();
    assert!(spool.is_empty(), "no spool files left: {spool:?}");

    // Delete the volume (a task).
    s.task_ok(
        "DELETE",
        &format!(
            "/nodes/simnode/storage/local/content/{}",
            encode("local:vztmpl/my_tmpl.tar")
        ),
        &[],
    );
    assert!(!file.exists());
    assert_eq!(
        s.ok("GET", "/nodes/simnode/storage/local/content", &[]),
        json!([])
    );
}

/// A CT made by `pct` (the bind rootfs needs root@pam) driven through its life by the API.
#[test]
fn lifecycle_of_a_pct_created_ct() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    n.create(93831, &["--hostname", "apict", "--tags", "proxmox-lxcri"]);
    let ct = "/nodes/simnode/lxc/93831";

    let list = s.ok("GET", "/nodes/simnode/lxc", &[]);
    assert_eq!(list[0]["vmid"], 93831);
    assert_eq!(list[0]["status"], "stopped");
    let a = s.call("POST", &format!("{ct}/status/stop"), &[]);
    assert_eq!(a.body["message"], "CT 93831 not running\n");

    s.task_ok("POST", &format!("{ct}/status/start"), &[]);
    let cur = s.ok("GET", &format!("{ct}/status/current"), &[]);
    assert_eq!(cur["status"], "running");
    assert_eq!(cur["ha"], json!({"managed": 0}));
    let pid = cur["pid"].as_u64().expect("pid while running");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(cur["name"], "apict");
    let a = s.call("POST", &format!("{ct}/status/start"), &[]);
    assert_eq!(a.status(), (500, "CT 93831 already running"));

    let res = s.ok("GET", "/cluster/resources?type=vm", &[]);
    assert_eq!(res[0]["id"], "lxc/93831");
    assert_eq!(res[0]["status"], "running");
    assert_eq!(res[0]["tags"], "proxmox-lxcri");

    // PUT config is synchronous; GET config reflects it.
    assert_eq!(
        s.ok(
            "PUT",
            &format!("{ct}/config"),
            &[("description", "oci id: abc")]
        ),
        Value::Null
    );
    let conf = s.ok("GET", &format!("{ct}/config"), &[]);
    // Read back from the config's comment lines, with the newline Proxmox keeps.
    assert_eq!(conf["description"], "oci id: abc\n");
    assert_eq!(conf["hostname"], "apict");
    let a = s.call("PUT", &format!("{ct}/config"), &[("digest", "0000")]);
    assert_eq!(a.code, 500, "{}", a.body);

    let a = s.call("DELETE", ct, &[]);
    assert_eq!(
        a.body["message"],
        "unable to destroy CT 93831 - container is running\n"
    );
    s.task_ok("POST", &format!("{ct}/status/stop"), &[]);
    assert_eq!(
        s.ok("GET", &format!("{ct}/status/current"), &[])["status"],
        "stopped"
    );

    let upid = s.task_ok("DELETE", &format!("{ct}?purge=1&force=1"), &[]);
    assert!(upid.contains(":vzdestroy:93831:"));
    assert_eq!(s.ok("GET", "/nodes/simnode/lxc", &[]), json!([]));
    let a = s.call("GET", &format!("{ct}/config"), &[]);
    assert_eq!(
        a.body["message"],
        "Configuration file 'nodes/simnode/lxc/93831.conf' does not exist\n"
    );
}

/// The whole life through the API alone, from an uploaded template onto a storage volume.
#[test]
fn lifecycle_from_an_uploaded_template() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    n.track(93841);
    // A real rootfs: the CT's init is `/bin/sleep`, which the template must have (with a
    // template lacking it, LXC fails with `Failed to exec "/bin/sleep"`, on Proxmox as well).
    let data = rootfs_tar(&n, "t.tar");
    let a = s.upload(
        NODE,
        &[
            ("content", None, b"vztmpl"),
            ("filename", Some("x.tar"), &data),
        ],
    );
    s.wait_ok(a.body["data"].as_str().unwrap());
    s.task_ok(
        "POST",
        "/nodes/simnode/lxc",
        &[
            ("vmid", "93841"),
            ("ostemplate", "local:vztmpl/x.tar"),
            ("rootfs", "local-lvm:1"),
            ("ostype", "unmanaged"),
            ("entrypoint", "/bin/sleep 100000"),
        ],
    );
    let ct = "/nodes/simnode/lxc/93841";
    let conf = s.ok("GET", &format!("{ct}/config"), &[]);
    assert_eq!(
        (&conf["rootfs"], &conf["unprivileged"]),
        (&json!("local-lvm:vm-93841-disk-0,size=1G"), &json!(1)),
        "{conf}"
    );
    // Not given: Proxmox's defaults.
    assert_eq!(
        (&conf["memory"], &conf["swap"]),
        (&json!(512), &json!(512)),
        "{conf}"
    );
    s.task_ok("POST", &format!("{ct}/status/start"), &[]);
    let st = s.ok("GET", &format!("{ct}/status/current"), &[]);
    assert_eq!(st["status"], "running", "{st}");
    assert!(st["pid"].is_u64(), "{st}");
    s.task_ok("POST", &format!("{ct}/status/stop"), &[]);
    assert_eq!(
        s.ok("GET", &format!("{ct}/status/current"), &[])["status"],
        "stopped"
    );
    s.task_ok("DELETE", &format!("{ct}?purge=1"), &[]);
    assert_eq!(s.ok("GET", "/nodes/simnode/lxc", &[]), json!([]));
}

#[test]
fn token_acl_refusals_and_effective_permissions() {
    let Some(n) = root_node() else { return };
    let acl = n.dir.path().join("acl.json");
    fs::write(
        &acl,
        json!({
            "/": ["Sys.Audit"],
            "/vms": ["VM.Audit", "VM.Config.Options", "VM.Config.Disk", "VM.Config.Memory",
                     "VM.Config.Network", "VM.PowerMgmt"],
            "/vms/93851": ["VM.Allocate", "VM.Config.Options", "VM.Config.Disk",
                           "VM.Config.Memory", "VM.Config.Network"],
            "/storage/local": ["Datastore.Audit", "Datastore.AllocateSpace"],
        })
        .to_string(),
    )
    .unwrap();
    let s = Server::start(&n, &["--acl", acl.to_str().unwrap()]);
    n.track(93851);
    n.track(93852);

    // The schema's check, with Proxmox's wording in the reason phrase and the message.
    let a = s.call("DELETE", "/nodes/simnode/lxc/93852", &[]);
    assert_eq!(
        a.status(),
        (403, "Permission check failed (/vms/93852, VM.Allocate)")
    );
    assert_eq!(
        a.body,
        json!({"data": null, "message": "Permission check failed (/vms/93852, VM.Allocate)\n"})
    );
    // Create without VM.Allocate on the CT: Proxmox's bare refusal.
    let create = |vmid: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("vmid", vmid),
            ("ostemplate", "local:vztmpl/x.tar"),
            ("rootfs", "local:1"),
            ("memory", "64"),
        ];
        form.extend_from_slice(extra);
        s.call("POST", "/nodes/simnode/lxc", &form)
    };
    assert_eq!(
        create("93852", &[]).status(),
        (403, "Permission check failed")
    );
    // Allowed on 93851, but a bridge needs SDN.Use, a privileged CT Sys.Modify on /.
    let a = create("93851", &[("net0", "name=eth0,bridge=vmbr0,ip=dhcp")]);
    assert_eq!(
        a.status(),
        (
            403,
            "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
        )
    );
    let a = create("93851", &[("unprivileged", "0")]);
    assert_eq!(a.status(), (403, "Permission check failed (/, Sys.Modify)"));
    let a = create("93851", &[("cores", "1")]);
    assert_eq!(
        a.status(),
        (403, "Permission check failed (/vms/93851, VM.Config.CPU)")
    );
    // Upload needs Datastore.AllocateTemplate, deleting content Datastore.Allocate.
    let a = s.upload(
        NODE,
        &[
            ("content", None, b"vztmpl"),
            ("filename", Some("t.tar"), b"x"),
        ],
    );
    assert_eq!(
        a.status(),
        (
            403,
            "Permission check failed (/storage/local, Datastore.AllocateTemplate)"
        )
    );
    fs::write(
        n.root.join("var/lib/vz/template/cache/t.tar"),
        small_tar(n.dir.path(), "t.tar"),
    )
    .unwrap();
    let a = s.call(
        "DELETE",
        &format!(
            "/nodes/simnode/storage/local/content/{}",
            encode("local:vztmpl/t.tar")
        ),
        &[],
    );
    assert_eq!(
        a.status(),
        (
            403,
            "Permission check failed (/storage/local, Datastore.Allocate)"
        )
    );
    assert!(n.root.join("var/lib/vz/template/cache/t.tar").exists());
    // Reading it needs only Datastore.Audit or Datastore.AllocateSpace.
    let info = format!(
        "/nodes/simnode/storage/local/content/{}",
        encode("local:vztmpl/t.tar")
    );
    assert_eq!(s.ok("GET", &info, &[])["format"], "tar");
    // Reads the token may do.
    assert_eq!(
        s.ok("GET", "/nodes/simnode/storage", &[])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.ok("GET", "/cluster/status", &[]);
    assert!(s.ok("GET", "/nodes", &[])[0]["maxmem"].is_u64());

    // The effective privileges, per path and as a tree.
    let one = s.ok("GET", "/access/permissions?path=/vms/93851", &[]);
    assert_eq!(one["/vms/93851"]["VM.Allocate"], 1);
    assert!(one["/vms/93851"].get("VM.PowerMgmt").is_none());
    let tree = s.ok("GET", "/access/permissions", &[]);
    assert_eq!(tree["/"], json!({"Sys.Audit": 1}));
    assert_eq!(tree["/nodes"], json!({"Sys.Audit": 1}));
    assert!(tree["/vms"].get("VM.Allocate").is_none());
    assert_eq!(tree["/storage/local"]["Datastore.AllocateSpace"], 1);
    let a = s.call("GET", "/access/permissions?userid=root@pam", &[]);
    assert_eq!(a.code, 501, "Sys.Audit on /access lets it past the check");
}

#[test]
fn without_acl_the_token_has_every_privilege() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    let tree = s.ok("GET", "/access/permissions", &[]);
    for (path, privilege) in [
        ("/vms", "VM.Allocate"),
        ("/storage", "Datastore.Allocate"),
        ("/sdn", "SDN.Use"),
        ("/", "Sys.Modify"),
    ] {
        assert_eq!(tree[path][privilege], 1, "{path} {privilege}");
    }
}

#[test]
fn another_tokens_task_needs_sys_audit_on_the_node() {
    let Some(n) = root_node() else { return };
    let acl = n.dir.path().join("acl.json");
    fs::write(
        &acl,
        json!({"/storage": ["Datastore.AllocateTemplate", "Datastore.Audit"]}).to_string(),
    )
    .unwrap();
    let other = "ops@pve!ro=other";
    let s = Server::start(&n, &["--token", other, "--acl", acl.to_str().unwrap()]);
    // Without Sys.Audit on a node, its load figures are left out.
    let nodes = s.ok("GET", "/nodes", &[]);
    assert_eq!(nodes[0]["status"], "online");
    assert!(nodes[0].get("maxmem").is_none(), "{nodes}");
    let data = small_tar(n.dir.path(), "t.tar");
    let a = s.upload(
        NODE,
        &[
            ("content", None, b"vztmpl"),
            ("filename", Some("t.tar"), &data),
        ],
    );
    assert_eq!(a.code, 200, "{}", a.body);
    let upid = a.body["data"].as_str().unwrap().to_string();
    s.wait_ok(&upid);
    let path = format!("/nodes/{NODE}/tasks/{}/status", encode(&upid));
    let a = s.send(s.request("GET", &path, Some(other)), None);
    assert_eq!(
        a.status(),
        (403, "Permission check failed (/nodes/simnode, Sys.Audit)")
    );
}

/// The node version: `GET /nodes/{node}/version`, `…/apt/versions`, and an older node's schema
/// without the keys a newer pve-container added. Nothing is created (VMID 93851 stays free).
#[test]
fn node_version_and_its_schema() {
    let Some(n) = root_node() else { return };
    let s = Server::start_env(&n, &[], &[("PVE_SIM_VERSION", "9.0.11")]);
    let v = s.ok("GET", &format!("/nodes/{NODE}/version"), &[]);
    assert_eq!(
        (&v["version"], &v["release"]),
        (&json!("9.0.11"), &json!("9.0"))
    );
    let repoid = v["repoid"].as_str().unwrap();
    assert!(repoid.len() == 16 && repoid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(s.ok("GET", "/version", &[])["version"], "9.0.11");
    let pkgs = s.ok("GET", &format!("/nodes/{NODE}/apt/versions"), &[]);
    let pkgs = pkgs.as_array().unwrap();
    assert_eq!(pkgs[0]["Package"], "proxmox-ve");
    assert_eq!(pkgs[1]["ManagerVersion"], format!("9.0.11/{repoid}"));
    let pc = pkgs
        .iter()
        .find(|p| p["Package"] == "pve-container")
        .unwrap();
    assert_eq!(pc["Version"], "6.0.13");

    let not_in_schema = json!(
        "property is not defined in schema and the schema does not allow additional properties"
    );
    let create = format!("/nodes/{NODE}/lxc");
    let base = [("vmid", "93851"), ("ostemplate", "local:vztmpl/x.tar")];
    for (k, v) in [("entrypoint", "/bin/sh"), ("env", "A=1")] {
        let mut form = base.to_vec();
        form.push((k, v));
        let errs = s.param_errors("POST", &create, &form);
        assert_eq!(errs, json!({k: not_in_schema}));
        let errs = s.param_errors("PUT", &format!("/nodes/{NODE}/lxc/93851/config"), &[(k, v)]);
        assert_eq!(errs, json!({k: not_in_schema}));
    }
    drop(s);
    let s = Server::start_env(
        &n,
        &[],
        &[
            ("PVE_SIM_VERSION", "9.1.1"),
            ("PVE_SIM_PVE_CONTAINER", "6.0.18"),
        ],
    );
    let mut form = base.to_vec();
    form.push(("mp0", "local:1,mp=/data,idmap=passthrough"));
    let errs = s.param_errors("POST", &create, &form);
    assert_eq!(
        errs,
        json!({"mp0": "invalid format - invalid key in comma-separated list property: idmap\n"})
    );
    assert!(!n.conf_path(93851).exists());
}

/// `/cluster/status` as pve-manager's PVE/API2/Cluster.pm `get_status` lists it, and the
/// quorum-loss knob: writes fail as pmxcfs and `check_cfs_quorum` make them fail.
#[test]
fn cluster_status_and_quorum_loss() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    let st = s.ok("GET", "/cluster/status", &[]);
    assert_eq!(
        st[0],
        json!({"type": "cluster", "id": "cluster", "name": "pve-sim", "nodes": 2,
               "version": 1, "quorate": 1})
    );
    assert_eq!(
        st[1],
        json!({"type": "node", "id": format!("node/{NODE}"), "name": NODE, "nodeid": 1,
               "local": 1, "online": 1, "ip": "127.0.0.1", "level": ""})
    );
    assert_eq!(
        (&st[2]["name"], &st[2]["local"], &st[2]["ip"]),
        (&json!(OTHER), &json!(0), &json!("127.0.0.2"))
    );
    n.create(93901, &[]);

    fs::write(n.root.join("pve-sim-no-quorum"), "").unwrap();
    assert_eq!(s.ok("GET", "/cluster/status", &[])[0]["quorate"], 0);
    let form = [("vmid", "93902"), ("ostemplate", "local:vztmpl/none.tar")];
    let a = s.call("POST", "/nodes/simnode/lxc", &form);
    assert_eq!(a.status(), (500, "cluster not ready - no quorum?"));
    let a = s.call("POST", "/nodes/simnode/lxc/93901/status/start", &[]);
    assert_eq!(a.status(), (500, "cluster not ready - no quorum?"));
    let a = s.call(
        "PUT",
        "/nodes/simnode/lxc/93901/config",
        &[("memory", "128")],
    );
    assert_eq!(a.code, 500);
    assert!(
        a.reason.starts_with("unable to open file '")
            && a.reason.ends_with("' - Permission denied"),
        "{}",
        a.reason
    );
    let upid = s.ok("DELETE", "/nodes/simnode/lxc/93901", &[]);
    let st = s.wait_task(NODE, upid.as_str().unwrap());
    assert!(
        st["exitstatus"]
            .as_str()
            .is_some_and(|e| e.ends_with("Permission denied")),
        "{st}"
    );
    assert!(n.conf_path(93901).exists(), "the CT stays");
    // Reads keep answering.
    s.ok("GET", "/nodes/simnode/lxc", &[]);
    s.ok("GET", "/cluster/resources", &[]);

    fs::remove_file(n.root.join("pve-sim-no-quorum")).unwrap();
    assert_eq!(s.ok("GET", "/cluster/status", &[])[0]["quorate"], 1);
    let upid = s.ok("DELETE", "/nodes/simnode/lxc/93901", &[]);
    s.wait_ok(upid.as_str().unwrap());
    assert!(!n.conf_path(93901).exists());
}

/// `POST …/lxc/{vmid}/migrate` (pve-container src/PVE/API2/LXC.pm `migrate_vm`): the checks
/// before the task answer at once, and the task's own refusal ends it `migration aborted` with
/// the reason in its log (a restart migration over the API runs end to end in the runtime's
/// tests/migrate.rs).
#[test]
fn migrate_refusals_and_task() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    n.create(93891, &[]);
    n.ok(&["start", "93891"]);
    let path = "/nodes/simnode/lxc/93891/migrate";
    let e = s.param_errors("POST", path, &[("target", NODE)]);
    assert_eq!(e, json!({"target": "target is local node."}));
    let a = s.call("POST", path, &[("target", "n9")]);
    assert_eq!(a.status(), (500, "no such cluster node 'n9'"));
    let a = s.call("POST", path, &[("target", OTHER)]);
    assert_eq!(
        a.status(),
        (
            500,
            "can't migrate running container without --online or --restart"
        )
    );
    // A bind-mounted rootfs is a local bind mount point: the task refuses it.
    let upid = s.ok("POST", path, &[("target", OTHER), ("restart", "1")]);
    let upid = upid.as_str().unwrap();
    assert!(upid.contains(":vzmigrate:93891:"), "{upid}");
    let st = s.wait_task(NODE, upid);
    assert_eq!(st["exitstatus"], "migration aborted");
    let log = s.task_log(NODE, upid, "?limit=0").to_string();
    assert!(
        log.contains("cannot migrate local bind mount point 'rootfs'"),
        "{log}"
    );
    assert!(n.conf_path(93891).exists(), "still here");
    assert!(n.ok(&["status", "93891"]).contains("running"));
}

#[test]
fn vzdump_task_backup_content_and_its_privileges() {
    let Some(n) = root_node() else { return };
    let s = Server::start(&n, &[]);
    n.create(93895, &["--hostname", "dumped"]);
    let upid = s.ok(
        "POST",
        "/nodes/simnode/vzdump",
        &[("vmid", "93895"), ("compress", "zstd")],
    );
    let upid = upid.as_str().unwrap().to_string();
    assert!(upid.contains(":vzdump:93895:"), "{upid}");
    assert_eq!(s.wait_task(NODE, &upid)["exitstatus"], "OK");
    let log = s.task_log(NODE, &upid, "?limit=0").to_string();
    assert!(
        log.contains("INFO: backup mode: stop"),
        "a stopped CT: {log}"
    );
    assert!(log.contains("INFO: creating vzdump archive '"), "{log}");
    let list = s.ok(
        "GET",
        "/nodes/simnode/storage/local/content?content=backup",
        &[],
    );
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["vmid"], 93895);
    assert_eq!(items[0]["format"], "tar.zst");
    assert_eq!(items[0]["subtype"], "lxc");
    let volid = items[0]["volid"].as_str().unwrap().to_string();
    assert!(
        volid.starts_with("local:backup/vzdump-lxc-93895-"),
        "{volid}"
    );

    // A guest nobody has: the task fails as vzdump's job does.
    let upid = s.ok("POST", "/nodes/simnode/vzdump", &[("vmid", "93896")]);
    let st = s.wait_task(NODE, upid.as_str().unwrap());
    assert_eq!(st["exitstatus"], "job errors");

    let del = s.ok(
        "DELETE",
        &format!("/nodes/simnode/storage/local/content/{}", encode(&volid)),
        &[],
    );
    assert_eq!(s.wait_task(NODE, del.as_str().unwrap())["exitstatus"], "OK");
    let list = s.ok(
        "GET",
        "/nodes/simnode/storage/local/content?content=backup",
        &[],
    );
    assert_eq!(list, json!([]));
    drop(s);

    let acl = n.dir.path().join("acl.json");
    fs::write(
        &acl,
        json!({"/vms": ["VM.Audit"], "/storage/local": ["Datastore.AllocateSpace"]}).to_string(),
    )
    .unwrap();
    let s = Server::start(&n, &["--acl", acl.to_str().unwrap()]);
    let a = s.call("POST", "/nodes/simnode/vzdump", &[("vmid", "93895")]);
    assert_eq!(
        a.status(),
        (403, "Permission check failed (/vms/93895, VM.Backup)")
    );
    let a = s.call(
        "POST",
        "/nodes/simnode/vzdump",
        &[("vmid", "93895"), ("dumpdir", "/tmp")],
    );
    assert_eq!(a.status(), (403, "Only root may set this option."));
}
