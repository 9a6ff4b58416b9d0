//! Appending to the audit file: each line is one `write(2)` on an `O_APPEND` descriptor, under
//! an exclusive flock on `<path>.lock` that also guards the size rotation
//! (`audit.jsonl` -> `audit.jsonl.1` ... `.keep`), so concurrent runtimes neither interleave
//! nor lose lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::AuditConfig;
use crate::sys::fs::flock;

const MODE: u32 = 0o640;

pub fn append(cfg: &AuditConfig, line: &[u8]) -> std::io::Result<()> {
    let path = &cfg.path;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)?;
    }
    let lock = open(&suffixed(path, "lock"), false)?;
    flock(&lock, false)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if cfg.max_size > 0 && size > 0 && size + line.len() as u64 > cfg.max_size {
        rotate(path, cfg.keep)?;
    }
    let mut f = open(path, true)?;
    // One write: O_APPEND places it whole at the end.
    let n = f.write(line)?;
    if n != line.len() {
        return Err(std::io::Error::other(format!(
            "short write ({n} of {} bytes)",
            line.len()
        )));
    }
    Ok(())
}

fn open(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(append)
        .write(!append)
        .mode(MODE)
        .open(path)
}

/// `path.keep` goes, each `path.i` becomes `path.(i+1)`, `path` becomes `path.1`; with `keep`
/// 0 the full file is dropped.
fn rotate(path: &Path, keep: u32) -> std::io::Result<()> {
    if keep == 0 {
        return ignore_missing(std::fs::remove_file(path));
    }
    ignore_missing(std::fs::remove_file(suffixed(path, &keep.to_string())))?;
    for i in (1..keep).rev() {
        ignore_missing(std::fs::rename(
            suffixed(path, &i.to_string()),
            suffixed(path, &(i + 1).to_string()),
        ))?;
    }
    ignore_missing(std::fs::rename(path, suffixed(path, "1")))
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".");
    s.push(suffix);
    s.into()
}

fn ignore_missing(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AuditConfig {
            path: dir.path().join("a/audit.jsonl"),
            max_size: 25,
            keep: 2,
        };
        for i in 0..5 {
            append(&cfg, format!("line {i} 0123456789\n").as_bytes()).unwrap();
        }
        let read = |s: &str| std::fs::read_to_string(suffixed(&cfg.path, s)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&cfg.path).unwrap(),
            "line 4 0123456789\n"
        );
        assert_eq!(read("1"), "line 3 0123456789\n");
        assert_eq!(read("2"), "line 2 0123456789\n");
        assert!(!suffixed(&cfg.path, "3").exists());
    }
}
