//! Files: exclusive locks and atomic replacement.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Exclusive flock on `file`; `nonblock` fails with EWOULDBLOCK instead of waiting.
pub fn flock(file: &File, nonblock: bool) -> std::io::Result<()> {
    let op = libc::LOCK_EX | if nonblock { libc::LOCK_NB } else { 0 };
    loop {
        // SAFETY: flock on the descriptor `file` keeps open for the call.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Write `data` to a temp file beside `path` and rename it over `path`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{p}: {e}"))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(data).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}
