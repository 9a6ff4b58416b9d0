//! The audit log: one JSON line per operation that changes something on Proxmox or on this
//! host (docs/audit.md). Writing it never fails the operation: a failure is one warning in the
//! log.

mod caller;
mod file;
mod upids;

use serde::Serialize;

pub use caller::Caller;
pub use file::append;
pub use upids::{note_upid, take_upids};

use crate::config::AuditConfig;

/// One line of the audit log; empty fields are left out.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub backend: String,
    pub caller: Caller,
    /// The Proxmox tasks the operation waited for (api backend only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upid: Vec<String>,
    /// The workload's exit status (the shim's `exit` and `node-lost` lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// `ok` or `error`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Entry {
    /// An entry stamped now, with this process's caller and no outcome yet.
    pub fn now(operation: &str, backend: &str) -> Entry {
        Entry::by(operation, backend, Caller::of_this_process())
    }

    /// An entry of a decision the shim took on its own: the caller is the shim itself.
    pub fn by_shim(operation: &str, backend: &str) -> Entry {
        Entry::by(
            operation,
            backend,
            Caller::of(nix::unistd::getpid().as_raw()),
        )
    }

    fn by(operation: &str, backend: &str, caller: Caller) -> Entry {
        Entry {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            operation: operation.into(),
            id: None,
            vmid: None,
            node: None,
            backend: backend.into(),
            caller,
            upid: Vec::new(),
            status: None,
            result: "ok",
            error: None,
        }
    }

    /// Set the outcome; the error is kept to one line.
    pub fn outcome(&mut self, error: Option<&str>) {
        self.result = if error.is_some() { "error" } else { "ok" };
        self.error = error.map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    pub fn line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Append `entry` to the configured log (an empty path disables it); a failure is a warning.
pub fn record(cfg: &AuditConfig, entry: &Entry) {
    if cfg.path.as_os_str().is_empty() {
        return;
    }
    if let Err(e) = append(cfg, entry.line().as_bytes()) {
        log::warn!("audit log {}: {e}", cfg.path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_without_empty_fields() {
        let mut e = Entry::now("kill", "pct");
        e.id = Some("c1".into());
        e.outcome(Some("container c1:\n  not running"));
        let line = e.line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["result"], "error");
        assert_eq!(v["error"], "container c1: not running");
        assert!(v.get("upid").is_none() && v.get("vmid").is_none());
        let t = v["time"].as_str().unwrap();
        assert!(
            t.ends_with('Z') && t.len() == "2026-12-02T07:43:11.123Z".len(),
            "{t}"
        );
    }
}
