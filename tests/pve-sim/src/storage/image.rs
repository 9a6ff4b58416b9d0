//! Sized CT volumes: what Proxmox allocates for a `<storage>:<GiB>` mount point is a block
//! device (a thin LV on lvmthin, a raw file `images/<vmid>/vm-<vmid>-disk-<n>.raw` on a dir
//! storage) formatted ext4 (pve-container src/PVE/LXC.pm `create_disks` → `format_disk` →
//! `mkfs`), mounted by the prestart hook and so limited by its size. The sim keeps each one as
//! a sparse file of that size with an ext4 file system, loop-mounted on a directory under
//! `$PVE_SIM_ROOT/run/pve-sim/volumes/` while the CT runs (`pct start` mounts, the CT's
//! supervisor unmounts when `lxc-start` ends; `pvesm free` and `pct destroy` unmount too), so a
//! write past the size fails with ENOSPC for real. `mount -o loop` sets the loop device to
//! auto-clear, so unmounting releases it.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::sim::Sim;

/// The directory an image volume `<sid>:<volname>` is mounted on.
pub fn mount_dir(sim: &Sim, sid: &str, volname: &str) -> PathBuf {
    sim.root.join("run/pve-sim/volumes").join(sid).join(volname)
}

/// Creates the sparse file `image` of `bytes` with an ext4 file system whose root belongs to
/// `owner` (the CT's root uid/gid on the host).
pub fn make(image: &Path, bytes: u64, owner: u32) -> Result<(), String> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(image)
        .map_err(|e| format!("unable to create image '{}' - {e}", image.display()))?;
    f.set_len(bytes)
        .map_err(|e| format!("unable to allocate image '{}' - {e}", image.display()))?;
    drop(f);
    // pve-container's `mkfs`: `mkfs.ext4 -O mmp -E root_owner=<uid>:<gid> <path>`; MMP is left
    // out here (it only guards shared storage).
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-E"])
        .arg(format!("root_owner={owner}:{owner}"))
        .arg(image)
        .output()
        .map_err(|e| format!("command 'mkfs.ext4' failed: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_file(image);
        return Err(format!(
            "command 'mkfs.ext4 {}' failed: {}",
            image.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Whether something is mounted exactly on `dir` (this mount namespace).
pub fn is_mounted(dir: &Path) -> bool {
    let want = dir.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo").is_ok_and(|t| {
        t.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|m| unescape(m) == want)
    })
}

/// mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Loop-mounts `image` on `dir` unless it is mounted already.
pub fn mount(image: &Path, dir: &Path) -> Result<(), String> {
    if is_mounted(dir) {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| format!("unable to create '{}' - {e}", dir.display()))?;
    let out = Command::new("mount")
        .args(["-t", "ext4", "-o", "loop"])
        .arg(image)
        .arg(dir)
        .output()
        .map_err(|e| format!("command 'mount' failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount '{}' failed: {}",
            image.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Unmounts `dir` if mounted (lazily when busy, so the loop device goes with its last user)
/// and removes the empty mount point.
pub fn umount(dir: &Path) {
    if is_mounted(dir) {
        let ok = Command::new("umount")
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(dir).output();
        }
    }
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\"), "/end\\");
    }
}
