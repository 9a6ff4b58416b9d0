//! Proxmox storage as the sim knows it: `storage.cfg`, volume IDs and where their files are,
//! CT volume allocation and removal, content listing and usage. `dir` storages follow
//! pve-storage's `PVE::Storage::Plugin` (which a dir storage uses unchanged); `lvmthin`
//! storages follow `PVE::Storage::LvmThinPlugin` (content `images`/`rootdir` only, volumes
//! `vm-<vmid>-disk-<n>`, paths `/dev/<vg>/<lv>`) with a directory standing in for each LV's
//! filesystem; other types are parsed but refused.
//!
//! Volume IDs on a dir storage `<sid>` with path `<p>` (`filesystem_path`):
//!
//! | volid | file |
//! |---|---|
//! | `<sid>:vztmpl/<name>.tar[.gz\|.xz\|.zst\|.bz2]` | `<p>/template/cache/<name>...` |
//! | `<sid>:iso/<name>.iso` | `<p>/template/iso/<name>.iso` |
//! | `<sid>:backup/<name>` | `<p>/dump/<name>` |
//! | `<sid>:snippets/<name>` | `<p>/snippets/<name>` |
//! | `<sid>:<vmid>/subvol-<vmid>-disk-<n>.subvol` | `<p>/images/<vmid>/subvol-...` (a directory) |
//! | `<sid>:<vmid>/vm-<vmid>-disk-<n>.raw` | `<p>/images/<vmid>/vm-...` |
//!
//! On an lvmthin storage (`vgname` `<vg>`, `thinpool` `<pool>`), `<sid>:vm-<vmid>-disk-<n>` is
//! the LV `/dev/<vg>/vm-<vmid>-disk-<n>` (what `pvesm path` answers); its content lives in
//! `$PVE_SIM_ROOT/var/lib/pve-sim-lvm/<vg>/<pool>/vm-<vmid>-disk-<n>/` (`Resolved::data`), or,
//! for a sized mount point volume, the LV's content is the file `.../<pool>/vm-<vmid>-disk-<n>`
//! holding an ext4 file system (see `image`).

mod cfg;
pub mod image;
mod list;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub use cfg::{cfg_path, default_cfg, load, parse as parse_cfg, storage_config, Storage};
pub use list::{list_content, print_content, print_status, status, StorageStatus, Volume};

use crate::sim::Sim;

/// What a volume name on a dir storage says (`parse_volname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolName {
    /// `images`, `rootdir`, `vztmpl`, `iso`, `backup` or `snippets`.
    pub vtype: &'static str,
    /// The file name (`images`: without the `<vmid>/` directory).
    pub name: String,
    /// The owning guest, if the name tells.
    pub vmid: Option<u32>,
    /// `raw`, `qcow2`, `vmdk`, `subvol` (images) or the listing format (`tzst`, `iso`, ...).
    pub format: String,
}

/// `parse_volume_id`: `<storage>:<volname>`.
pub fn parse_volume_id(volid: &str) -> Result<(&str, &str), String> {
    let bad = || format!("unable to parse volume ID '{volid}'");
    let (sid, name) = volid.split_once(':').ok_or_else(bad)?;
    if !valid_storage_id(sid) || name.is_empty() {
        return Err(bad());
    }
    Ok((sid, name))
}

/// `pve-storage-id`: `[a-z][a-z0-9._-]*[a-z0-9]`, case-insensitive.
pub fn valid_storage_id(sid: &str) -> bool {
    let b = sid.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// `parse_name_dir`: an image file name and its format.
fn parse_name_dir(name: &str) -> Result<String, String> {
    let bad = || format!("unable to parse volume filename '{name}'");
    if name.contains('/') || name.contains(char::is_whitespace) {
        return Err(bad());
    }
    let (stem, fmt) = name.rsplit_once('.').ok_or_else(bad)?;
    let stem = stem.strip_prefix("base-").unwrap_or(stem);
    if stem.is_empty() || !matches!(fmt, "raw" | "qcow2" | "vmdk" | "subvol") {
        return Err(bad());
    }
    Ok(fmt.to_string())
}

/// Ends with `suffix`, ASCII case-insensitively; returns the matched suffix as written.
fn ends_with_ci<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let at = name.len().checked_sub(suffix.len())?;
    let tail = name.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then_some(tail)
}

/// `VZTMPL_EXT_RE_1`: `.tar` or `.tar.(gz|xz|zst|bz2)`; the listing format is `t` plus the
/// captured part (`ttar`, `tgz`, `txz`, `tzst`, `tbz2`).
pub fn vztmpl_format(name: &str) -> Option<String> {
    for ext in ["gz", "xz", "zst", "bz2"] {
        if let Some(tail) = ends_with_ci(name, &format!(".tar.{ext}")) {
            return (name.len() > tail.len()).then(|| format!("t{}", &tail[5..]));
        }
    }
    let tail = ends_with_ci(name, ".tar")?;
    (name.len() > tail.len()).then(|| format!("t{}", &tail[1..]))
}

/// `BACKUP_EXT_RE_2`: the archive extension (`tgz`, `tar`, `vma`, `tar.zst`, ...).
fn backup_format(name: &str) -> Option<String> {
    let mut exts = vec!["tgz".to_string()];
    for base in ["tar", "vma"] {
        exts.push(base.to_string());
        for c in ["gz", "lzo", "zst", "bz2"] {
            exts.push(format!("{base}.{c}"));
        }
    }
    exts.into_iter()
        .find(|e| name.len() > e.len() + 1 && name.ends_with(&format!(".{e}")))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `PVE::Storage::Plugin::parse_volname` (what a dir storage accepts).
pub fn parse_volname(volname: &str) -> Result<VolName, String> {
    let bad = || format!("unable to parse directory volume name '{volname}'");
    let vol = |vtype, name: &str, vmid, format: &str| VolName {
        vtype,
        name: name.to_string(),
        vmid,
        format: format.to_string(),
    };
    let parts: Vec<&str> = volname.split('/').collect();
    let no_ws = !volname.contains(char::is_whitespace);
    match parts.as_slice() {
        // Linked clone: <basevmid>/<basename>/<vmid>/<name>.
        [bvmid, base, vmid, name] if no_ws && all_digits(bvmid) && all_digits(vmid) => {
            parse_name_dir(base)?;
            let fmt = parse_name_dir(name)?;
            Ok(vol("images", name, vmid.parse().ok(), &fmt))
        }
        [vmid, name] if no_ws && all_digits(vmid) => {
            let fmt = parse_name_dir(name)?;
            Ok(vol("images", name, vmid.parse().ok(), &fmt))
        }
        ["iso", name]
            if ends_with_ci(name, ".iso").is_some() || ends_with_ci(name, ".img").is_some() =>
        {
            if name.len() <= 4 {
                return Err(bad());
            }
            Ok(vol("iso", name, None, "iso"))
        }
        ["vztmpl", name] => match vztmpl_format(name) {
            Some(fmt) => Ok(vol("vztmpl", name, None, &fmt)),
            None => Err(bad()),
        },
        ["rootdir", id] if all_digits(id) => Ok(vol("rootdir", id, id.parse().ok(), "subvol")),
        ["backup", name] => {
            let fmt = backup_format(name).ok_or_else(bad)?;
            let mut f = name.splitn(4, '-');
            let vmid = match (f.next(), f.next(), f.next(), f.next()) {
                (Some("vzdump"), Some("openvz" | "lxc" | "qemu"), Some(id), Some(_))
                    if all_digits(id) =>
                {
                    id.parse().ok()
                }
                _ => None,
            };
            Ok(vol("backup", name, vmid, &fmt))
        }
        ["snippets", name] if !name.is_empty() => Ok(vol("snippets", name, None, "snippet")),
        _ => Err(bad()),
    }
}

/// `LvmThinPlugin::parse_volname`: `vm-<vmid>-…` or `base-<vmid>-…`, a raw image.
pub fn parse_lvm_volname(volname: &str) -> Result<VolName, String> {
    let b = volname.as_bytes();
    let legal = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c));
    if !legal {
        return Err(format!("lvm name '{volname}' contains illegal characters"));
    }
    let bad = || format!("unable to parse lvm volume name '{volname}'");
    let rest = volname
        .strip_prefix("vm-")
        .or_else(|| volname.strip_prefix("base-"))
        .ok_or_else(bad)?;
    let (id, tail) = rest.split_once('-').ok_or_else(bad)?;
    if !all_digits(id) || tail.is_empty() {
        return Err(bad());
    }
    Ok(VolName {
        vtype: "images",
        name: volname.to_string(),
        vmid: id.parse().ok(),
        format: "raw".into(),
    })
}

/// The directory standing in for an lvmthin storage's thin pool.
fn lvm_backing(st: &Storage) -> Result<&Path, String> {
    st.backing
        .as_deref()
        .ok_or_else(|| format!("storage '{}' has no vgname or thinpool", st.id))
}

/// The sub-directory of a dir storage holding content `vtype` (`$vtype_subdirs`).
pub fn subdir(st: &Storage, vtype: &str) -> Result<PathBuf, String> {
    let path = dir_path(st)?;
    let sub = match vtype {
        "images" => "images",
        "rootdir" => "private",
        "iso" => "template/iso",
        "vztmpl" => "template/cache",
        "backup" => "dump",
        "snippets" => "snippets",
        "import" => "import",
        other => return Err(format!("unknown vtype '{other}'")),
    };
    Ok(path.join(sub))
}

/// The path of a storage the sim can use: a `dir` storage.
fn dir_path(st: &Storage) -> Result<&Path, String> {
    if st.kind != "dir" {
        return Err(format!(
            "pve-sim: storage type '{}' is not simulated (storage '{}')",
            st.kind, st.id
        ));
    }
    st.path
        .as_deref()
        .ok_or_else(|| "storage definition has no path".to_string())
}

/// `activate_storage`: the storage directory must exist; the content directories are created.
/// An lvmthin storage's volume group always exists on the simulated node.
pub fn activate(st: &Storage) -> Result<(), String> {
    if st.kind == "lvmthin" {
        let b = lvm_backing(st)?;
        return fs::create_dir_all(b)
            .map_err(|e| format!("unable to create '{}' - {e}", b.display()));
    }
    let path = dir_path(st)?;
    if !path.is_dir() {
        return Err(format!(
            "unable to activate storage '{}' - directory '{}' does not exist or is unreachable",
            st.id,
            path.display()
        ));
    }
    for c in &st.content {
        // `rootdir` content also wants the backup directory (OpenVZ migration leftovers).
        let mut wanted = vec![c.as_str()];
        if c == "rootdir" {
            wanted.push("backup");
        }
        for vtype in wanted {
            if let Ok(dir) = subdir(st, vtype) {
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("unable to create '{}' - {e}", dir.display()))?;
            }
        }
    }
    Ok(())
}

/// A volume ID resolved: its storage, what the name says, and its file.
pub struct Resolved {
    pub storage: Storage,
    pub vol: VolName,
    /// What the node calls it (`PVE::Storage::path`): the file, or an LV's device node.
    pub path: PathBuf,
    /// Where the sim keeps its content: `path` on a dir storage, the LV's stand-in directory
    /// on an lvmthin one; for an image volume the directory it is mounted on while active.
    pub data: PathBuf,
    /// The ext4 image file of a sized volume (see `image`), `None` for a directory volume.
    pub image: Option<PathBuf>,
}

/// Parses `volid` and finds its storage, file and content.
pub fn resolve(sim: &Sim, volid: &str) -> Result<Resolved, String> {
    let (sid, volname) = parse_volume_id(volid)?;
    let storage = storage_config(sim, sid)?;
    if storage.kind == "lvmthin" {
        let vol = parse_lvm_volname(volname)?;
        let vg = storage.vgname.clone().unwrap_or_default();
        let path = PathBuf::from(format!("/dev/{vg}/{}", vol.name));
        let lv = lvm_backing(&storage)?.join(&vol.name);
        let (data, image) = if lv.is_file() {
            (image::mount_dir(sim, sid, volname), Some(lv))
        } else {
            (lv, None)
        };
        return Ok(Resolved {
            storage,
            vol,
            path,
            data,
            image,
        });
    }
    dir_path(&storage)?;
    let vol = parse_volname(volname)?;
    let mut path = subdir(&storage, vol.vtype)?;
    if vol.vtype == "images" {
        path.push(vol.vmid.map(|v| v.to_string()).unwrap_or_default());
    }
    path.push(&vol.name);
    let (data, image) = if vol.vtype == "images" && vol.format == "raw" && path.is_file() {
        (image::mount_dir(sim, sid, volname), Some(path.clone()))
    } else {
        (path.clone(), None)
    };
    Ok(Resolved {
        storage,
        vol,
        data,
        path,
        image,
    })
}

/// `pvesm path <volid>`: the node's answer (`/dev/<vg>/<lv>` for an LV).
pub fn path(sim: &Sim, volid: &str) -> Result<PathBuf, String> {
    resolve(sim, volid).map(|r| r.path)
}

/// The directory (or file) holding `volid`'s content on the simulated node.
pub fn data_path(sim: &Sim, volid: &str) -> Result<PathBuf, String> {
    resolve(sim, volid).map(|r| r.data)
}

/// The file of an OS template volume, as `pct create` checks it (`check_volume_access` with
/// type `vztmpl`, then `activate_volume`).
pub fn template_path(sim: &Sim, volid: &str) -> Result<PathBuf, String> {
    let r = resolve(sim, volid)?;
    if r.vol.vtype != "vztmpl" {
        return Err(format!(
            "unable to use volume {volid} - content type needs to be 'vztmpl'"
        ));
    }
    if !r.path.exists() {
        return Err(format!("volume '{volid}' does not exist"));
    }
    if !r.path.is_file() {
        return Err(format!("can't find file '{volid}'"));
    }
    Ok(r.path)
}

/// `get_next_vm_diskname`: the first free `<prefix>-<vmid>-disk-<n><suffix>` (numbers are
/// shared with `vm-`/`base-`/`subvol-` images of the same guest).
fn next_disk_name(
    imagedir: &Path,
    vmid: u32,
    prefix: &str,
    suffix: &str,
    sid: &str,
) -> Result<String, String> {
    let used: Vec<u32> = fs::read_dir(imagedir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = ["vm-", "base-", "subvol-", "basevol-"]
                .iter()
                .find_map(|p| name.strip_prefix(p))?
                .strip_prefix(&format!("{vmid}-disk-"))?
                .to_string();
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    (0..1024)
        .find(|n| !used.contains(n))
        .map(|n| format!("{prefix}-{vmid}-disk-{n}{suffix}"))
        .ok_or_else(|| format!("unable to allocate an image name for VM {vmid} in storage '{sid}'"))
}

/// Allocates a CT volume for CT `vmid` on storage `sid` and returns its volume ID: a directory
/// ("subvol") on a dir storage, an LV `vm-<vmid>-disk-<n>` (a directory underneath) on an
/// lvmthin one. The storage must allow `rootdir` content (checked by the caller, whose
/// message differs between create and set).
pub fn alloc_volume(sim: &Sim, sid: &str, vmid: u32) -> Result<String, String> {
    let st = storage_config(sim, sid)?;
    activate(&st)?;
    if st.kind == "lvmthin" {
        let pool = lvm_backing(&st)?;
        let name = next_disk_name(pool, vmid, "vm", "", sid)?;
        let path = pool.join(&name);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(|e| {
                format!(
                    "lvcreate '{}/{name}' error: {e}",
                    st.vgname.as_deref().unwrap_or("")
                )
            })?;
        return Ok(format!("{sid}:{name}"));
    }
    let imagedir = subdir(&st, "images")?.join(vmid.to_string());
    fs::create_dir_all(&imagedir)
        .map_err(|e| format!("unable to create '{}' - {e}", imagedir.display()))?;
    let name = next_disk_name(&imagedir, vmid, "subvol", ".subvol", sid)?;
    let path = imagedir.join(&name);
    if path.exists() {
        return Err(format!("disk image '{}' already exists", path.display()));
    }
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&path)
        .map_err(|e| format!("unable to create subvol '{}' - {e}", path.display()))?;
    Ok(format!("{sid}:{vmid}/{name}"))
}

/// Allocates a sized mount point volume of `bytes` for CT `vmid` on storage `sid`: an LV
/// `vm-<vmid>-disk-<n>` on lvmthin, `<vmid>/vm-<vmid>-disk-<n>.raw` on a dir storage, either an
/// ext4 image whose root belongs to `owner` (see `image`). Returns its volume ID.
pub fn alloc_image(
    sim: &Sim,
    sid: &str,
    vmid: u32,
    bytes: u64,
    owner: u32,
) -> Result<String, String> {
    let st = storage_config(sim, sid)?;
    activate(&st)?;
    if st.kind == "lvmthin" {
        let pool = lvm_backing(&st)?;
        let name = next_disk_name(pool, vmid, "vm", "", sid)?;
        image::make(&pool.join(&name), bytes, owner).map_err(|e| {
            format!(
                "lvcreate '{}/{name}' error: {e}",
                st.vgname.as_deref().unwrap_or("")
            )
        })?;
        return Ok(format!("{sid}:{name}"));
    }
    let imagedir = subdir(&st, "images")?.join(vmid.to_string());
    fs::create_dir_all(&imagedir)
        .map_err(|e| format!("unable to create '{}' - {e}", imagedir.display()))?;
    let name = next_disk_name(&imagedir, vmid, "vm", ".raw", sid)?;
    image::make(&imagedir.join(&name), bytes, owner)?;
    Ok(format!("{sid}:{vmid}/{name}"))
}

/// `activate_volume` as the prestart hook needs it: an image volume is mounted on its `data`
/// directory; a directory volume needs nothing.
pub fn mount_volume(sim: &Sim, volid: &str) -> Result<(), String> {
    let r = resolve(sim, volid)?;
    match &r.image {
        Some(img) => image::mount(img, &r.data),
        None => Ok(()),
    }
}

/// Unmounts an image volume (nothing for a directory volume or one not mounted).
pub fn umount_volume(sim: &Sim, volid: &str) {
    if let Ok(r) = resolve(sim, volid) {
        if r.image.is_some() {
            image::umount(&r.data);
        }
    }
}

/// `rename_volume` to another guest (pve-storage: `LvmThinPlugin::rename_volume`'s `lvrename`,
/// `Plugin::rename_volume`'s rename into `images/<target>/`): the volume gets the first free
/// disk name of `target` on its storage and keeps its content. Returns the new volume ID.
pub fn rename_volume(sim: &Sim, volid: &str, target: u32) -> Result<String, String> {
    let r = resolve(sim, volid)?;
    let (sid, _) = parse_volume_id(volid)?;
    if r.image.is_some() {
        image::umount(&r.data);
    }
    if r.storage.kind == "lvmthin" {
        let pool = lvm_backing(&r.storage)?;
        let name = next_disk_name(pool, target, "vm", "", sid)?;
        fs::rename(pool.join(&r.vol.name), pool.join(&name)).map_err(|e| {
            format!(
                "lvrename '{}/{}' error: {e}",
                r.storage.vgname.as_deref().unwrap_or(""),
                r.vol.name
            )
        })?;
        return Ok(format!("{sid}:{name}"));
    }
    let imagedir = subdir(&r.storage, "images")?.join(target.to_string());
    fs::create_dir_all(&imagedir)
        .map_err(|e| format!("unable to create '{}' - {e}", imagedir.display()))?;
    let (prefix, suffix) = if r.vol.format == "subvol" {
        ("subvol", ".subvol".to_string())
    } else {
        ("vm", format!(".{}", r.vol.format))
    };
    let name = next_disk_name(&imagedir, target, prefix, &suffix, sid)?;
    fs::rename(&r.path, imagedir.join(&name))
        .map_err(|e| format!("rename '{}' failed - {e}", r.path.display()))?;
    if let Some(dir) = r.path.parent() {
        let _ = fs::remove_dir(dir);
    }
    Ok(format!("{sid}:{target}/{name}"))
}

/// `vdisk_free`: removes a volume. `Ok(Some(w))` is a warning Proxmox prints and goes on with
/// (the file was already gone).
pub fn free(sim: &Sim, volid: &str) -> Result<Option<String>, String> {
    let r = resolve(sim, volid)?;
    activate(&r.storage)?;
    if r.image.is_some() {
        image::umount(&r.data);
    }
    if let Some(lv) = r.image.as_ref().filter(|_| r.storage.kind == "lvmthin") {
        return fs::remove_file(lv)
            .map(|()| None)
            .map_err(|e| format!("lvremove '{}' error: {e}", r.path.display()));
    }
    if r.storage.kind == "lvmthin" {
        // `lvremove` of an LV that is gone is not an error for LvmThinPlugin's free_image.
        return match fs::remove_dir_all(&r.data) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("lvremove '{}' error: {e}", r.path.display()))
            }
            _ => Ok(None),
        };
    }
    if r.vol.format == "subvol" {
        if let Err(e) = fs::remove_dir_all(&r.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(format!("unable to remove '{}' - {e}", r.path.display()));
            }
        }
    } else {
        match fs::symlink_metadata(&r.path) {
            Ok(md) if md.is_file() || md.file_type().is_symlink() => fs::remove_file(&r.path)
                .map_err(|e| format!("unlink '{}' failed - {e}", r.path.display()))?,
            _ => {
                return Ok(Some(format!(
                    "disk image '{}' does not exist",
                    r.path.display()
                )))
            }
        }
    }
    // Like Proxmox, drop the guest's image directory once its last volume is gone. (Proxmox
    // also tries this for template/cache; the sim keeps content directories in place.)
    if r.vol.vtype == "images" {
        if let Some(dir) = r.path.parent() {
            let _ = fs::remove_dir(dir);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        assert_eq!(
            parse_volume_id("local:vztmpl/a.tar"),
            Ok(("local", "vztmpl/a.tar"))
        );
        assert_eq!(
            parse_volume_id("x"),
            Err("unable to parse volume ID 'x'".to_string())
        );
        assert!(parse_volume_id("1a:foo").is_err());
    }

    #[test]
    fn volume_names() {
        let v = parse_volname("100/subvol-100-disk-0.subvol").unwrap();
        assert_eq!(
            (v.vtype, v.vmid, v.format.as_str()),
            ("images", Some(100), "subvol")
        );
        let v = parse_volname("vztmpl/debian.tar.zst").unwrap();
        assert_eq!((v.vtype, v.format.as_str()), ("vztmpl", "tzst"));
        assert_eq!(parse_volname("vztmpl/x.tar").unwrap().format, "ttar");
        assert_eq!(
            parse_volname("vztmpl/x.tgz"),
            Err("unable to parse directory volume name 'vztmpl/x.tgz'".into())
        );
        assert_eq!(
            parse_volname("subvol-100-disk-0"),
            Err("unable to parse directory volume name 'subvol-100-disk-0'".into())
        );
        assert_eq!(
            parse_volname("100/disk"),
            Err("unable to parse volume filename 'disk'".into())
        );
        let v = parse_lvm_volname("vm-100-disk-0").unwrap();
        assert_eq!(
            (v.vtype, v.vmid, v.format.as_str()),
            ("images", Some(100), "raw")
        );
        assert_eq!(
            parse_lvm_volname("vztmpl/x.tar"),
            Err("lvm name 'vztmpl/x.tar' contains illegal characters".into())
        );
        assert_eq!(
            parse_lvm_volname("subvol-100-disk-0"),
            Err("unable to parse lvm volume name 'subvol-100-disk-0'".into())
        );
        let b = parse_volname("backup/vzdump-lxc-101-2024_01_01-00_00_00.tar.zst").unwrap();
        assert_eq!((b.vmid, b.format.as_str()), (Some(101), "tar.zst"));
    }
}
