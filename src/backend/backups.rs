//! Backups of CTs: what `vzdump` leaves on a storage and how its output names the archive.
//! Archives are `vzdump-lxc-<vmid>-<YYYY_MM_DD-HH_MM_SS>.tar.zst` in the storage's `backup`
//! content (pve-manager PVE/VZDump.pm, pve-storage src/PVE/Storage/Plugin.pm
//! `get_subdir_files`).

use super::BackendError;
use crate::pve::Vmid;

/// A backup archive on a node's storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// `local:backup/vzdump-lxc-100001-2026_12_02-07_00_00.tar.zst`
    pub volid: String,
    pub vmid: u32,
    pub size: u64,
    /// The time in the name, `YYYY_MM_DD-HH_MM_SS`, which sorts like the time itself.
    pub time: String,
}

/// The modes `vzdump --mode` takes.
pub const MODES: &[&str] = &["snapshot", "suspend", "stop"];

/// The CT and time of a CT backup's name (`vzdump-lxc-<vmid>-<time>.<ext>`), `None` for
/// anything else (VM backups, logs, notes).
pub fn parse_name(name: &str) -> Option<(u32, String)> {
    let rest = name.strip_prefix("vzdump-lxc-")?;
    let (vmid, rest) = rest.split_once('-')?;
    let time = rest.get(..19)?;
    let ext = rest.get(19..)?;
    let ok_ext = [".tar", ".tar.gz", ".tar.zst", ".tar.lzo", ".tgz"].contains(&ext);
    (ok_ext && time.as_bytes()[10] == b'-')
        .then(|| (vmid.parse().ok(), time.to_string()))?
        .0
        .map(|v| (v, time.to_string()))
}

/// A backup entry from a volid and size; `None` when the volid is no CT backup.
pub fn from_volid(volid: &str, size: u64) -> Option<Backup> {
    let name = volid.split_once(":backup/")?.1;
    let (vmid, time) = parse_name(name)?;
    Some(Backup {
        volid: volid.to_string(),
        vmid,
        size,
        time,
    })
}

/// The archive's volid on `storage` from vzdump's log (`INFO: creating vzdump archive
/// '<dumpdir>/<name>'`).
pub fn archive_from_log<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    storage: &str,
) -> Option<String> {
    lines.into_iter().find_map(|l| {
        let path = l
            .trim()
            .strip_prefix("INFO: creating vzdump archive '")?
            .strip_suffix('\'')?;
        let name = path.rsplit('/').next()?;
        Some(format!("{storage}:backup/{name}"))
    })
}

/// `pvesm list <storage> --content backup` rows (`Volid Format Type Size VMID`) that are CT
/// backups.
pub fn parse_pvesm_list(text: &str) -> Vec<Backup> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let volid = f.next()?;
            let size = f.nth(2)?.parse().ok()?;
            from_volid(volid, size)
        })
        .collect()
}

/// The storage of a volid (`<storage>:<name>`).
pub fn storage_of(volid: &str) -> Option<&str> {
    volid
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
}

/// The volids of `list` that `--keep-last n` removes: per CT all but its `n` newest.
pub fn prune(list: &[Backup], keep_last: usize) -> Vec<&Backup> {
    let mut sorted: Vec<&Backup> = list.iter().collect();
    sorted.sort_by(|a, b| a.vmid.cmp(&b.vmid).then(b.time.cmp(&a.time)));
    let mut out = Vec::new();
    let mut seen = 0;
    let mut last = None;
    for b in sorted {
        if last != Some(b.vmid) {
            last = Some(b.vmid);
            seen = 0;
        }
        seen += 1;
        if seen > keep_last {
            out.push(b);
        }
    }
    out
}

/// Backup on a backend that cannot: the `pct` backend's rootfs is the bundle's directory
/// (bound into the CT), which its caller owns.
pub(crate) fn refused(vmid: Option<Vmid>) -> BackendError {
    let what = vmid.map_or_else(String::new, |v| format!("CT {v}: "));
    BackendError::Other(format!(
        "{what}backup and restore need the ssh or api backend (the pct backend's rootfs is the bundle's directory)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_name("vzdump-lxc-100001-2026_12_02-07_00_00.tar.zst"),
            Some((100001, "2026_12_02-07_00_00".into()))
        );
        assert_eq!(
            parse_name("vzdump-lxc-100001-2026_12_02-07_00_00.log"),
            None
        );
        assert_eq!(
            parse_name("vzdump-qemu-100-2026_12_02-07_00_00.vma.zst"),
            None
        );
        assert_eq!(parse_name("vzdump-lxc-x-2026_12_02-07_00_00.tar"), None);
    }

    #[test]
    fn archive_line() {
        let log = [
            "INFO: backup mode: stop",
            "INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-101-2026_12_02-07_00_00.tar.zst'",
        ];
        assert_eq!(
            archive_from_log(log, "local").as_deref(),
            Some("local:backup/vzdump-lxc-101-2026_12_02-07_00_00.tar.zst")
        );
    }

    #[test]
    fn pvesm_rows() {
        let text = "Volid Format  Type Size VMID\n\
            local:backup/vzdump-lxc-101-2026_12_02-07_00_00.tar.zst tar.zst backup 1234 101\n\
            local:backup/vzdump-qemu-102-2026_12_02-07_00_00.vma.zst vma.zst backup 99 102\n";
        let l = parse_pvesm_list(text);
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].vmid, l[0].size), (101, 1234));
    }

    #[test]
    fn keep_last_per_ct() {
        let b = |v: u32, t: &str| Backup {
            volid: format!("local:backup/vzdump-lxc-{v}-{t}.tar.zst"),
            vmid: v,
            size: 0,
            time: t.into(),
        };
        let list = [
            b(1, "2026_01_01-00_00_00"),
            b(1, "2026_01_03-00_00_00"),
            b(1, "2026_01_02-00_00_00"),
            b(2, "2026_01_01-00_00_00"),
        ];
        let gone: Vec<&str> = prune(&list, 1).iter().map(|b| b.time.as_str()).collect();
        assert_eq!(gone, ["2026_01_02-00_00_00", "2026_01_01-00_00_00"]);
        assert_eq!(prune(&list, 0).len(), 4);
    }
}
