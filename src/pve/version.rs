//! Debian package versions and what a node's `pve-container` version lets a CT config use.
//!
//! The gates come from pve-container's debian/changelog and src/PVE/LXC/Config.pm (the option
//! schema and `$valid_lxc_conf_keys`); docs/mapping.md ("Node versions") lists them. Pure: the
//! backends learn the version, this module only reads it.

use std::cmp::Ordering;
use std::fmt;

/// A Debian package version (`[epoch:]upstream[-revision]`), ordered as dpkg orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgVersion {
    epoch: u64,
    upstream: String,
    revision: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a Debian package version")]
pub struct BadVersion(pub String);

impl PkgVersion {
    pub fn parse(s: &str) -> Result<PkgVersion, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let t = s.trim();
        let (epoch, rest) = match t.split_once(':') {
            Some((e, r)) => (e.parse::<u64>().map_err(|_| bad())?, r),
            None => (0, t),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        let ok = |p: &str, extra: &str| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~".contains(c) || extra.contains(c))
        };
        if upstream.is_empty()
            || rest.ends_with('-')
            || !upstream.starts_with(|c: char| c.is_ascii_digit())
            || !ok(upstream, "-")
            || !ok(revision, "")
        {
            return Err(bad());
        }
        Ok(PkgVersion {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }

    /// A version known to be well-formed (the tables below).
    pub fn known(s: &str) -> PkgVersion {
        PkgVersion::parse(s).expect("table version")
    }
}

impl fmt::Display for PkgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

/// dpkg's order of one non-digit character: `~` first, then the end, letters, other characters.
fn char_order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn part_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        loop {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let (oa, ob) = (char_order(ca), char_order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            i += usize::from(ca.is_some());
            j += usize::from(cb.is_some());
        }
        let num = |s: &[u8], k: &mut usize| {
            let mut n: u128 = 0;
            while let Some(d) = s.get(*k).filter(|c| c.is_ascii_digit()) {
                n = n.saturating_mul(10).saturating_add(u128::from(d - b'0'));
                *k += 1;
            }
            n
        };
        let (na, nb) = (num(a, &mut i), num(b, &mut j));
        if na != nb {
            return na.cmp(&nb);
        }
    }
    Ordering::Equal
}

impl Ord for PkgVersion {
    fn cmp(&self, o: &Self) -> Ordering {
        self.epoch
            .cmp(&o.epoch)
            .then_with(|| part_cmp(&self.upstream, &o.upstream))
            .then_with(|| part_cmp(&self.revision, &o.revision))
    }
}

impl PartialOrd for PkgVersion {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// First pve-container with the `entrypoint` and `env` options (Proxmox VE 9.1).
pub const ENTRYPOINT_ENV: &str = "6.0.15";
/// First pve-container with the network option `host-managed` (the node sets a CT's addresses).
pub const HOST_MANAGED_NET: &str = "6.0.15";
/// First pve-container that allows raw `lxc.init.uid`/`gid`/`groups`.
pub const INIT_USER_KEYS: &str = "6.1.0";
/// First pve-container with the mount point option `idmap=`.
pub const IDMAP_OPTION: &str = "6.1.6";
/// First pve-container that mounts a tmpfs on `/dev/shm` of a CT with an `entrypoint`.
pub const SHM_TMPFS: &str = "6.1.10";
/// First pve-container with `devN` device passthrough (Proxmox VE 8.1).
pub const DEVICES: &str = "5.0.5";

/// Proxmox VE point releases (`GET /nodes/{node}/version`, `release`) and the lowest
/// pve-container each shipped with, for a node whose package versions cannot be read. The oldest
/// entry is also what an unknown node is taken for.
pub const RELEASES: &[(&str, &str)] = &[("8.4", "5.0.5"), ("9.0", "6.0.9"), ("9.1", "6.0.15")];

/// The oldest supported release.
pub const OLDEST_RELEASE: &str = "8.4";

/// The lowest pve-container a release implies; `None` for a release older than the oldest
/// supported. A newer release than the table knows implies the newest entry.
pub fn release_min(release: &str) -> Option<PkgVersion> {
    let r = PkgVersion::parse(release).ok()?;
    RELEASES
        .iter()
        .rev()
        .find(|(rel, _)| PkgVersion::known(rel) <= r)
        .map(|(_, v)| PkgVersion::known(v))
}

/// What the node's pve-container lets the mapping use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCaps {
    pub pve_container: PkgVersion,
    /// `entrypoint` and `env` are options; otherwise raw `lxc.init.cmd` does it.
    pub entrypoint_env: bool,
    /// Raw `lxc.init.uid`/`gid`/`groups` are allowed.
    pub init_user_keys: bool,
    /// `idmap=` on rootfs and mount points.
    pub idmap_option: bool,
    /// Proxmox mounts a tmpfs on `/dev/shm` itself when `entrypoint` is set.
    pub shm_tmpfs: bool,
    /// `devN` entries.
    pub devices: bool,
}

impl NodeCaps {
    pub fn of(v: &PkgVersion) -> NodeCaps {
        let at_least = |min: &str| *v >= PkgVersion::known(min);
        NodeCaps {
            pve_container: v.clone(),
            entrypoint_env: at_least(ENTRYPOINT_ENV),
            init_user_keys: at_least(INIT_USER_KEYS),
            idmap_option: at_least(IDMAP_OPTION),
            shm_tmpfs: at_least(SHM_TMPFS),
            devices: at_least(DEVICES),
        }
    }

    /// The capabilities of a pve-container version given as text (tests, fixed config).
    pub fn of_str(v: &str) -> Result<NodeCaps, BadVersion> {
        PkgVersion::parse(v).map(|v| NodeCaps::of(&v))
    }

    /// What a node of the oldest supported release can do.
    pub fn oldest() -> NodeCaps {
        NodeCaps::of(&release_min(OLDEST_RELEASE).expect("oldest release in table"))
    }
}

/// `pve-container: X` from `pveversion --verbose` output.
pub fn from_pveversion(out: &str) -> Option<PkgVersion> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim() != "pve-container" {
            return None;
        }
        // `pve-container: 6.1.10` (some releases add a note in parentheses).
        PkgVersion::parse(v.split_whitespace().next()?).ok()
    })
}

/// The installed pve-container from dpkg's status file (`/var/lib/dpkg/status`).
pub fn from_dpkg_status(text: &str) -> Option<PkgVersion> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(str::trim)
            })
        };
        if field("Package") != Some("pve-container") {
            return None;
        }
        let status = field("Status")?;
        if !status.ends_with(" installed") {
            return None;
        }
        PkgVersion::parse(field("Version")?).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> PkgVersion {
        PkgVersion::parse(s).unwrap()
    }

    #[test]
    fn order_is_dpkg_order() {
        let sorted = [
            "5.0.5",
            "5.3.3",
            "6.0.9",
            "6.0.15",
            "6.1.0~rc1",
            "6.1.0",
            "6.1.0-1",
            "6.1.0+b1",
            "6.1.6",
            "6.1.10",
            "9.1.2",
            "1:0.1",
        ];
        for w in sorted.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("6.1.010").cmp(&v("6.1.10")), Ordering::Equal);
        assert!(v("6.1.10a") > v("6.1.10"));
        assert_eq!(v("1:6.1-2").to_string(), "1:6.1-2");
    }

    #[test]
    fn bad_versions() {
        for s in ["", "x1", "1 2", "a:1", "6.1.10-", "-1"] {
            assert!(PkgVersion::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn capabilities_of_84_90_91() {
        let c = NodeCaps::oldest();
        assert!(c.devices && !c.entrypoint_env && !c.idmap_option && !c.init_user_keys);
        let c = NodeCaps::of_str("6.0.9").unwrap();
        assert!(c.devices && !c.entrypoint_env && !c.shm_tmpfs);
        let c = NodeCaps::of_str("6.0.15").unwrap();
        assert!(c.entrypoint_env && !c.init_user_keys && !c.idmap_option && !c.shm_tmpfs);
        let c = NodeCaps::of_str("6.1.6").unwrap();
        assert!(c.init_user_keys && c.idmap_option && !c.shm_tmpfs);
        let c = NodeCaps::of_str("6.1.10").unwrap();
        assert!(c.entrypoint_env && c.init_user_keys && c.idmap_option && c.shm_tmpfs);
        assert!(!NodeCaps::of_str("5.0.4").unwrap().devices);
    }

    #[test]
    fn releases_imply_a_minimum() {
        assert_eq!(release_min("8.4"), Some(v("5.0.5")));
        assert_eq!(release_min("9.0"), Some(v("6.0.9")));
        assert_eq!(release_min("9.1"), Some(v("6.0.15")));
        // Later releases than the table knows: at least the newest entry.
        assert_eq!(release_min("9.2"), Some(v("6.0.15")));
        assert_eq!(release_min("10.0"), Some(v("6.0.15")));
        assert_eq!(release_min("8.3"), None);
        assert_eq!(release_min("x"), None);
    }

    #[test]
    fn pveversion_output() {
        let out = "proxmox-ve: 9.1.0 (running kernel: 6.17.2-1-pve)\npve-manager: 9.1.2 (running version: 9.1.2/abcdef)\npve-container: 6.1.10\npve-docs: 9.1.1\n";
        assert_eq!(from_pveversion(out), Some(v("6.1.10")));
        assert_eq!(from_pveversion("pve-manager: 9.1.2\n"), None);
        assert_eq!(
            from_pveversion("pve-container: not correctly installed\n"),
            None
        );
    }

    #[test]
    fn dpkg_status_stanzas() {
        let text = "Package: pve-cluster\nStatus: install ok installed\nVersion: 9.1.6\n\nPackage: pve-container\nStatus: install ok installed\nPriority: optional\nVersion: 6.0.9\nDescription: x\n continued\n\nPackage: zsh\nStatus: install ok installed\nVersion: 5.9-4\n";
        assert_eq!(from_dpkg_status(text), Some(v("6.0.9")));
        let removed = "Package: pve-container\nStatus: deinstall ok config-files\nVersion: 5.3.3\n";
        assert_eq!(from_dpkg_status(removed), None);
        assert_eq!(
            from_dpkg_status("Package: pve-containers\nStatus: install ok installed\nVersion: 1\n"),
            None
        );
    }
}
