//! The node's pve-container version: learned by the backend once per invocation that needs it
//! (`create`), cached under the state root for a minute, and turned into [`NodeCaps`] for the
//! mapping. A node whose version cannot be learned is taken for the oldest supported release
//! (Proxmox VE 8.4), with a warning: that only costs options, never a CT that fails to start.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Backend, BackendError};
use crate::config::Config;
use crate::pve::version::{self, NodeCaps, PkgVersion};

/// How long a cached version is trusted: an upgrade of the node shows within a minute.
pub const CACHE_LIFETIME: Duration = Duration::from_secs(60);

/// What a backend learned: the version and where it came from (for messages and `doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub version: PkgVersion,
    /// `dpkg`, `pveversion`, `apt/versions`, `release 9.0`, `config`, `assumed`.
    pub source: String,
}

/// The node's version as the runtime uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeVersion {
    pub node: String,
    pub detected: Detected,
    pub caps: NodeCaps,
}

impl NodeVersion {
    fn new(node: &str, detected: Detected) -> NodeVersion {
        NodeVersion {
            node: node.to_string(),
            caps: NodeCaps::of(&detected.version),
            detected,
        }
    }

    /// `pve-container 6.0.9`, or for a version implied by a release or assumed, what it rests on.
    pub fn describe(&self) -> String {
        let v = &self.detected.version;
        match self.detected.source.as_str() {
            s if s.starts_with("release ") => format!(
                "Proxmox VE {} (pve-container {v} or later)",
                &s["release ".len()..]
            ),
            "assumed" => format!("pve-container {v} (assumed: version unknown)"),
            _ => format!("pve-container {v}"),
        }
    }
}

/// The cache file's content.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    node: String,
    pve_container: String,
    source: String,
    /// Seconds since the epoch when it was learned.
    learned: u64,
}

/// How `cfg` reaches its node: two clusters may both have a node `pve1`, and podman shares one
/// state root between every runtime config it is given.
pub(super) fn endpoint(cfg: &Config) -> String {
    use crate::config::BackendKind;
    match cfg.backend {
        BackendKind::Pct => format!("pct {}", cfg.pct.path.display()),
        BackendKind::Ssh => format!("ssh {}@{}:{}", cfg.ssh.user, cfg.ssh.host, cfg.ssh.port),
        BackendKind::Api => format!("api {}", cfg.api.url),
    }
}

/// The cache file of `node` reached through `endpoint`; none for a name that is not a plain
/// file name (Proxmox's node names are DNS labels).
fn cache_path(root: &Path, node: &str, endpoint: &str) -> Option<PathBuf> {
    cache_file(root, node, endpoint, "version.json")
}

/// `<root>/.nodes/<node>.<tag>.<kind>`, `<tag>` a hash of `key` (how the node is reached, and
/// what the file depends on).
pub(super) fn cache_file(root: &Path, node: &str, key: &str, kind: &str) -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    let plain = !node.is_empty()
        && !node.starts_with('.')
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let tag: String = Sha256::digest(key.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    plain.then(|| {
        root.join(crate::state::NODES_DIR)
            .join(format!("{node}.{tag}.{kind}"))
    })
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A cached version that is well-formed, for this node, and young enough; anything else is
/// ignored (and overwritten by the next detection).
fn read_cache(path: &Path, node: &str, at: u64) -> Option<Detected> {
    let c: Cached = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let age = at.checked_sub(c.learned)?;
    if c.node != node || age >= CACHE_LIFETIME.as_secs() || c.source == "assumed" {
        return None;
    }
    Some(Detected {
        version: PkgVersion::parse(&c.pve_container).ok()?,
        source: c.source,
    })
}

fn write_cache(path: &Path, node: &str, d: &Detected) {
    let c = Cached {
        node: node.to_string(),
        pve_container: d.version.to_string(),
        source: d.source.clone(),
        learned: now(),
    };
    match serde_json::to_vec(&c) {
        Ok(b) => write_cache_file(path, &b),
        Err(e) => log::debug!("{}: {e}", path.display()),
    }
}

/// Write a file under `<root>/.nodes/` atomically. A failure only costs the next invocation
/// asking the node again.
pub(super) fn write_cache_file(path: &Path, content: &[u8]) {
    let r = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            crate::sys::fs::write_atomic(path, content, 0o644).map_err(|e| e.to_string())
        });
    if let Err(e) = r {
        log::debug!("{}: {e}", path.display());
    }
}

/// The version of `cfg`'s node: `node_version` from the config if set, else the cache under
/// `root`, else what `backend` learns (then cached). Never fails: an unknown version is the
/// oldest supported, with a warning.
pub fn learn(backend: &dyn Backend, cfg: &Config, root: &Path) -> NodeVersion {
    let node = cfg.node_name();
    if !cfg.node_version.is_empty() {
        if let Ok(v) = PkgVersion::parse(&cfg.node_version) {
            return NodeVersion::new(
                &node,
                Detected {
                    version: v,
                    source: "config".into(),
                },
            );
        }
        log::warn!(
            "node_version '{}' is not a Debian package version; asking node {node}",
            cfg.node_version
        );
    }
    let path = cache_path(root, &node, &endpoint(cfg));
    if let Some(d) = path.as_ref().and_then(|p| read_cache(p, &node, now())) {
        return NodeVersion::new(&node, d);
    }
    match backend.node_version() {
        Ok(d) => {
            log::debug!("node {node}: pve-container {} ({})", d.version, d.source);
            if let Some(p) = &path {
                write_cache(p, &node, &d);
            }
            NodeVersion::new(&node, d)
        }
        Err(e) => {
            let oldest = NodeCaps::oldest().pve_container;
            log::warn!(
                "node {node}: cannot learn the pve-container version ({e}); assuming Proxmox VE {} (pve-container {oldest})",
                version::OLDEST_RELEASE
            );
            NodeVersion::new(
                &node,
                Detected {
                    version: oldest,
                    source: "assumed".into(),
                },
            )
        }
    }
}

/// Runs `check` unless it passed for `cfg`'s node, with the same `what`, less than
/// [`CACHE_LIFETIME`] ago; a pass is remembered under `<root>/.nodes/`, a failure never. For
/// checks that cost a round trip (or a Perl start-up on the node) on every `create`, such as the
/// storages' content types: a change on the node within the minute still fails, later, in
/// Proxmox's own words.
pub fn checked(
    root: &Path,
    cfg: &Config,
    what: &str,
    check: impl FnOnce() -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    checked_for(root, cfg, what, CACHE_LIFETIME, check)
}

/// `checked` with a pass trusted for `lifetime` (quorum: seconds, not a minute).
pub fn checked_for(
    root: &Path,
    cfg: &Config,
    what: &str,
    lifetime: Duration,
    check: impl FnOnce() -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    let node = cfg.node_name();
    let path = cache_file(
        root,
        &node,
        &format!("{}\n{what}", endpoint(cfg)),
        "checked",
    );
    let young = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .and_then(|at| now().checked_sub(at))
            .is_some_and(|age| age < lifetime.as_secs())
    };
    if path.as_ref().is_some_and(young) {
        return Ok(());
    }
    check()?;
    if let Some(p) = &path {
        write_cache_file(p, now().to_string().as_bytes());
    }
    Ok(())
}

/// The `pct`/`ssh` backends' reading of `pveversion --verbose` output.
pub fn from_pveversion_output(out: &str, cmd: &str) -> Result<Detected, BackendError> {
    version::from_pveversion(out)
        .map(|version| Detected {
            version,
            source: "pveversion".into(),
        })
        .ok_or_else(|| BackendError::Command {
            cmd: cmd.to_string(),
            msg: "no pve-container line in its output".into(),
        })
}

/// The `api` backend's way: the installed package from `GET /nodes/{node}/apt/versions` (needs
/// `Sys.Audit` on the node), else the release from `GET /nodes/{node}/version` (any token) and
/// the lowest pve-container it shipped with. `get` is the API client's GET.
pub fn over_api(
    node: &str,
    get: impl Fn(&str) -> Result<Value, String>,
) -> Result<Detected, BackendError> {
    let apt = format!("/nodes/{node}/apt/versions");
    match get(&apt) {
        Ok(list) => {
            if let Some(v) = from_apt_versions(&list) {
                return Ok(Detected {
                    version: v,
                    source: "apt/versions".into(),
                });
            }
            log::debug!("GET {apt}: no installed pve-container listed");
        }
        Err(e) => log::debug!("{e}"),
    }
    let path = format!("/nodes/{node}/version");
    let data = get(&path).map_err(BackendError::Other)?;
    let release = data["release"].as_str().unwrap_or_default();
    let version = version::release_min(release).ok_or_else(|| {
        BackendError::Other(format!(
            "GET {path}: release '{release}' is older than Proxmox VE {}",
            version::OLDEST_RELEASE
        ))
    })?;
    Ok(Detected {
        version,
        source: format!("release {release}"),
    })
}

/// The installed pve-container in `apt/versions` entries (`Package`, `OldVersion` = installed,
/// `Version` = candidate, `CurrentState`).
fn from_apt_versions(list: &Value) -> Option<PkgVersion> {
    let e = list
        .as_array()?
        .iter()
        .find(|e| e["Package"] == "pve-container")?;
    if e["CurrentState"].as_str().is_some_and(|s| s != "Installed") {
        return None;
    }
    let installed = e["OldVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or(e["Version"].as_str())?;
    PkgVersion::parse(installed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> PkgVersion {
        PkgVersion::parse(s).unwrap()
    }

    #[test]
    fn cache_is_trusted_only_when_young_whole_and_for_the_node() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cache_path(dir.path(), "../x", "pct"), None);
        let path = cache_path(dir.path(), "pve1", "api https://a:8006").unwrap();
        assert_ne!(
            Some(&path),
            cache_path(dir.path(), "pve1", "api https://b:8006").as_ref(),
            "another cluster's pve1"
        );
        let d = Detected {
            version: v("6.0.9"),
            source: "pveversion".into(),
        };
        write_cache(&path, "pve1", &d);
        let t = now();
        assert_eq!(read_cache(&path, "pve1", t), Some(d.clone()));
        assert_eq!(read_cache(&path, "pve2", t), None);
        assert_eq!(read_cache(&path, "pve1", t + 60), None);
        // A clock that went back is not a young cache either.
        assert_eq!(read_cache(&path, "pve1", t.saturating_sub(3600)), None);
        std::fs::write(&path, b"{\"node\": \"pve1\", \"pve").unwrap();
        assert_eq!(read_cache(&path, "pve1", t), None);
        std::fs::write(
            &path,
            format!(r#"{{"node":"pve1","pve_container":"x y","source":"dpkg","learned":{t}}}"#),
        )
        .unwrap();
        assert_eq!(read_cache(&path, "pve1", t), None);
    }

    #[test]
    fn api_prefers_package_versions() {
        let calls = std::cell::RefCell::new(Vec::new());
        let d = over_api("pve1", |p| {
            calls.borrow_mut().push(p.to_string());
            Ok(json!([
                {"Package": "pve-manager", "OldVersion": "9.1.2", "CurrentState": "Installed"},
                {"Package": "pve-container", "Version": "6.1.10", "OldVersion": "6.0.9", "CurrentState": "Installed"}
            ]))
        })
        .unwrap();
        assert_eq!(d.version, v("6.0.9"));
        assert_eq!(d.source, "apt/versions");
        assert_eq!(*calls.borrow(), ["/nodes/pve1/apt/versions"]);
    }

    #[test]
    fn api_without_sys_audit_uses_the_release() {
        let d = over_api("pve2", |p| match p {
            "/nodes/pve2/apt/versions" => Err("GET /nodes/pve2/apt/versions: 403 Permission check failed (/nodes/pve2, Sys.Audit)".into()),
            "/nodes/pve2/version" => Ok(json!({"version": "9.0.10", "release": "9.0", "repoid": "abcdef12"})),
            _ => panic!("{p}"),
        })
        .unwrap();
        assert_eq!(d.version, v("6.0.9"));
        let nv = NodeVersion::new("pve2", d);
        assert_eq!(
            nv.describe(),
            "Proxmox VE 9.0 (pve-container 6.0.9 or later)"
        );
        assert!(!nv.caps.entrypoint_env);
        let e = over_api("pve2", |p| match p {
            "/nodes/pve2/version" => Ok(json!({"version": "7.4.3", "release": "7.4"})),
            _ => Err("404".into()),
        })
        .unwrap_err();
        assert!(e.to_string().contains("release '7.4' is older"), "{e}");
    }
}
