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

/// The node's pve-container version, asked afresh (not from the cache `create` uses), and what
/// it means for the configured backend.
fn node_version(cfg: &Config) -> Option<Check> {
    if cfg.node == "auto" {
        return Some(Check::info(
            "node version",
            "node = auto: each node's version is learned when a CT is placed on it",
        ));
    }
    let backend = crate::backend::from_config(cfg);
    let node = cfg.node_name();
    Some(version_check(cfg, &node, backend.node_version()))
}

/// The check line for what `node` answered (pure, so the decision is unit-tested).
fn version_check(
    cfg: &Config,
    node: &str,
    answer: Result<crate::backend::nodever::Detected, crate::backend::BackendError>,
) -> Check {
    use crate::pve::version::{NodeCaps, ENTRYPOINT_ENV, OLDEST_RELEASE};
    const NAME: &str = "node version";
    let pin = "or set node_version in the config to the node's pve-container version";
    let d = match answer {
        Ok(d) => d,
        Err(e) if cfg.backend == BackendKind::Api => {
            return Check::fail(
                NAME,
                format!("cannot learn node {node}'s pve-container version ({e}); the api backend would take it for Proxmox VE {OLDEST_RELEASE} and refuse"),
                format!("give the token Sys.Audit on /nodes/{node} (GET /nodes/{node}/apt/versions), {pin}"),
            )
        }
        Err(e) => {
            return Check::info(
                NAME,
                format!("cannot learn node {node}'s pve-container version ({e}); the runtime takes it for Proxmox VE {OLDEST_RELEASE} and uses raw keys, {pin}"),
            )
        }
    };
    let caps = NodeCaps::of(&d.version);
    let what = format!(
        "node {node} runs pve-container {} (from {})",
        d.version, d.source
    );
    if !caps.entrypoint_env {
        if cfg.backend == BackendKind::Api {
            return Check::fail(
                NAME,
                format!("{what}; the api backend needs {ENTRYPOINT_ENV} (Proxmox VE 9.1) for entrypoint"),
                format!("upgrade node {node} to Proxmox VE 9.1, or use backend = \"ssh\""),
            );
        }
        if cfg.unprivileged && cfg.strict && cfg.backend == BackendKind::Pct && !caps.idmap_option {
            return Check::fail(
                NAME,
                format!("{what}: no idmap= mount option (6.1.6), which an unprivileged CT's bound rootfs needs"),
                format!("upgrade node {node} to Proxmox VE 9.1, or set unprivileged = false"),
            );
        }
        return Check::ok(
            NAME,
            format!("{what}: no entrypoint/env options, the init goes in as raw lxc.init.cmd"),
        );
    }
    if cfg.unprivileged && cfg.strict && cfg.backend == BackendKind::Pct && !caps.idmap_option {
        return Check::fail(
            NAME,
            format!("{what}: no idmap= mount option (6.1.6), which an unprivileged CT's bound rootfs needs"),
            format!("upgrade pve-container on node {node} (apt full-upgrade), or set unprivileged = false"),
        );
    }
    Check::ok(NAME, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(v: &str) -> crate::backend::nodever::Detected {
        crate::backend::nodever::Detected {
            version: crate::pve::version::PkgVersion::parse(v).unwrap(),
            source: "pveversion".into(),
        }
    }

    #[test]
    fn node_version_decides_per_backend() {
        let mut cfg = Config::default();
        let c = version_check(&cfg, "pve1", Ok(detected("6.1.10")));
        assert_eq!(c.level, Level::Ok, "{}", c.line());
        let c = version_check(&cfg, "pve1", Ok(detected("6.0.9")));
        assert!(c.ok && c.detail.contains("lxc.init.cmd"), "{}", c.line());
        cfg.backend = BackendKind::Api;
        let c = version_check(&cfg, "pve1", Ok(detected("6.0.9")));
        assert_eq!(c.level, Level::Fail);
        assert!(c.detail.contains("needs 6.0.15"), "{}", c.line());
        let err = crate::backend::BackendError::Other("403".into());
        let c = version_check(&cfg, "pve1", Err(err));
        assert_eq!(c.level, Level::Fail);
        assert!(c.fix.unwrap().contains("Sys.Audit on /nodes/pve1"));
        cfg.backend = BackendKind::Pct;
        cfg.unprivileged = true;
        let c = version_check(&cfg, "pve1", Ok(detected("6.1.2")));
        assert_eq!(c.level, Level::Fail, "{}", c.line());
        assert!(c.detail.contains("idmap="), "{}", c.line());
        let err = crate::backend::BackendError::Other("no pveversion".into());
        let c = version_check(&cfg, "pve1", Err(err));
        assert_eq!(c.level, Level::Info);
    }

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
