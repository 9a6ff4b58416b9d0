//! Extended attributes of a path itself (never a symlink's target), and which of them a CT
//! template carries.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether a CT template keeps xattr `name`: Proxmox extracts templates with GNU tar's
/// `--xattrs --xattrs-include=user.* --xattrs-include=security.capability`
/// (`COMMON_TAR_FLAGS` in pve-storage src/PVE/Storage/Plugin.pm, used by
/// `restore_tar_archive` in pve-container src/PVE/LXC/Create.pm), so anything else is dropped
/// there anyway.
pub fn template_keeps(name: &[u8]) -> bool {
    name.starts_with(b"user.") || name == b"security.capability"
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// Retry a size query + fetch pair while the value grows between the two calls (ERANGE).
fn sized(mut call: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let n = call(std::ptr::null_mut(), 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; n as usize];
        let got = call(buf.as_mut_ptr().cast(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

/// The xattrs of `path` (`llistxattr` + `lgetxattr`), sorted by name. A file system without
/// xattr support has none.
pub fn list(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let p = cpath(path)?;
    // SAFETY: `p` is NUL-terminated; the buffer pointer and length come from `sized`.
    let names = match sized(|buf, len| unsafe { libc::llistxattr(p.as_ptr(), buf.cast(), len) }) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let n = CString::new(name).map_err(|_| io::ErrorKind::InvalidData)?;
        // SAFETY: as above; `n` is NUL-terminated.
        let value =
            match sized(|buf, len| unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf, len) }) {
                Ok(v) => v,
                // Removed between the list and the read.
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
                Err(e) => return Err(e),
            };
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}

/// Set xattr `name` of `path` itself to `value` (`lsetxattr`).
pub fn set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = CString::new(name.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: both strings are NUL-terminated; `value` is valid for its length.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
