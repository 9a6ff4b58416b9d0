//! Proxmox volumes for container paths (docs/storage.md): the annotation
//! `org.proxmox.lxcri/volume.<name>` asks for a mount point volume allocated on a storage, its
//! value a Proxmox `mpN` property string whose volume is `<storage>:<GiB>` (pve-container
//! src/PVE/LXC/Config.pm `$mp_desc`), and `org.proxmox.lxcri/rootfs-size` for the size of the
//! CT's root volume. The volume's size is a hard limit that the storage enforces (an ext4 file
//! system of that size). Pure: parsing and checks only.

use std::collections::BTreeMap;

use super::{invalid, MapError};

pub const VOLUME_PREFIX: &str = "org.proxmox.lxcri/volume.";
pub const ROOTFS_SIZE_ANNOTATION: &str = "org.proxmox.lxcri/rootfs-size";

/// `mountoptions` values pve-container accepts (`$valid_mount_option_re` in Config.pm).
const MOUNT_OPTIONS: &[&str] = &[
    "discard", "lazytime", "noatime", "nodev", "noexec", "nosuid",
];

/// One requested volume.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeRequest {
    /// The name after the prefix.
    pub name: String,
    pub storage: String,
    /// GiB, as `pct create --mpN <storage>:<GiB>` takes it (fractions allowed).
    pub size: String,
    /// The absolute path in the container.
    pub path: String,
    /// The `mpN` options passed on as they are (`backup`, `ro`, `acl`, `replicate`,
    /// `mountoptions`), in the order given.
    pub options: Vec<(String, String)>,
    /// `keep=1`: kept when the container is deleted, re-attached by name (docs/storage.md).
    pub keep: bool,
}

impl VolumeRequest {
    /// The annotation that asked for it.
    pub fn annotation(&self) -> String {
        format!("{VOLUME_PREFIX}{}", self.name)
    }

    /// The `mpN` value `pct create` allocates it from: `<storage>:<GiB>,mp=<path>[,...]`.
    pub fn mp_value(&self) -> String {
        let mut v = format!("{}:{},mp={}", self.storage, self.size, self.path);
        for (k, o) in &self.options {
            v.push_str(&format!(",{k}={o}"));
        }
        v
    }
}

/// What the annotations ask for: mount point volumes (sorted by name) and the root size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volumes {
    pub volumes: Vec<VolumeRequest>,
    /// GiB for the CT's root volume.
    pub rootfs_size: Option<String>,
}

impl Volumes {
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.rootfs_size.is_none()
    }

    /// The annotations in use, for a message that refuses them all.
    pub fn first_annotation(&self) -> Option<String> {
        self.volumes
            .first()
            .map(VolumeRequest::annotation)
            .or_else(|| {
                self.rootfs_size
                    .as_ref()
                    .map(|_| ROOTFS_SIZE_ANNOTATION.to_string())
            })
    }
}

fn field(key: &str) -> String {
    format!("annotations[\"{key}\"]")
}

/// A positive size in GiB: digits with an optional fraction, as `pct` reads `<storage>:<size>`
/// (pve-container `$parse_ct_mountpoint_full`'s `^(\d+(\.\d+)?)$`-like disk size).
fn gib(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac) && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// pve-storage's `pve-storage-id`: `[a-z][a-z0-9._-]*[a-z0-9]`, any case.
fn storage_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// A volume name: what a podman volume name allows, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, up to 63.
fn volume_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// A mount point path Proxmox accepts (`verify_lxc_mp_string`): absolute, not `/`, no `.` or
/// `..` component, no comma (the property string's separator).
fn mount_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.trim_end_matches('/').is_empty()
        && !p.contains(',')
        && !p.contains(char::is_whitespace)
        && !p.split('/').any(|c| c == "." || c == "..")
}

fn boolean(v: &str) -> bool {
    matches!(v, "0" | "1")
}

/// Parses one volume annotation's value.
fn parse_volume(name: &str, value: &str) -> Result<VolumeRequest, MapError> {
    let key = format!("{VOLUME_PREFIX}{name}");
    let bad = |reason: String| invalid(field(&key), reason);
    if !volume_name(name) {
        return Err(bad(format!(
            "volume name '{name}' must be [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 characters"
        )));
    }
    let mut parts = value.split(',');
    let volume = parts.next().unwrap_or_default();
    let Some((storage, size)) = volume.split_once(':') else {
        return Err(bad(format!(
            "'{volume}' is not <storage>:<GiB> (e.g. local-lvm:1,mp=/data)"
        )));
    };
    if !storage_id(storage) {
        return Err(bad(format!("'{storage}' is not a storage ID")));
    }
    if !gib(size) {
        return Err(bad(format!(
            "size '{size}' is not a positive number of GiB"
        )));
    }
    let mut path = None;
    let mut keep = false;
    let mut options = Vec::new();
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            return Err(bad(format!("'{p}' is not key=value")));
        };
        let ok = match k {
            "mp" => {
                if !mount_path(v) {
                    return Err(bad(format!(
                        "mp '{v}' is not an absolute path other than / without . or .."
                    )));
                }
                path = Some(v.to_string());
                continue;
            }
            "backup" | "ro" | "acl" | "replicate" => boolean(v),
            "mountoptions" => v.split(';').all(|o| MOUNT_OPTIONS.contains(&o)),
            "keep" if boolean(v) => {
                keep = v == "1";
                continue;
            }
            "keep" => false,
            "quota" => {
                return Err(bad(
                    "quota needs a privileged CT; the volume's size is its limit".into(),
                ))
            }
            "size" | "shared" | "volume" => {
                return Err(bad(format!(
                    "'{k}' cannot be set: the volume is <storage>:<GiB> and allocated"
                )))
            }
            _ => {
                return Err(bad(format!(
                    "unknown option '{k}' (mp, backup, ro, acl, replicate, mountoptions)"
                )))
            }
        };
        if !ok {
            let want = if k == "mountoptions" {
                "a ;-list of discard, lazytime, noatime, nodev, noexec, nosuid"
            } else {
                "0 or 1"
            };
            return Err(bad(format!("{k} '{v}': want {want}")));
        }
        if options.iter().any(|(o, _)| o == k) {
            return Err(bad(format!("'{k}' given twice")));
        }
        options.push((k.to_string(), v.to_string()));
    }
    let Some(path) = path else {
        return Err(bad("mp=<path in the container> is missing".into()));
    };
    Ok(VolumeRequest {
        name: name.to_string(),
        storage: storage.to_string(),
        size: size.to_string(),
        path,
        options,
        keep,
    })
}

/// The volumes and root size the annotations ask for; the first bad one is refused, naming
/// its annotation. Two volumes at one path are refused too.
pub fn volume_requests(annotations: &BTreeMap<String, String>) -> Result<Volumes, MapError> {
    let mut out = Volumes::default();
    for (k, v) in annotations {
        if let Some(name) = k.strip_prefix(VOLUME_PREFIX) {
            let req = parse_volume(name, v)?;
            let norm = |p: &str| p.trim_end_matches('/').to_string();
            if let Some(other) = out
                .volumes
                .iter()
                .find(|o| norm(&o.path) == norm(&req.path))
            {
                return Err(invalid(
                    field(k),
                    format!(
                        "mp '{}' is also the path of annotation {}",
                        req.path,
                        other.annotation()
                    ),
                ));
            }
            out.volumes.push(req);
        }
    }
    if let Some(v) = annotations.get(ROOTFS_SIZE_ANNOTATION) {
        if !gib(v) {
            return Err(invalid(
                field(ROOTFS_SIZE_ANNOTATION),
                format!("'{v}' is not a positive number of GiB"),
            ));
        }
        out.rootfs_size = Some(v.clone());
    }
    Ok(out)
}

/// The CT description line that records a named volume kept by `keep=1`: its config key, name
/// and path (`proxmox-lxcri volume: mp0 data /data`). A CT whose description also names a
/// container uses it; one without that line holds it between containers (docs/storage.md).
pub const VOLUME_LINE_PREFIX: &str = "proxmox-lxcri volume: ";

pub fn volume_line(key: &str, req: &VolumeRequest) -> String {
    format!("{VOLUME_LINE_PREFIX}{key} {} {}", req.name, req.path)
}

/// `(key, name, path)` of a volume line.
pub fn parse_volume_line(line: &str) -> Option<(String, String, String)> {
    let mut f = line.strip_prefix(VOLUME_LINE_PREFIX)?.splitn(3, ' ');
    let (k, n, p) = (f.next()?, f.next()?, f.next()?);
    (k.starts_with("mp") && !n.is_empty() && p.starts_with('/'))
        .then(|| (k.to_string(), n.to_string(), p.to_string()))
}

/// Whether a bind mount at `dest` (in the container) is replaced by a volume at the same path.
pub fn replaces(volumes: &Volumes, dest: &str) -> bool {
    let d = dest.trim_end_matches('/');
    volumes
        .volumes
        .iter()
        .any(|v| v.path.trim_end_matches('/') == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        volume_requests(&ann(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn a_volume_becomes_an_mp_value() {
        let v = volume_requests(&ann(&[(
            "org.proxmox.lxcri/volume.data",
            "local-lvm:1,mp=/data,backup=1,ro=0,mountoptions=noatime;nosuid",
        )]))
        .unwrap();
        assert_eq!(v.volumes.len(), 1);
        let d = &v.volumes[0];
        assert_eq!((d.storage.as_str(), d.size.as_str()), ("local-lvm", "1"));
        assert_eq!(
            d.mp_value(),
            "local-lvm:1,mp=/data,backup=1,ro=0,mountoptions=noatime;nosuid"
        );
        assert_eq!(d.annotation(), "org.proxmox.lxcri/volume.data");
        assert!(replaces(&v, "/data/") && !replaces(&v, "/data2"));
        assert_eq!(v.rootfs_size, None);
    }

    #[test]
    fn kept_volumes_and_their_description_line() {
        let v = volume_requests(&ann(&[(
            "org.proxmox.lxcri/volume.db",
            "local-lvm:1,mp=/var/db,keep=1,backup=1",
        )]))
        .unwrap();
        let d = &v.volumes[0];
        assert!(d.keep);
        assert_eq!(d.mp_value(), "local-lvm:1,mp=/var/db,backup=1");
        let line = volume_line("mp2", d);
        assert_eq!(line, "proxmox-lxcri volume: mp2 db /var/db");
        assert_eq!(
            parse_volume_line(&line),
            Some(("mp2".into(), "db".into(), "/var/db".into()))
        );
        assert_eq!(parse_volume_line("proxmox-lxcri volume: x"), None);
        assert_eq!(parse_volume_line("proxmox-lxcri id: c1"), None);
    }

    #[test]
    fn root_size_and_fractions() {
        let v = volume_requests(&ann(&[
            ("org.proxmox.lxcri/rootfs-size", "8"),
            ("org.proxmox.lxcri/volume.a", "ct:0.5,mp=/a"),
            ("org.proxmox.lxcri/other", "x"),
        ]))
        .unwrap();
        assert_eq!(v.rootfs_size.as_deref(), Some("8"));
        assert_eq!(v.volumes[0].mp_value(), "ct:0.5,mp=/a");
        assert!(volume_requests(&BTreeMap::new()).unwrap().is_empty());
    }

    #[test]
    fn bad_values_name_their_annotation() {
        let key = "config.json: annotations[\"org.proxmox.lxcri/volume.data\"]: ";
        for (value, reason) in [
            ("local-lvm,mp=/data", "'local-lvm' is not <storage>:<GiB>"),
            ("local-lvm:0,mp=/data", "size '0' is not a positive"),
            ("local-lvm:1G,mp=/data", "size '1G' is not"),
            ("local-lvm:-1,mp=/data", "size '-1' is not"),
            ("1x:1,mp=/data", "'1x' is not a storage ID"),
            ("local-lvm:1", "mp=<path in the container> is missing"),
            ("local-lvm:1,mp=data", "mp 'data' is not an absolute path"),
            ("local-lvm:1,mp=/", "mp '/' is not"),
            ("local-lvm:1,mp=/a/../b", "mp '/a/../b' is not"),
            ("local-lvm:1,mp=/d,ro=yes", "ro 'yes': want 0 or 1"),
            ("local-lvm:1,mp=/d,mountoptions=exec", "mountoptions 'exec'"),
            ("local-lvm:1,mp=/d,size=2G", "'size' cannot be set"),
            ("local-lvm:1,mp=/d,colour=red", "unknown option 'colour'"),
            ("local-lvm:1,mp=/d,ro", "'ro' is not key=value"),
            ("local-lvm:1,mp=/d,ro=1,ro=0", "'ro' given twice"),
            ("local-lvm:1,mp=/d,quota=1", "quota needs a privileged CT"),
            ("local-lvm:1,mp=/d,keep=yes", "keep 'yes': want 0 or 1"),
        ] {
            let e = err(&[("org.proxmox.lxcri/volume.data", value)]);
            assert!(e.starts_with(key), "{value}: {e}");
            assert!(e.contains(reason), "{value}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = err(&[("org.proxmox.lxcri/volume.-x", "local-lvm:1,mp=/d")]);
        assert!(e.contains("volume.-x\"]: volume name '-x'"), "{e}");
        let e = err(&[("org.proxmox.lxcri/rootfs-size", "big")]);
        assert_eq!(
            e,
            "config.json: annotations[\"org.proxmox.lxcri/rootfs-size\"]: 'big' is not a positive number of GiB"
        );
        let e = err(&[
            ("org.proxmox.lxcri/volume.a", "local-lvm:1,mp=/d"),
            ("org.proxmox.lxcri/volume.b", "local-lvm:1,mp=/d/"),
        ]);
        assert!(
            e.starts_with("config.json: annotations[\"org.proxmox.lxcri/volume.b\"]: mp '/d/' is also the path of annotation org.proxmox.lxcri/volume.a"),
            "{e}"
        );
    }
}
