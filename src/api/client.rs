//! The HTTP side: one ureq agent per client, the token header, GET retries.

use std::error::Error as StdError;
use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use super::response::{Call, Reply};
use super::tls::{self, Trust};
use super::ApiError;
use crate::api::credentials::{Fingerprint, Token};
use crate::config::ApiConfig;

/// Pauses between tries of a GET (so at most 4 tries); other methods are tried once, because a
/// create or start that reached the node must never run twice.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// A client for one node's `/api2/json`, authenticated with an API token.
pub struct Client {
    agent: ureq::Agent,
    /// `https://host:port/api2/json`
    base: String,
    /// `host:port`, for error messages.
    host: String,
    token: Token,
    pin: Option<Fingerprint>,
    timeout: Duration,
    task_timeout: Duration,
    pub(crate) retry_delays: Vec<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token)
            .field("pin", &self.pin)
            .finish()
    }
}

impl Client {
    /// Read the token file (refused unless only its owner may read it) and set up TLS.
    pub fn new(cfg: &ApiConfig) -> Result<Client, ApiError> {
        let token = Token::from_file(&cfg.token_file)?;
        Client::with_token(cfg, token)
    }

    /// Like `new` with the token at hand; `cfg.token_file` is not read.
    pub fn with_token(cfg: &ApiConfig, token: Token) -> Result<Client, ApiError> {
        let (base, host) = base_url(&cfg.url)?;
        let pin = match cfg.fingerprint.trim() {
            "" => None,
            fp => Some(fp.parse::<Fingerprint>()?),
        };
        let trust = match pin {
            Some(p) => Trust::Pin(p),
            None if !cfg.ca_file.as_os_str().is_empty() => Trust::CaFile(cfg.ca_file.clone()),
            None => Trust::SystemRoots,
        };
        // Zero would make every request time out at once.
        let timeout = Duration::from_secs(cfg.timeout.max(1));
        // Per-operation timeouts on the agent bound stalls (an upload may take long but must keep
        // moving); ordinary requests also get `timeout` as their whole deadline.
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls::client_config(&trust)?)
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            // Proxmox does not redirect; following one could hand the token to another host.
            .redirects(0)
            .user_agent(concat!("proxmox-lxcri/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base,
            host,
            token,
            pin,
            timeout,
            task_timeout: Duration::from_secs(cfg.task_timeout),
            retry_delays: RETRY_DELAYS.to_vec(),
        })
    }

    /// `https://host:port/api2/json`
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `api.task_timeout`: how long callers should let `wait_task` wait.
    pub fn task_timeout(&self) -> Duration {
        self.task_timeout
    }

    /// `user@realm!tokenid` of the token in use.
    pub fn token_id(&self) -> &str {
        &self.token.id
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call("GET", path, query, None)
    }

    /// Parameters go in an `application/x-www-form-urlencoded` body.
    pub fn post(&self, path: &str, form: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call("POST", path, &[], Some(form))
    }

    pub fn put(&self, path: &str, form: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call("PUT", path, &[], Some(form))
    }

    /// Parameters go in the query string: Proxmox refuses a body on DELETE.
    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call("DELETE", path, query, None)
    }

    fn request(&self, method: &str, path: &str, query: &[(&str, String)]) -> ureq::Request {
        let mut req = self
            .agent
            .request(method, &format!("{}{}", self.base, path))
            // ureq masks this header in its own debug log.
            .set("Authorization", &self.token.header())
            .set("Accept", "application/json");
        for (k, v) in query {
            req = req.query(k, v);
        }
        req
    }

    /// One request (with its retries), counted as backend `api`'s method and path template.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        form: Option<&[(&str, String)]>,
    ) -> Result<Value, ApiError> {
        let t0 = std::time::Instant::now();
        let r = (|| {
            check_path(path)?;
            let call = Call {
                method,
                path,
                token_id: &self.token.id,
            };
            let idempotent = method == "GET";
            let mut delays = self.retry_delays.iter();
            loop {
                log::debug!("api {method} {path}");
                let req = self.request(method, path, query).timeout(self.timeout);
                let sent = match form {
                    Some(form) => {
                        let pairs: Vec<(&str, &str)> =
                            form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        req.send_form(&pairs)
                    }
                    None => req.call(),
                };
                let (err, transient) = match self.reply(method, path, sent) {
                    Ok(reply) => {
                        let transient = reply.is_transient();
                        match reply.decode(&call) {
                            Ok(data) => return Ok(data),
                            Err(e) => (e, transient),
                        }
                    }
                    Err(fail) => fail,
                };
                match delays.next() {
                    Some(delay) if idempotent && transient => {
                        log::debug!("api {method} {path}: {err}; retrying in {delay:?}");
                        std::thread::sleep(*delay);
                    }
                    _ => return Err(err),
                }
            }
        })();
        counted(method, path, t0, &r);
        r
    }

    /// POST a streamed body; never retried, and without an overall deadline (an upload may take
    /// long), only the agent's per-read/write timeouts.
    pub(crate) fn post_stream(
        &self,
        path: &str,
        content_type: &str,
        len: u64,
        body: impl Read,
    ) -> Result<Value, ApiError> {
        check_path(path)?;
        log::debug!("api POST {path} ({len} bytes)");
        let t0 = std::time::Instant::now();
        let sent = self
            .request("POST", path, &[])
            .set("Content-Type", content_type)
            .set("Content-Length", &len.to_string())
            .send(body);
        let call = Call {
            method: "POST",
            path,
            token_id: &self.token.id,
        };
        let r = match self.reply("POST", path, sent) {
            Ok(reply) => reply.decode(&call),
            Err((e, _)) => Err(e),
        };
        counted("POST", path, t0, &r);
        r
    }

    /// The reply, or the error with whether trying again could help.
    fn reply(
        &self,
        method: &str,
        path: &str,
        sent: Result<ureq::Response, ureq::Error>,
    ) -> Result<Reply, (ApiError, bool)> {
        let resp = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                let kind = t.kind();
                let msg = describe(&t);
                return Err(self.transport_error(method, path, &t, kind, msg));
            }
        };
        let status = resp.status();
        let reason = resp.status_text().to_string();
        match resp.into_string() {
            Ok(body) => Ok(Reply {
                status,
                reason,
                body,
            }),
            Err(e) => {
                let msg = format!("reading the response: {e}");
                Err(self.transport_error(method, path, &e, ureq::ErrorKind::Io, msg))
            }
        }
    }

    fn transport_error(
        &self,
        method: &str,
        path: &str,
        err: &(dyn StdError + 'static),
        kind: ureq::ErrorKind,
        msg: String,
    ) -> (ApiError, bool) {
        let (method, path, host) = (method.to_string(), path.to_string(), self.host.clone());
        if let Some(tls_err) = tls::rustls_error(err) {
            if let (Some(presented), Some(expected)) = (tls::pin_mismatch(tls_err), self.pin) {
                let e = ApiError::FingerprintMismatch {
                    host,
                    expected: expected.to_string(),
                    presented: presented.to_string(),
                };
                return (e, false);
            }
            let mut msg = tls_err.to_string();
            if self.pin.is_none() && matches!(tls_err, rustls::Error::InvalidCertificate(_)) {
                msg.push_str(
                    " (set api.fingerprint to the node's certificate fingerprint, \
                     or api.ca_file to its CA)",
                );
            }
            return (
                ApiError::Tls {
                    method,
                    path,
                    host,
                    msg,
                },
                false,
            );
        }
        if timed_out(err) {
            let secs = self.timeout.as_secs();
            return (
                ApiError::Timeout {
                    method,
                    path,
                    host,
                    secs,
                },
                false,
            );
        }
        use ureq::ErrorKind::*;
        match kind {
            Dns | ConnectionFailed | Io => (
                ApiError::Connect {
                    method,
                    path,
                    host,
                    msg,
                },
                true,
            ),
            _ => (ApiError::BadResponse { method, path, msg }, false),
        }
    }
}

/// `https://host[:port][/]` → (`https://host:port/api2/json`, `host:port`).
fn counted(method: &str, path: &str, t0: std::time::Instant, r: &Result<Value, ApiError>) {
    let call = format!("{method} {}", super::path_template::of(path));
    let failure = r.as_ref().err().map(ApiError::reason);
    crate::opstats::backend_call("api", &call, t0.elapsed(), failure);
}

fn base_url(url: &str) -> Result<(String, String), ApiError> {
    let bad = |msg: &str| ApiError::Url {
        url: url.to_string(),
        msg: msg.to_string(),
    };
    let url = url.trim();
    if url.is_empty() {
        return Err(bad("not set"));
    }
    // Plain http would send the token in the clear.
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| bad("must start with https://"))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/api2/json").unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace)
    {
        return Err(bad("expected https://HOST[:PORT]"));
    }
    Ok((format!("https://{rest}/api2/json"), rest.to_string()))
}

fn check_path(path: &str) -> Result<(), ApiError> {
    if !path.starts_with('/') || path.contains(['?', '#']) || path.contains(char::is_whitespace) {
        return Err(ApiError::InvalidArgument(format!(
            "api path '{path}': expected /a/b without query"
        )));
    }
    Ok(())
}

/// The transport error without the URL ureq puts in front (the caller names method and path).
fn describe(t: &ureq::Transport) -> String {
    match (t.source(), t.message()) {
        (Some(src), _) => src.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => t.kind().to_string(),
    }
}

fn timed_out(err: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        for (url, base, host) in [
            (
                "https://pve1:8006",
                "https://pve1:8006/api2/json",
                "pve1:8006",
            ),
            (
                "https://pve1:8006/",
                "https://pve1:8006/api2/json",
                "pve1:8006",
            ),
            (
                "https://10.0.0.1:8006/api2/json/",
                "https://10.0.0.1:8006/api2/json",
                "10.0.0.1:8006",
            ),
            (
                "https://[::1]:8006",
                "https://[::1]:8006/api2/json",
                "[::1]:8006",
            ),
        ] {
            assert_eq!(
                base_url(url).unwrap(),
                (base.to_string(), host.to_string()),
                "{url}"
            );
        }
        for bad in [
            "",
            "http://pve1:8006",
            "pve1:8006",
            "https://",
            "https://a/b",
            "https://u@h",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            base_url("http://pve1").unwrap_err().to_string(),
            "api url 'http://pve1': must start with https://"
        );
    }

    #[test]
    fn paths_must_be_absolute_without_query() {
        assert!(check_path("/nodes/pve1/lxc").is_ok());
        for bad in ["nodes", "/nodes?x=1", "/a b", ""] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
