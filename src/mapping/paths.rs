//! Lexical path handling (no filesystem access).

use std::path::{Component, Path, PathBuf};

/// `p` joined to `base` if relative, with `.`, `..` and repeated slashes resolved lexically.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// A mount destination inside the CT: absolute (a relative one is taken from `/`, as runc does),
/// `.` and repeated slashes dropped. `..` is refused: it could leave the rootfs.
pub fn ct_path(p: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return Err("path must not contain '..'"),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// `p` without its leading `/` (LXC mount targets are relative to the rootfs).
pub fn rel(p: &Path) -> String {
    p.to_string_lossy().trim_start_matches('/').to_string()
}

/// Whether `p` is `dir` or below it.
pub fn is_under(p: &Path, dir: &Path) -> bool {
    p.starts_with(dir)
}

/// Whether the path has `.` or `..` components or repeated/trailing slashes (Proxmox refuses
/// those in mount-point strings).
pub fn is_clean(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains("//")
        && (p == "/" || !p.ends_with('/'))
        && !p.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_is_lexical() {
        assert_eq!(
            resolve(Path::new("/b"), Path::new("rootfs")),
            Path::new("/b/rootfs")
        );
        assert_eq!(
            resolve(Path::new("/b/x"), Path::new("../r/./fs/")),
            Path::new("/b/r/fs")
        );
        assert_eq!(
            resolve(Path::new("/b"), Path::new("/abs//p")),
            Path::new("/abs/p")
        );
    }

    #[test]
    fn ct_paths() {
        assert_eq!(
            ct_path(Path::new("/etc//./hosts")).unwrap(),
            Path::new("/etc/hosts")
        );
        assert_eq!(ct_path(Path::new("data")).unwrap(), Path::new("/data"));
        assert!(ct_path(Path::new("/a/../../etc")).is_err());
        assert_eq!(rel(Path::new("/etc/hosts")), "etc/hosts");
        assert!(is_clean("/a/b"));
        assert!(!is_clean("/a/./b"));
        assert!(!is_clean("/a/"));
    }
}
