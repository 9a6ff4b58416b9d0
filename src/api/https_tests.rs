//! The client against a real TLS server on 127.0.0.1 (testserver.rs).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::testserver::{self, ok, reply, Request, Server};
use super::{ApiError, Client, TaskEnd};
use crate::api::credentials::{Fingerprint, Token};
use crate::config::ApiConfig;

const SECRET: &str = "5f2c1c8e-0000-4000-8000-0123456789ab";
const UPID: &str = "UPID:pve1:000934AF:1D0155790:68BF3A41:vzcreate:100:root@pam!ocirt:";

fn config(url: &str, fingerprint: &str, ca_file: &Path) -> ApiConfig {
    ApiConfig {
        url: url.to_string(),
        token_file: "/nonexistent/token".into(),
        fingerprint: fingerprint.to_string(),
        ca_file: ca_file.to_path_buf(),
        timeout: 5,
        task_timeout: 10,
    }
}

fn token() -> Token {
    Token::parse(&format!("root@pam!ocirt={SECRET}")).unwrap()
}

/// A client pinned to the server's certificate, with short retry pauses.
fn pinned(server: &Server) -> Client {
    let cfg = config(
        &server.url(),
        &server.fingerprint.to_string(),
        Path::new(""),
    );
    let mut c = Client::with_token(&cfg, token()).unwrap();
    c.retry_delays = vec![Duration::from_millis(10); 3];
    c
}

const HANDLER_500: &str =
    r#"{"data":null,"message":"Configuration file 'nodes/pve1/lxc/100.conf' does not exist\n"}"#;

#[test]
fn pinned_fingerprint_is_accepted() {
    let server = testserver::start(|_, _| ok(json!({"version":"9.0.3","release":"9.0"})));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("root@pam!ocirt={SECRET}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cfg = config(
        &server.url(),
        &server.fingerprint.to_string(),
        Path::new(""),
    );
    cfg.token_file = token_file;
    let client = Client::new(&cfg).unwrap();
    assert!(!format!("{client:?}").contains(SECRET));
    let v = client.get("/version", &[]).unwrap();
    assert_eq!(v["version"], "9.0.3");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path(), "/api2/json/version");
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("PVEAPIToken=root@pam!ocirt={SECRET}").as_str())
    );
}

#[test]
fn wrong_fingerprint_is_refused_naming_both() {
    let server = testserver::start(|_, _| ok(json!(null)));
    let wrong = Fingerprint([0xAB; 32]);
    let cfg = config(&server.url(), &wrong.to_string(), Path::new(""));
    let client = Client::with_token(&cfg, token()).unwrap();
    let e = client.get("/version", &[]).unwrap_err();
    match &e {
        ApiError::FingerprintMismatch {
            host,
            expected,
            presented,
        } => {
            assert_eq!(host, &server.addr.to_string());
            assert_eq!(expected, &wrong.to_string());
            assert_eq!(presented, &server.fingerprint.to_string());
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains(&wrong.to_string())
            && msg.contains(&server.fingerprint.to_string())
            && msg.contains(&server.addr.to_string()),
        "{msg}"
    );
    assert!(
        server.requests().is_empty(),
        "no request after a refused handshake"
    );
}

#[test]
fn ca_file_trusts_the_node_ca() {
    let server = testserver::start(|_, _| ok(json!([{"node":"pve1","status":"online"}])));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("pve-root-ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    for url in [
        server.url(),
        format!("https://localhost:{}", server.addr.port()),
    ] {
        let client = Client::with_token(&config(&url, "", &ca), token()).unwrap();
        let nodes = client.nodes().unwrap();
        assert_eq!(nodes[0].node, "pve1", "{url}");
    }
}

#[test]
fn system_roots_refuse_a_private_ca() {
    let server = testserver::start(|_, _| ok(json!(null)));
    let client = Client::with_token(&config(&server.url(), "", Path::new("")), token()).unwrap();
    let e = client.get("/version", &[]).unwrap_err();
    assert!(matches!(e, ApiError::Tls { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "GET /version: tls handshake with {} failed: ",
            server.addr
        )),
        "{msg}"
    );
    assert!(msg.contains("api.fingerprint"), "{msg}");
    assert!(server.requests().is_empty());
}

#[test]
fn parameter_errors_arrive_as_a_list() {
    let server = testserver::start(|_, _| {
        reply(
            400,
            "Parameter verification failed.",
            r#"{"data":null,"errors":{"vmid":"invalid format - value does not look like a valid VM ID\n"},"message":"Parameter verification failed.\n"}"#,
        )
    });
    let client = pinned(&server);
    let form = [
        ("vmid", "99".to_string()),
        ("ostemplate", "local:vztmpl/a b.tar".to_string()),
    ];
    let e = client.post("/nodes/pve1/lxc", &form).unwrap_err();
    assert_eq!(
        e.to_string(),
        "POST /nodes/pve1/lxc: parameter verification failed: \
         vmid: invalid format - value does not look like a valid VM ID"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let body = String::from_utf8(reqs[0].body.clone()).unwrap();
    let sent = testserver::form_decode(&body);
    assert_eq!(
        sent,
        [
            ("vmid".to_string(), "99".to_string()),
            ("ostemplate".to_string(), "local:vztmpl/a b.tar".to_string())
        ]
    );
    assert_eq!(reqs[0].target, "/api2/json/nodes/pve1/lxc");
}

#[test]
fn get_is_retried_after_a_transient_500() {
    // pveproxy answers a failed hop to the daemon without Proxmox's JSON message.
    let server = testserver::start(|_, i| match i {
        0 => reply(500, "proxy error", ""),
        _ => ok(json!("123")),
    });
    let client = pinned(&server);
    assert_eq!(client.next_id().unwrap(), 123);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn get_gives_up_after_four_tries() {
    let server = testserver::start(|_, _| reply(502, "Bad Gateway", ""));
    let client = pinned(&server);
    let e = client.get("/cluster/resources", &[]).unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn a_handler_error_is_an_answer_not_retried() {
    let server = testserver::start(|_, _| reply(500, "Configuration file", HANDLER_500));
    let client = pinned(&server);
    let e = client.ct_status("pve1", 100u32).unwrap_err();
    assert_eq!(
        e.to_string(),
        "GET /nodes/pve1/lxc/100/status/current: \
         Configuration file 'nodes/pve1/lxc/100.conf' does not exist"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn post_put_delete_are_never_retried() {
    let server = testserver::start(|_, _| reply(500, "proxy error", ""));
    let client = pinned(&server);
    let e = client
        .post("/nodes/pve1/lxc/100/status/start", &[])
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(server.requests().len(), 1);
    client.put("/nodes/pve1/lxc/100/config", &[]).unwrap_err();
    assert_eq!(server.requests().len(), 2);
    client.delete("/nodes/pve1/lxc/100", &[]).unwrap_err();
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn delete_sends_parameters_in_the_query_string() {
    let server = testserver::start(|_, _| ok(json!(UPID)));
    let client = pinned(&server);
    let query = [("purge", "1".to_string()), ("force", "1".to_string())];
    let upid = client.delete("/nodes/pve1/lxc/100", &query).unwrap();
    assert_eq!(upid, UPID);
    let r = &server.requests()[0];
    assert_eq!(r.method, "DELETE");
    assert_eq!(r.path(), "/api2/json/nodes/pve1/lxc/100");
    assert_eq!(
        r.query(),
        [
            ("purge".to_string(), "1".to_string()),
            ("force".to_string(), "1".to_string())
        ]
    );
    assert!(r.body.is_empty());
}

#[test]
fn refused_connection_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("https://127.0.0.1:{port}");
    let mut client = Client::with_token(
        &config(&url, &Fingerprint([1; 32]).to_string(), Path::new("")),
        token(),
    )
    .unwrap();
    client.retry_delays = vec![Duration::from_millis(1); 3];
    let e = client.get("/nodes", &[]).unwrap_err();
    assert!(matches!(e, ApiError::Connect { .. }), "{e:?}");
    assert!(
        e.to_string().to_lowercase().starts_with(&format!(
            "get /nodes: connection to 127.0.0.1:{port} failed: connection refused"
        )),
        "{e}"
    );
}

#[test]
fn slow_answer_times_out() {
    let server = testserver::start(|_, _| {
        let mut r = ok(json!(null));
        r.delay = Duration::from_millis(2500);
        r
    });
    let mut cfg = config(
        &server.url(),
        &server.fingerprint.to_string(),
        Path::new(""),
    );
    cfg.timeout = 1;
    let client = Client::with_token(&cfg, token()).unwrap();
    let e = client.get("/version", &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("GET /version: no answer from {} within 1 s", server.addr)
    );
    // A timed-out GET is not repeated: the caller's deadline would multiply.
    assert_eq!(server.requests().len(), 1);
}

fn task_server(polls_running: usize, exitstatus: &'static str) -> (Server, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let server = testserver::start(move |r: &Request, _| {
        let base = format!("/api2/json/nodes/pve1/tasks/{UPID}");
        if r.path() == format!("{base}/status") {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            if n < polls_running {
                ok(
                    json!({"status":"running","upid":UPID,"node":"pve1","type":"vzcreate","user":"root@pam","tokenid":"ocirt"}),
                )
            } else {
                ok(json!({"status":"stopped","exitstatus":exitstatus,"upid":UPID,"node":"pve1"}))
            }
        } else if r.path() == format!("{base}/log") {
            let lines: Vec<_> = (1..=7)
                .map(|n| json!({"n": n, "t": format!("line {n}")}))
                .collect();
            let mut r = ok(json!(lines));
            r.body = format!(r#"{{"data":{},"total":7}}"#, json!(lines));
            r
        } else {
            reply(501, "no such uri", "")
        }
    });
    (server, polls)
}

#[test]
fn wait_task_polls_until_stopped() {
    let (server, polls) = task_server(3, "OK");
    let client = pinned(&server);
    let end = client.wait_task(UPID, Duration::from_secs(10)).unwrap();
    assert_eq!(end, TaskEnd::Ok);
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn wait_task_counts_warnings_as_success() {
    let (server, _) = task_server(0, "WARNINGS: 2");
    let end = pinned(&server)
        .wait_task(UPID, Duration::from_secs(10))
        .unwrap();
    assert_eq!(end, TaskEnd::Warnings(2));
}

#[test]
fn wait_task_failure_carries_the_log_tail() {
    let (server, _) = task_server(1, "unable to create CT 100 - no space left");
    let e = pinned(&server)
        .wait_task(UPID, Duration::from_secs(10))
        .unwrap_err();
    match &e {
        ApiError::TaskFailed {
            upid,
            exitstatus,
            log,
        } => {
            assert_eq!(upid, UPID);
            assert_eq!(exitstatus, "unable to create CT 100 - no space left");
            assert_eq!(log, &["line 3", "line 4", "line 5", "line 6", "line 7"]);
        }
        other => panic!("{other:?}"),
    }
    let log_req = server
        .requests()
        .into_iter()
        .find(|r| r.path().ends_with("/log"))
        .unwrap();
    assert_eq!(
        log_req.query(),
        [
            ("start".to_string(), "0".to_string()),
            ("limit".to_string(), "0".to_string())
        ]
    );
}

#[test]
fn wait_task_times_out() {
    let (server, _) = task_server(usize::MAX, "OK");
    let e = pinned(&server)
        .wait_task(UPID, Duration::from_millis(300))
        .unwrap_err();
    assert!(
        matches!(&e, ApiError::TaskTimeout { upid, .. } if upid == UPID),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("task {UPID} still running after 300ms")
    );
}

/// Split a multipart body into (Content-Disposition, Content-Type, data) per part.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    // Skip to after the first delimiter line.
    let start = find(rest, delim.as_bytes()).unwrap();
    rest = &rest[start + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").unwrap();
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = String::from_utf8(rest[..head_end].to_vec()).unwrap();
        rest = &rest[head_end + 4..];
        let next = find(rest, format!("\r\n{delim}").as_bytes()).unwrap();
        let data = rest[..next].to_vec();
        rest = &rest[next + 2 + delim.len()..];
        let mut disp = String::new();
        let mut ctype = None;
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(": ").unwrap();
            if k.eq_ignore_ascii_case("content-disposition") {
                disp = v.to_string();
            } else if k.eq_ignore_ascii_case("content-type") {
                ctype = Some(v.to_string());
            }
        }
        parts.push((disp, ctype, data));
    }
    parts
}

#[test]
fn upload_sends_fields_in_proxmox_order() {
    let server = testserver::start(|_, _| {
        ok(json!(
            "UPID:pve1:00000010:00000020:68BF3A41:imgcopy::root@pam!ocirt:"
        ))
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("local.tar");
    // Bytes that look like multipart framing must pass through untouched.
    let mut data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    data.extend_from_slice(b"\r\n--not-the-boundary\r\n\r\n");
    std::fs::write(&file, &data).unwrap();
    let upid = pinned(&server)
        .upload_template("pve1", "local", "alpine-3.20.tar", &file)
        .unwrap();
    assert!(upid.contains(":imgcopy:"), "{upid}");

    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/api2/json/nodes/pve1/storage/local/upload");
    let ctype = r.header("content-type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap();
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let parts = parse_multipart(&r.body, boundary);
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "form-data; name=\"content\"",
            "form-data; name=\"checksum-algorithm\"",
            "form-data; name=\"checksum\"",
            "form-data; name=\"filename\"; filename=\"alpine-3.20.tar\"",
        ]
    );
    assert_eq!(parts[0].2, b"vztmpl");
    assert_eq!(parts[1].2, b"sha256");
    let want: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(String::from_utf8(parts[2].2.clone()).unwrap(), want);
    assert_eq!(parts[3].1.as_deref(), Some("application/octet-stream"));
    assert!(parts[3].2 == data, "file bytes arrive unchanged");
}
