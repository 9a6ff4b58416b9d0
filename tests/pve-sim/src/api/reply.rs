//! What a handler answers: `{"data":…}` (plus extra top-level keys such as `total`) or an error
//! in Proxmox's envelope (pve-http-server src/PVE/APIServer/Formatter/Standard.pm).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// A successful answer.
pub struct Reply {
    pub data: Value,
    /// Top-level keys beside `data` (the task log's `total`).
    pub extra: Vec<(&'static str, Value)>,
}

impl From<Value> for Reply {
    fn from(data: Value) -> Self {
        Reply {
            data,
            extra: Vec::new(),
        }
    }
}

/// A directory index: `[{"subdir": name}, …]`.
pub fn subdirs(names: &[&str]) -> ApiResult {
    let list: Vec<Value> = names.iter().map(|n| json!({"subdir": n})).collect();
    Ok(Value::Array(list).into())
}

impl Reply {
    pub fn body(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("data".into(), self.data.clone());
        for (k, v) in &self.extra {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m).to_string().into_bytes()
    }
}

/// An error answer: the HTTP status, the message (its first line is the reason phrase) and,
/// for parameter errors, the per-parameter messages.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub msg: String,
    pub errors: BTreeMap<String, String>,
}

pub type ApiResult = Result<Reply, ApiError>;

impl ApiError {
    pub fn new(code: u16, msg: impl Into<String>) -> Self {
        ApiError {
            code,
            msg: msg.into(),
            errors: BTreeMap::new(),
        }
    }

    /// A plain Perl `die` in a handler: 500.
    pub fn die(msg: impl Into<String>) -> Self {
        Self::new(500, msg)
    }

    /// `raise_param_exc`: 400 with the errors map.
    pub fn params(errors: BTreeMap<String, String>) -> Self {
        ApiError {
            code: 400,
            msg: "Parameter verification failed.".into(),
            errors,
        }
    }

    pub fn param(key: &str, msg: impl Into<String>) -> Self {
        Self::params(BTreeMap::from([(key.to_string(), msg.into())]))
    }

    /// pveproxy's answer when the node it proxies to does not answer: AnyEvent::HTTP's
    /// status for a failed connect, with the errno text and no body.
    pub fn unreachable() -> Self {
        Self::new(595, "No route to host")
    }

    pub fn not_implemented(method: &str, path: &str) -> Self {
        Self::new(501, format!("Method '{method} {path}' not implemented"))
    }

    /// The reason phrase: the message's first line (a CR in it degrades to `Bad Request`,
    /// as the HTTP server refuses such a status line).
    pub fn reason(&self) -> String {
        let first = self.msg.lines().next().unwrap_or("").to_string();
        if first.contains('\r') || first.is_empty() {
            "Bad Request".into()
        } else {
            first
        }
    }

    pub fn body(&self) -> Vec<u8> {
        if self.code == 595 {
            return Vec::new();
        }
        let mut msg = self.msg.clone();
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
        let mut v = json!({"data": null, "message": msg});
        if !self.errors.is_empty() {
            v["errors"] = json!(self.errors);
        }
        v.to_string().into_bytes()
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::die(e.to_string())
    }
}
