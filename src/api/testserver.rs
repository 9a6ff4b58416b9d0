//! A tiny HTTPS server for the client's tests: a CA and a leaf certificate made with rcgen,
//! rustls over std's TcpListener, one connection at a time, canned answers, `Connection: close`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::tls::fingerprint_of;
use crate::api::credentials::Fingerprint;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/api2/json/nodes?type=vm`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> Vec<(String, String)> {
        self.target
            .split_once('?')
            .map(|(_, q)| form_decode(q))
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `a=1&b=x+y` → pairs, percent- and plus-decoded.
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let b = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let (b'%', Some(Ok(v))) = (b[i], hex.map(|h| u8::from_str_radix(h, 16))) {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

pub struct Reply {
    pub status: u16,
    pub reason: String,
    pub body: String,
    /// Wait this long before answering (for timeouts).
    pub delay: Duration,
}

/// `200 OK` with `{"data": <data>}`.
pub fn ok(data: serde_json::Value) -> Reply {
    reply(200, "OK", &serde_json::json!({ "data": data }).to_string())
}

pub fn reply(status: u16, reason: &str, body: &str) -> Reply {
    Reply {
        status,
        reason: reason.into(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

pub struct Certs {
    /// The CA that signed the leaf, PEM (what `/etc/pve/pve-root-ca.pem` is on a node).
    pub ca_pem: String,
    pub leaf: CertificateDer<'static>,
    key: Vec<u8>,
}

/// A cluster CA and a node certificate for `localhost` and `127.0.0.1`.
pub fn certs() -> Certs {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Proxmox Virtual Environment test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    Certs {
        ca_pem: ca.pem(),
        leaf: leaf.der().clone(),
        key: key.serialize_der(),
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct Server {
    pub addr: SocketAddr,
    pub ca_pem: String,
    /// SHA-256 of the leaf certificate the server presents.
    pub fingerprint: Fingerprint,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serve until the test process ends; `handler` gets each request and its 0-based index.
pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Server {
    let certs = certs();
    let fingerprint = fingerprint_of(&certs.leaf);
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certs.leaf.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key.clone())),
            )
            .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let handler: Arc<Handler> = Arc::new(handler);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            // A client that refuses our certificate ends the handshake; that is a test's point.
            let _ = serve_one(tcp, config.clone(), &*handler, &seen);
        }
    });
    Server {
        addr,
        ca_pem: certs.ca_pem,
        fingerprint,
        requests,
    }
}

fn serve_one(
    mut tcp: TcpStream,
    config: Arc<ServerConfig>,
    handler: &Handler,
    seen: &Mutex<Vec<Request>>,
) -> io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let req = read_request(&mut BufReader::new(&mut tls))?;
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(req.clone());
        seen.len() - 1
    };
    let r = handler(&req, index);
    std::thread::sleep(r.delay);
    let head = format!(
        "HTTP/1.1 {} {}\r\nServer: pve-api-daemon/3.0\r\nContent-Type: application/json;charset=UTF-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        r.status,
        r.reason,
        r.body.len()
    );
    tls.write_all(head.as_bytes())?;
    tls.write_all(r.body.as_bytes())?;
    tls.flush()?;
    conn.send_close_notify();
    conn.complete_io(&mut tcp)?;
    Ok(())
}

fn read_request(rd: &mut impl BufRead) -> io::Result<Request> {
    let mut line = String::new();
    rd.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        rd.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req.header("content-length") {
        let len: usize = len.parse().map_err(io::Error::other)?;
        req.body = vec![0; len];
        rd.read_exact(&mut req.body)?;
    } else if req.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            rd.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            rd.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(req)
}
