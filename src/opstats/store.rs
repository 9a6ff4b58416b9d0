//! The state root's file of operation counts: every process merges its own into it when it
//! ends, under an exclusive flock of a lock file beside it, and replaces it atomically, so
//! that a reader needs no lock and concurrent writers lose nothing. It lives on the state
//! root's tmpfs: a reboot resets it, which Prometheus takes as a counter reset.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::Tally;

/// The file under the state root and its lock (reserved: never a container ID).
pub const FILE: &str = ".opstats.json";
pub const LOCK: &str = ".opstats.lock";

/// The counts in `root`'s file; none when it is missing, an unreadable one is a warning.
pub fn load(root: &Path) -> Tally {
    let path = root.join(FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            log::warn!("{}: {e}; counting again from zero", path.display());
            Tally::default()
        }),
        Err(_) => Tally::default(),
    }
}

/// Add `tally` to `root`'s file: read, add and replace it under the lock.
pub fn merge_into(root: &Path, tally: &Tally) -> std::io::Result<()> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(root.join(LOCK))?;
    crate::sys::fs::flock(&lock, false)?;
    let mut all = load(root);
    all.add(tally);
    let json = serde_json::to_vec(&all).map_err(std::io::Error::other)?;
    // Readable by an exporter that does not run as root; it holds no secret.
    crate::sys::fs::write_atomic(&root.join(FILE), &json, 0o644)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::opstats::{Reason, Timed};

    fn one(op: &str, failure: Option<Reason>) -> Tally {
        let mut t = Tally::default();
        let mut timed = Timed::default();
        timed.observe(Duration::from_millis(2), failure, true);
        t.operations.insert(op.into(), timed);
        t
    }

    #[test]
    fn concurrent_merges_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..25 {
                        merge_into(d.path(), &one("state", None)).unwrap();
                    }
                });
            }
        });
        merge_into(d.path(), &one("kill", Some(Reason::NotFound))).unwrap();
        let t = load(d.path());
        assert_eq!(t.operations["state"].ok, 200);
        assert_eq!(t.operations["kill"].reasons["not_found"], 1);
    }

    #[test]
    fn a_damaged_file_counts_again_from_zero() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(FILE), b"{\"operations\": ").unwrap();
        merge_into(d.path(), &one("start", None)).unwrap();
        assert_eq!(load(d.path()).operations["start"].ok, 1);
    }
}
