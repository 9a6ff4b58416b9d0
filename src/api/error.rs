//! What can go wrong talking to the Proxmox API. Messages name the method and path (or the host,
//! or the UPID) so a runc log line says which call failed.

use std::collections::BTreeMap;

use crate::api::credentials::CredentialError;
use crate::opstats::Reason;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("api url '{url}': {msg}")]
    Url { url: String, msg: String },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("ca file {path}: {msg}")]
    CaFile { path: String, msg: String },
    #[error("tls setup: {0}")]
    TlsSetup(String),
    /// The node presented another certificate than the pinned one.
    #[error(
        "{host}: certificate fingerprint mismatch: expected {expected}, presented {presented}"
    )]
    FingerprintMismatch {
        host: String,
        expected: String,
        presented: String,
    },
    #[error("{method} {path}: tls handshake with {host} failed: {msg}")]
    Tls {
        method: String,
        path: String,
        host: String,
        msg: String,
    },
    #[error("{method} {path}: connection to {host} failed: {msg}")]
    Connect {
        method: String,
        path: String,
        host: String,
        msg: String,
    },
    #[error("{method} {path}: no answer from {host} within {secs} s")]
    Timeout {
        method: String,
        path: String,
        host: String,
        secs: u64,
    },
    /// HTTP 400 with Proxmox's per-parameter `errors` map.
    #[error("{method} {path}: parameter verification failed: {}", list_params(.errors))]
    Params {
        method: String,
        path: String,
        errors: BTreeMap<String, String>,
    },
    #[error("{method} {path}: authentication failed for token {token}")]
    Auth {
        method: String,
        path: String,
        token: String,
    },
    #[error("{method} {path}: {reason}")]
    Forbidden {
        method: String,
        path: String,
        reason: String,
    },
    /// Any other non-2xx answer; `message` is the first line of Proxmox's message (or the reason
    /// phrase), e.g. `CT 100 already running` with status 500.
    #[error("{method} {path}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: unexpected response: {msg}")]
    BadResponse {
        method: String,
        path: String,
        msg: String,
    },
    /// The task ended with an error; `log` holds the last lines of its log.
    #[error("task {upid} failed: {exitstatus}{}", log_tail(.log))]
    TaskFailed {
        upid: String,
        exitstatus: String,
        log: Vec<String>,
    },
    #[error("task {upid} still running after {}", humantime::format_duration(*.waited))]
    TaskTimeout {
        upid: String,
        waited: std::time::Duration,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl ApiError {
    /// What the failure is counted as (docs/monitoring.md).
    pub fn reason(&self) -> Reason {
        match self {
            ApiError::Url { .. }
            | ApiError::Credentials(_)
            | ApiError::CaFile { .. }
            | ApiError::TlsSetup(_)
            | ApiError::InvalidArgument(_) => Reason::BadInput,
            ApiError::FingerprintMismatch { .. }
            | ApiError::Tls { .. }
            | ApiError::Connect { .. } => Reason::Unreachable,
            ApiError::Timeout { .. } | ApiError::TaskTimeout { .. } => Reason::Timeout,
            ApiError::TaskFailed { .. } => Reason::TaskFailed,
            ApiError::Http { status: 404, .. } => Reason::NotFound,
            ApiError::Params { .. }
            | ApiError::Auth { .. }
            | ApiError::Forbidden { .. }
            | ApiError::Http { .. } => Reason::ProxmoxRefused,
            ApiError::BadResponse { .. } | ApiError::Io { .. } => Reason::Other,
        }
    }

    /// The HTTP status when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Params { .. } => Some(400),
            ApiError::Auth { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn list_params(errors: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    items.join("; ")
}

fn log_tail(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!(" (log: {})", log.join(" | "))
    }
}
