//! Paths inside the bundle's rootfs, resolved as the container will see them: images often have
//! `/var/run -> /run`, and Kubernetes mounts secrets under `/var/run/secrets/...`. LXC refuses
//! mount targets that pass through symlinks, so destinations are resolved first, inside the
//! rootfs (a link can never lead out of it).

use std::path::{Component, Path, PathBuf};

/// Symlinks followed at most, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// `dest` (absolute, in the container) with every symlink in the rootfs resolved; parts that
/// do not exist yet are kept as they are.
pub fn resolve(rootfs: &Path, dest: &Path) -> PathBuf {
    let mut todo: Vec<std::ffi::OsString> = dest
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut done = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let next = done.join(&part);
        let on_host = rootfs.join(next.strip_prefix("/").unwrap_or(&next));
        match std::fs::read_link(&on_host) {
            Ok(target) if links < MAX_LINKS => {
                links += 1;
                if target.is_absolute() {
                    done = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => todo.push(n.to_os_string()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => done = next,
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_the_rootfs() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("run")).unwrap();
        std::fs::create_dir_all(r.join("var")).unwrap();
        std::os::unix::fs::symlink("../run", r.join("var/run")).unwrap();
        std::os::unix::fs::symlink("/etc/../../../escape", r.join("up")).unwrap();
        std::os::unix::fs::symlink("loop2", r.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", r.join("loop2")).unwrap();
        let res = |p: &str| resolve(r, Path::new(p));
        assert_eq!(res("/var/run/secrets/x"), PathBuf::from("/run/secrets/x"));
        assert_eq!(res("/etc/hosts"), PathBuf::from("/etc/hosts"));
        assert_eq!(
            res("/up/x"),
            PathBuf::from("/escape/x"),
            "never above the rootfs"
        );
        assert_eq!(res("/a/../b"), PathBuf::from("/b"));
        let looped = res("/loop1/x");
        assert!(
            looped.ends_with("x"),
            "a loop ends after the link limit: {looped:?}"
        );
    }
}
