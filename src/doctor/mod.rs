//! `proxmox-lxcri doctor`: what the configured backend needs on its node(s), one check per line,
//! each failure with the one thing to do about it. The checks that decide something from data
//! (privileges, storage content types, subuid ranges, AppArmor, ELF headers) are pure functions
//! here, unit-tested; the rest gathers that data from this host, the node or the API.

mod api;
mod host;
mod pmxcfs;
pub mod privileges;
mod ssh;
pub mod storage;

use std::path::Path;

use serde::Serialize;

use crate::config::{BackendKind, Config};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Worth knowing, blocks nothing (AppArmor off, the lxcfs stop delay).
    Info,
    /// Blocks the runtime; `fix` says what to do.
    Fail,
}

/// One line of the report; `--json` prints `{check, ok, detail, fix}`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
    #[serde(skip)]
    pub level: Level,
}

impl Check {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Level::Ok, detail, None)
    }

    pub fn info(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Level::Info, detail, None)
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(check, Level::Fail, detail, Some(fix.into()))
    }

    fn new(
        check: impl Into<String>,
        level: Level,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            check: check.into(),
            ok: level != Level::Fail,
            detail: detail.into(),
            fix,
            level,
        }
    }

    /// `✓ name: detail`, `i name: detail` or `✗ name: detail; fix: …`, on one line.
    pub fn line(&self) -> String {
        let mark = match self.level {
            Level::Ok => "✓",
            Level::Info => "i",
            Level::Fail => "✗",
        };
        match &self.fix {
            Some(fix) => format!("{mark} {}: {}; fix: {fix}", self.check, self.detail),
            None => format!("{mark} {}: {}", self.check, self.detail),
        }
    }
}

/// Whether anything in `checks` blocks the runtime.
pub fn blocked(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.level == Level::Fail)
}

/// Every check for `cfg` (loaded from `config_path`, for fixes that name the file), with the
/// state root `root`.
pub fn run(cfg: &Config, config_path: &str, root: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    match cfg.backend {
        BackendKind::Pct => {
            out.extend(pmxcfs::node(cfg));
            out.push(storage::not_used_locally());
        }
        BackendKind::Ssh => out.extend(ssh::node(cfg, config_path)),
        BackendKind::Api => out.extend(api::node(cfg, config_path)),
    }
    out.extend(node_version(cfg));
    if cfg.backend == BackendKind::Pct {
        out.extend(host::subids(cfg));
        out.push(host::apparmor_here());
        out.push(host::lxcfs_here());
    }
    out.push(host::init_binary(cfg, config_path));
    out.push(host::state_root(root));
    out
}

/// The node's version and what it implies. Another change adds version detection (a backend
/// method and `src/pve/version.rs`); this slot is where its result becomes a check line.
fn node_version(_cfg: &Config) -> Option<Check> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json() {
        let c = Check::fail("token", "authentication failed", "write the token to /x");
        assert_eq!(
            c.line(),
            "✗ token: authentication failed; fix: write the token to /x"
        );
        assert!(!c.ok);
        let v = serde_json::to_value([Check::info("apparmor", "not enabled")]).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"check": "apparmor", "ok": true, "detail": "not enabled", "fix": null}])
        );
        assert!(blocked(&[Check::ok("a", "b"), c]));
        assert!(!blocked(&[Check::info("a", "b")]));
    }
}
