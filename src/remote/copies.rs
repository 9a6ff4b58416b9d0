//! Bind mounts of a CT on another node: the node cannot see this host's files, so they are copied
//! into the CT once it runs (the init's `put` mode, through `pct exec`). Later changes on this
//! host are not seen in the CT; docs/remote.md says so.

use std::path::Path;

use crate::backend::{Backend, BackendError};
use crate::mapping::remote::{INIT_SHIPPED, SECCOMP_SHIPPED};
use crate::pve::Vmid;

/// More than this is not a config file or a secret: refuse rather than copy a data volume.
const MAX_BYTES: u64 = 64 << 20;
const MAX_FILES: usize = 1000;

/// Copy every `(source, destination)` into the running CT.
pub fn ship(
    backend: &dyn Backend,
    vmid: Vmid,
    copies: &[(std::path::PathBuf, String)],
) -> Result<(), BackendError> {
    let mut files = Vec::new();
    for (src, dest) in copies {
        collect(src, dest, &mut files)?;
    }
    let total: u64 = files.iter().map(|(_, _, _, n)| n).sum();
    if files.len() > MAX_FILES || total > MAX_BYTES {
        return Err(BackendError::Other(format!(
            "mounts: {} files, {total} bytes: too much to copy into a CT on another node",
            files.len()
        )));
    }
    for (src, dest, mode, _) in files {
        let data = std::fs::read(&src).map_err(|source| BackendError::Io {
            what: src.display().to_string(),
            source,
        })?;
        let argv = [INIT_SHIPPED, "put", &dest, &format!("{mode:o}")].map(String::from);
        backend.run_in_ct(vmid, &argv, &data)?;
    }
    Ok(())
}

/// The workload's compiled seccomp filter, where the init's `exec --seccomp` reads it.
pub fn ship_filter(
    backend: &dyn Backend,
    vmid: Vmid,
    profile: &oci_spec::runtime::LinuxSeccomp,
) -> Result<(), BackendError> {
    let (prog, _) = crate::seccomp::compile(profile).map_err(BackendError::Other)?;
    let argv = [INIT_SHIPPED, "put", SECCOMP_SHIPPED, "600"].map(String::from);
    backend.run_in_ct(vmid, &argv, &prog).map(drop)
}

/// Regular files under `src` (or `src` itself) with their destinations and modes.
fn collect(
    src: &Path,
    dest: &str,
    out: &mut Vec<(std::path::PathBuf, String, u32, u64)>,
) -> Result<(), BackendError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| BackendError::Io {
        what: src.display().to_string(),
        source,
    };
    let md = std::fs::metadata(src).map_err(io)?;
    if md.is_file() {
        out.push((
            src.to_path_buf(),
            dest.to_string(),
            md.permissions().mode() & 0o7777,
            md.len(),
        ));
    } else if md.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(io)?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            // Kubernetes' atomic-writer keeps `..data` and timestamped dirs beside the links.
            let child = format!("{}/{}", dest.trim_end_matches('/'), name.to_string_lossy());
            collect(&e.path(), &child, out)?;
            if out.len() > MAX_FILES {
                break;
            }
        }
    } else {
        log::warn!("{}: neither file nor directory, not copied", src.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_with_modes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("s/sub")).unwrap();
        std::fs::write(d.path().join("s/b"), "bb").unwrap();
        std::fs::write(d.path().join("s/a"), "a").unwrap();
        std::fs::write(d.path().join("s/sub/c"), "ccc").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.path().join("s/a"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let mut out = Vec::new();
        collect(&d.path().join("s"), "/run/secrets/", &mut out).unwrap();
        let got: Vec<(String, u32, u64)> = out.into_iter().map(|(_, d, m, n)| (d, m, n)).collect();
        assert_eq!(
            got,
            [
                ("/run/secrets/a".to_string(), 0o600, 1),
                ("/run/secrets/b".to_string(), 0o644, 2),
                ("/run/secrets/sub/c".to_string(), 0o644, 3)
            ]
        );
    }
}
