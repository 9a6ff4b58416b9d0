//! Storage content and usage: `volume_list` / `pvesm list` and `storage_info` / `pvesm status`,
//! with pvesm's table formats (`$print_content`, `$print_status` in pve-storage's pvesm.pm).

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::MetadataExt;

use super::{activate, load, parse_lvm_volname, parse_volname, storage_config, subdir, Storage};
use crate::sim::Sim;
use crate::store;

/// One entry of a storage's content (the API's `GET .../storage/{storage}/content` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volid: String,
    /// `subvol`, `raw`, `ttar`, `tzst`, `iso`, `tar.zst`, ...
    pub format: String,
    /// `rootdir`, `images`, `vztmpl`, `iso`, `backup`, `snippets`.
    pub content: String,
    /// Bytes (0 for directory volumes, as Proxmox reports them).
    pub size: u64,
    pub ctime: i64,
    pub vmid: Option<u32>,
}

/// Content types in the order `volume_list` queries them.
const ALL_CONTENT: &[&str] = &[
    "rootdir", "images", "vztmpl", "iso", "backup", "snippets", "import",
];

/// A guest with a CT config owns `rootdir` volumes, anything else `images`.
fn owner_content(sim: &Sim, vmid: u32) -> &'static str {
    if store::owner_node(sim, vmid).is_some() {
        "rootdir"
    } else {
        "images"
    }
}

/// An lvmthin storage's LVs (`LvmThinPlugin::list_images`): raw images; the sim knows the
/// virtual size of an image LV (its file's length) and reports 0 for a directory stand-in.
fn list_lvs(sim: &Sim, st: &Storage, vmid: Option<u32>) -> Vec<Volume> {
    let Some(pool) = st.backing.as_deref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in fs::read_dir(pool).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(vol) = parse_lvm_volname(&name) else {
            continue;
        };
        let (Some(owner), Ok(md)) = (vol.vmid, e.metadata()) else {
            continue;
        };
        if vmid.is_some_and(|v| v != owner) {
            continue;
        }
        out.push(Volume {
            volid: format!("{}:{name}", st.id),
            format: vol.format,
            content: owner_content(sim, owner).into(),
            size: if md.is_file() { md.len() } else { 0 },
            ctime: md.ctime(),
            vmid: Some(owner),
        });
    }
    out
}

/// CT and VM images (`list_images`): `images/<vmid>/<name>.<fmt>`.
fn list_images(sim: &Sim, st: &Storage, vmid: Option<u32>) -> Vec<Volume> {
    if st.kind == "lvmthin" {
        return list_lvs(sim, st, vmid);
    }
    let Ok(dir) = subdir(st, "images") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for owner in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let owner_name = owner.file_name().to_string_lossy().into_owned();
        let Ok(owner_id) = owner_name.parse::<u32>() else {
            continue;
        };
        if owner_name.len() < 2 || vmid.is_some_and(|v| v != owner_id) {
            continue;
        }
        for e in fs::read_dir(owner.path()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(vol) = parse_volname(&format!("{owner_name}/{name}")) else {
                continue;
            };
            let Ok(md) = fs::metadata(e.path()) else {
                continue;
            };
            if md.is_dir() != (vol.format == "subvol") {
                continue;
            }
            let content = owner_content(sim, owner_id);
            out.push(Volume {
                volid: format!("{}:{owner_name}/{name}", st.id),
                format: vol.format,
                content: content.into(),
                size: if md.is_dir() { 0 } else { md.len() },
                ctime: md.ctime(),
                vmid: Some(owner_id),
            });
        }
    }
    out
}

/// Files of one content directory (`get_subdir_files`).
fn list_files(st: &Storage, vtype: &str, vmid: Option<u32>) -> Vec<Volume> {
    let Ok(dir) = subdir(st, vtype) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let Ok(md) = fs::metadata(e.path()) else {
            continue;
        };
        if md.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(vol) = parse_volname(&format!("{vtype}/{name}")) else {
            continue;
        };
        if vtype == "backup" && vmid.is_some_and(|v| !name.contains(&format!("-{v}-"))) {
            continue;
        }
        out.push(Volume {
            volid: format!("{}:{vtype}/{name}", st.id),
            format: vol.format,
            content: vtype.into(),
            size: md.len(),
            ctime: md.ctime(),
            vmid: if vtype == "backup" {
                vmid.or(vol.vmid)
            } else {
                None
            },
        });
    }
    out
}

/// `volume_list`: the content of storage `sid`, optionally only of type `content` and/or of
/// guest `vmid`, sorted by volume ID (case-insensitively) like Proxmox.
pub fn list_content(
    sim: &Sim,
    sid: &str,
    content: Option<&str>,
    vmid: Option<u32>,
) -> Result<Vec<Volume>, String> {
    let st = storage_config(sim, sid)?;
    activate(&st)?;
    let wanted: Vec<&str> = match content {
        Some(c) => vec![c],
        None => ALL_CONTENT.to_vec(),
    };
    let mut out = Vec::new();
    for ct in wanted.into_iter().filter(|c| st.allows(c)) {
        match ct {
            "images" | "rootdir" => out.extend(
                list_images(sim, &st, vmid)
                    .into_iter()
                    .filter(|v| v.content == ct),
            ),
            "vztmpl" | "iso" | "snippets" if vmid.is_none() => {
                out.extend(list_files(&st, ct, None))
            }
            "backup" => out.extend(list_files(&st, ct, vmid)),
            _ => {}
        }
    }
    out.sort_by_key(|v| v.volid.to_lowercase());
    Ok(out)
}

/// `pvesm list`'s table: guests' volumes first (in list order), then the rest by format.
pub fn print_content(list: &[Volume]) -> String {
    let name_w = list.iter().map(|v| v.volid.len()).max().unwrap_or(0);
    let size_w = list
        .iter()
        .map(|v| v.size)
        .max()
        .unwrap_or(0)
        .to_string()
        .len();
    let row =
        |a: &str, b: &str, c: &str, d: &str| format!("{a:<name_w$} {b:<7} {c:<9} {d:>size_w$}");
    let mut s = row("Volid", "Format", "Type", "Size");
    s.push_str(" VMID\n");
    for v in list {
        if let Some(id) = v.vmid {
            let _ = writeln!(
                s,
                "{} {id}",
                row(&v.volid, &v.format, &v.content, &v.size.to_string())
            );
        }
    }
    let mut rest: Vec<&Volume> = list.iter().filter(|v| v.vmid.is_none()).collect();
    rest.sort_by(|a, b| a.format.cmp(&b.format));
    for v in rest {
        let _ = writeln!(
            s,
            "{}",
            row(&v.volid, &v.format, &v.content, &v.size.to_string())
        );
    }
    s
}

/// One storage's state and usage in bytes (`storage_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageStatus {
    pub storage: String,
    pub kind: String,
    pub enabled: bool,
    pub active: bool,
    pub total: u64,
    pub used: u64,
    pub avail: u64,
}

/// Usage of the filesystem holding `path` (`PVE::Tools::df`).
fn df(path: &std::path::Path) -> Option<(u64, u64, u64)> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let frsize = st.fragment_size() as u64;
    let total = st.blocks() as u64 * frsize;
    let free = st.blocks_free() as u64 * frsize;
    let avail = st.blocks_available() as u64 * frsize;
    (total > 0).then_some((total, total - free, avail))
}

/// `storage_info`: every storage (or those allowing `content`), sorted by ID. A storage the
/// sim cannot use, or whose directory is missing, is inactive.
pub fn status(sim: &Sim, content: Option<&str>) -> Result<Vec<StorageStatus>, String> {
    let mut out = Vec::new();
    for st in load(sim)? {
        if content.is_some_and(|c| !st.allows(c)) {
            continue;
        }
        let mut s = StorageStatus {
            storage: st.id.clone(),
            kind: st.kind.clone(),
            enabled: !st.disabled,
            active: false,
            total: 0,
            used: 0,
            avail: 0,
        };
        if s.enabled && activate(&st).is_ok() {
            if let Some((total, used, avail)) =
                st.path.as_deref().or(st.backing.as_deref()).and_then(df)
            {
                (s.active, s.total, s.used, s.avail) = (true, total, used, avail);
            }
        }
        out.push(s);
    }
    out.sort_by(|a, b| a.storage.cmp(&b.storage));
    Ok(out)
}

/// `pvesm status`'s table (sizes in KiB).
pub fn print_status(list: &[StorageStatus]) -> String {
    let w = list.iter().map(|s| s.storage.len()).max().unwrap_or(0) + 1;
    let mut s = format!(
        "{:<w$} {:>10} {:>10} {:>15} {:>15} {:>15} {:>8}\n",
        "Name", "Type", "Status", "Total", "Used", "Available", "%"
    );
    for st in list {
        let (state, pct) = if !st.enabled {
            ("disabled", format!("{:>8}", "N/A"))
        } else {
            let per = if st.total > 0 {
                st.used as f64 * 100.0 / st.total as f64
            } else {
                0.0
            };
            let state = if st.active { "active" } else { "inactive" };
            (state, format!("{per:>7.2}%"))
        };
        let _ = writeln!(
            s,
            "{:<w$} {:>10} {:>10} {:>15} {:>15} {:>15} {pct}",
            st.storage,
            st.kind,
            state,
            st.total / 1024,
            st.used / 1024,
            st.avail / 1024
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(volid: &str, format: &str, content: &str, size: u64, vmid: Option<u32>) -> Volume {
        Volume {
            volid: volid.into(),
            format: format.into(),
            content: content.into(),
            size,
            ctime: 0,
            vmid,
        }
    }

    #[test]
    fn content_table() {
        let list = [
            vol(
                "local:100/subvol-100-disk-0.subvol",
                "subvol",
                "rootdir",
                0,
                Some(100),
            ),
            vol("local:vztmpl/b.tar.zst", "tzst", "vztmpl", 12345, None),
            vol("local:vztmpl/a.tar", "ttar", "vztmpl", 10240, None),
        ];
        assert_eq!(
            print_content(&list),
            "Volid                              Format  Type       Size VMID\n\
             local:100/subvol-100-disk-0.subvol subvol  rootdir       0 100\n\
             local:vztmpl/a.tar                 ttar    vztmpl    10240\n\
             local:vztmpl/b.tar.zst             tzst    vztmpl    12345\n"
        );
        assert_eq!(print_content(&[]), "Volid Format  Type      Size VMID\n");
    }

    #[test]
    fn status_table() {
        let list = [
            StorageStatus {
                storage: "local".into(),
                kind: "dir".into(),
                enabled: true,
                active: true,
                total: 1024 * 1000,
                used: 1024 * 250,
                avail: 1024 * 750,
            },
            StorageStatus {
                storage: "off".into(),
                kind: "dir".into(),
                enabled: false,
                active: false,
                total: 0,
                used: 0,
                avail: 0,
            },
        ];
        assert_eq!(
            print_status(&list),
            "Name         Type     Status           Total            Used       Available        %\n\
             local         dir     active            1000             250             750   25.00%\n\
             off           dir   disabled               0               0               0      N/A\n"
        );
    }
}
