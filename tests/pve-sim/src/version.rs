//! The simulated node's Proxmox VE release (`PVE_SIM_VERSION`) and what its pve-container
//! version knows. An older node refuses what a newer pve-container introduced exactly like any
//! unknown option or config key (see README.md, "Node version").
//!
//! The pve-container version per release is what real nodes report in `pveversion -v`; the
//! other package versions are representative. Feature versions follow pve-container's
//! debian/changelog (entrypoint/env/host-managed 6.0.15, the init user 6.1.0, keepattrs 6.1.2,
//! the mount point `idmap=` option 6.1.6).

use std::path::Path;

use sha2::{Digest, Sha256};

/// `x.y.z`, compared numerically.
pub type Ver = [u32; 3];

pub const DEFAULT_VERSION: &str = "9.1.2";

/// The node version file under `PVE_SIM_ROOT`, read when `PVE_SIM_VERSION` is not set.
pub const VERSION_FILE: &str = "pve-sim-version";

/// One supported release line: what a node of it reports for the packages pve-sim stands in for.
struct Release {
    /// `major.minor` of pve-manager.
    line: [u32; 2],
    proxmox_ve: &'static str,
    pve_container: Ver,
    lxc_pve: &'static str,
    lxcfs: &'static str,
}

const RELEASES: &[Release] = &[
    Release {
        line: [8, 4],
        proxmox_ve: "8.4.0",
        pve_container: [5, 3, 3],
        lxc_pve: "6.0.0-1",
        lxcfs: "6.0.0-pve2",
    },
    Release {
        line: [9, 0],
        proxmox_ve: "9.0.0",
        pve_container: [6, 0, 13],
        lxc_pve: "6.0.4-2",
        lxcfs: "6.0.4-pve1",
    },
    Release {
        line: [9, 1],
        proxmox_ve: "9.1.0",
        pve_container: [6, 1, 10],
        lxc_pve: "6.0.5-3",
        lxcfs: "6.0.4-pve1",
    },
];

/// The config keys (and `pct` options) a pve-container version introduced.
const KEY_SINCE: &[(&str, Ver)] = &[("entrypoint", [6, 0, 15]), ("env", [6, 0, 15])];

/// Raw keys assumed to have joined `$valid_lxc_conf_keys` with Proxmox's handling of the init
/// user (6.1.0); see README.md.
const RAW_KEY_SINCE: &[(&str, Ver)] = &[
    ("lxc.init.uid", [6, 1, 0]),
    ("lxc.init.gid", [6, 1, 0]),
    ("lxc.init.groups", [6, 1, 0]),
];

/// Property string options a pve-container version introduced, by key family (`mp`: `rootfs`
/// and `mpN`; `net`: `netN`).
const OPTION_SINCE: &[(&str, &str, Ver)] = &[
    ("mp", "idmap", [6, 1, 6]),
    ("mp", "keepattrs", [6, 1, 2]),
    ("net", "host-managed", [6, 0, 15]),
];

/// The option family of config key `key`, if its value is a property string with gated options.
fn family(key: &str) -> Option<&'static str> {
    let numbered = |p: &str| {
        key.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if key == "rootfs" || numbered("mp") {
        Some("mp")
    } else if numbered("net") {
        Some("net")
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeVersion {
    /// pve-manager's version, e.g. `9.1.2`.
    pub manager: Ver,
    pub container: Ver,
    pub proxmox_ve: &'static str,
    pub lxc_pve: &'static str,
    pub lxcfs: &'static str,
}

fn parse_ver(s: &str) -> Option<Ver> {
    let mut it = s.split('.').map(|p| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    });
    let v = [it.next()??, it.next()??, it.next()??];
    it.next().is_none().then_some(v)
}

pub fn fmt_ver(v: Ver) -> String {
    format!("{}.{}.{}", v[0], v[1], v[2])
}

impl NodeVersion {
    /// The node for release `manager` (`x.y.z`), optionally with another pve-container version
    /// (`PVE_SIM_PVE_CONTAINER`: nodes of one release run different pve-container updates).
    pub fn new(manager: &str, container: Option<&str>) -> Result<NodeVersion, String> {
        let supported = || {
            RELEASES
                .iter()
                .map(|r| format!("{}.{}.x", r.line[0], r.line[1]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let m = parse_ver(manager).ok_or_else(|| {
            format!(
                "pve-sim: PVE_SIM_VERSION '{manager}' is not a release like 9.1.2 ({})",
                supported()
            )
        })?;
        let r = RELEASES
            .iter()
            .find(|r| r.line == [m[0], m[1]])
            .ok_or_else(|| {
                format!(
                    "pve-sim: PVE_SIM_VERSION '{manager}' is not simulated ({})",
                    supported()
                )
            })?;
        let container = match container {
            Some(c) => parse_ver(c).ok_or_else(|| {
                format!("pve-sim: PVE_SIM_PVE_CONTAINER '{c}' is not a version like 6.0.15")
            })?,
            None => r.pve_container,
        };
        Ok(NodeVersion {
            manager: m,
            container,
            proxmox_ve: r.proxmox_ve,
            lxc_pve: r.lxc_pve,
            lxcfs: r.lxcfs,
        })
    }

    /// From `PVE_SIM_VERSION` and `PVE_SIM_PVE_CONTAINER`; without them from the node root's
    /// [`VERSION_FILE`] (`<release> [<pve-container>]`, for callers whose environment does not
    /// reach the sim, such as podman's or sshd's children); else [`DEFAULT_VERSION`].
    pub fn from_env(root: &Path) -> Result<NodeVersion, String> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(manager) = get("PVE_SIM_VERSION") {
            return NodeVersion::new(&manager, get("PVE_SIM_PVE_CONTAINER").as_deref());
        }
        let file = root.join(VERSION_FILE);
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let mut words = text.split_whitespace();
                let manager = words.next().unwrap_or(DEFAULT_VERSION);
                NodeVersion::new(manager, words.next())
                    .map_err(|e| format!("{e} (in {})", file.display()))
            }
            Err(_) => NodeVersion::new(DEFAULT_VERSION, get("PVE_SIM_PVE_CONTAINER").as_deref()),
        }
    }

    pub fn default_node() -> NodeVersion {
        NodeVersion::new(DEFAULT_VERSION, None).expect("the default version is in the table")
    }

    pub fn version(&self) -> String {
        fmt_ver(self.manager)
    }

    /// `x.y`, as `GET /version` reports it.
    pub fn release(&self) -> String {
        format!("{}.{}", self.manager[0], self.manager[1])
    }

    /// A stable stand-in for the git revision a real pve-manager build records (16 hex digits).
    pub fn repoid(&self) -> String {
        let h = Sha256::digest(format!("pve-sim pve-manager {}", self.version()));
        h.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub fn container_version(&self) -> String {
        fmt_ver(self.container)
    }

    fn has(&self, table: &[(&str, Ver)], name: &str) -> bool {
        table
            .iter()
            .find(|(k, _)| *k == name)
            .is_none_or(|(_, since)| self.container >= *since)
    }

    /// Whether this node's config schema has key `key` (also a `pct create/set` option).
    pub fn has_key(&self, key: &str) -> bool {
        self.has(KEY_SINCE, key)
    }

    /// Whether `is_valid_lxc_conf_key` of this node accepts the raw key `key` (as far as it
    /// depends on the version).
    pub fn has_raw_key(&self, key: &str) -> bool {
        self.has(RAW_KEY_SINCE, key)
    }

    /// Whether config key `key` (`rootfs`, `mp0`, `net1`, …) takes option `opt` on this node.
    pub fn has_option(&self, key: &str, opt: &str) -> bool {
        self.missing_options(key).all(|o| o != opt)
    }

    /// The options of config key `key`'s property string that this node's pve-container does
    /// not know yet.
    pub fn missing_options(&self, key: &str) -> impl Iterator<Item = &'static str> + '_ {
        let fam = family(key);
        OPTION_SINCE
            .iter()
            .filter(move |(f, _, since)| Some(*f) == fam && self.container < *since)
            .map(|(_, o, _)| *o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_map_to_pve_container() {
        let v = NodeVersion::new("8.4.14", None).unwrap();
        assert_eq!(v.container_version(), "5.3.3");
        assert!(!v.has_key("entrypoint") && !v.has_key("env") && v.has_key("memory"));
        assert!(!v.has_raw_key("lxc.init.uid") && v.has_raw_key("lxc.init.cmd"));
        assert!(!v.has_option("rootfs", "idmap") && v.has_option("mp3", "ro"));
        assert!(!v.has_option("net0", "host-managed") && v.has_option("mp0", "host-managed"));
        let v = NodeVersion::new("9.0.11", None).unwrap();
        assert_eq!(v.container_version(), "6.0.13");
        assert!(!v.has_key("entrypoint"));
        let v = NodeVersion::new("9.1.2", None).unwrap();
        assert_eq!(
            (v.release(), v.container_version()),
            ("9.1".into(), "6.1.10".into())
        );
        assert!(
            v.has_key("entrypoint")
                && v.has_raw_key("lxc.init.gid")
                && v.has_option("mp0", "idmap")
        );
        // A 9.1 node before the idmap= update.
        let v = NodeVersion::new("9.1.1", Some("6.0.18")).unwrap();
        assert!(v.has_key("env") && !v.has_raw_key("lxc.init.groups"));
        assert!(v.has_option("net0", "host-managed"));
        assert_eq!(
            v.missing_options("mp0").collect::<Vec<_>>(),
            vec!["idmap", "keepattrs"]
        );
        assert_eq!(v.missing_options("memory").count(), 0);
    }

    #[test]
    fn the_root_may_name_the_version() {
        let d = std::env::temp_dir().join(format!("pve-sim-ver-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        // Without PVE_SIM_VERSION (tests run without it), the file decides.
        if std::env::var_os("PVE_SIM_VERSION").is_none() {
            assert_eq!(
                NodeVersion::from_env(&d).unwrap().version(),
                DEFAULT_VERSION
            );
            std::fs::write(d.join(VERSION_FILE), "9.1.1 6.0.18\n").unwrap();
            let v = NodeVersion::from_env(&d).unwrap();
            assert_eq!(
                (v.version(), v.container_version()),
                ("9.1.1".into(), "6.0.18".into())
            );
            std::fs::write(d.join(VERSION_FILE), "7.4.1\n").unwrap();
            let e = NodeVersion::from_env(&d).unwrap_err();
            assert!(
                e.contains("'7.4.1' is not simulated") && e.contains(VERSION_FILE),
                "{e}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_versions_are_named() {
        let e = NodeVersion::new("7.4.3", None).unwrap_err();
        assert!(
            e.contains("'7.4.3' is not simulated (8.4.x, 9.0.x, 9.1.x)"),
            "{e}"
        );
        assert!(NodeVersion::new("9.1", None).is_err());
        assert!(NodeVersion::new("9.1.x", None).is_err());
        assert!(NodeVersion::new("9.1.2", Some("six")).is_err());
        let a = NodeVersion::new("9.1.2", None).unwrap().repoid();
        assert_eq!(a.len(), 16);
        assert_ne!(a, NodeVersion::new("9.1.3", None).unwrap().repoid());
    }
}
