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

/// Where LXC mounts its own file systems before any mount entry (`/proc`, `/sys`, the `/dev`
/// tmpfs): what the image has there is never opened.
fn covered_by_lxc(dest: &Path) -> bool {
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|top| dest.starts_with(top))
}

/// The kind of special file at `dest` (absolute, in the container) in the rootfs: `fifo`,
/// `socket`, `character device` or `block device`; `None` for anything else or nothing. The path
/// is resolved inside the rootfs first and the file is looked at through an `O_PATH|O_NOFOLLOW`
/// descriptor: opening a FIFO for reading would block until a writer comes.
pub fn special_file(rootfs: &Path, dest: &Path) -> Option<&'static str> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let inside = resolve(rootfs, dest);
    let on_host = rootfs.join(inside.strip_prefix("/").unwrap_or(&inside));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(on_host)
        .ok()?;
    let t = f.metadata().ok()?.file_type();
    [
        (t.is_fifo(), "fifo"),
        (t.is_socket(), "socket"),
        (t.is_char_device(), "character device"),
        (t.is_block_device(), "block device"),
    ]
    .into_iter()
    .find_map(|(is, kind)| is.then_some(kind))
}

/// Refuse a FIFO, socket or device node in the rootfs at a masked or read-only path or at a mount
/// destination: LXC opens mount targets, and such a file blocks it (a FIFO at a masked path
/// used to hang `pct start` until its timeout) or is not what the mount expects. One line naming
/// the config.json field; paths LXC mounts over itself are not looked at.
pub fn refuse_special_files(spec: &oci_spec::runtime::Spec, rootfs: &Path) -> Result<(), String> {
    let linux = spec.linux().as_ref();
    let list = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
    let masked = list(linux.and_then(|l| l.masked_paths().as_ref()));
    let readonly = list(linux.and_then(|l| l.readonly_paths().as_ref()));
    let dests: Vec<String> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    let fields = masked
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("linux.maskedPaths[{i}]"), p))
        .chain(
            readonly
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("linux.readonlyPaths[{i}]"), p)),
        )
        .chain(
            dests
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("mounts[{i}].destination"), p)),
        );
    for (field, p) in fields {
        let dest = Path::new("/").join(p);
        if covered_by_lxc(&resolve(rootfs, &dest)) {
            continue;
        }
        if let Some(kind) = special_file(rootfs, &dest) {
            return Err(format!(
                "{field}: {p} is a {kind} in the rootfs {}; LXC cannot mount over it",
                rootfs.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_seen_without_opening_them() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        nix::unistd::mkfifo(
            &r.join("etc/fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(r.join("sock")).unwrap();
        std::fs::write(r.join("etc/file"), "").unwrap();
        std::os::unix::fs::symlink("/etc/fifo", r.join("link")).unwrap();
        let kind = |p: &str| special_file(r, Path::new(p));
        // Returns at once: a FIFO opened for reading would block here.
        assert_eq!(kind("/etc/fifo"), Some("fifo"));
        assert_eq!(kind("/link"), Some("fifo"), "resolved inside the rootfs");
        assert_eq!(kind("/sock"), Some("socket"));
        assert_eq!(kind("/etc/file"), None);
        assert_eq!(kind("/etc"), None);
        assert_eq!(kind("/missing"), None);

        let spec = |json: &str| -> oci_spec::runtime::Spec {
            let mut v: serde_json::Value = serde_json::from_str(
                r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {}}"#,
            )
            .unwrap();
            let patch: serde_json::Value = serde_json::from_str(json).unwrap();
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            serde_json::from_value(v).unwrap()
        };
        let e = refuse_special_files(
            &spec(r#"{"linux": {"maskedPaths": ["/proc/kcore", "/etc/fifo"]}}"#),
            r,
        )
        .unwrap_err();
        assert!(
            e.starts_with("linux.maskedPaths[1]: /etc/fifo is a fifo in the rootfs"),
            "{e}"
        );
        let e = refuse_special_files(&spec(r#"{"linux": {"readonlyPaths": ["/link"]}}"#), r)
            .unwrap_err();
        assert!(
            e.starts_with("linux.readonlyPaths[0]: /link is a fifo"),
            "{e}"
        );
        let e = refuse_special_files(
            &spec(r#"{"mounts": [{"destination": "/sock", "type": "tmpfs"}]}"#),
            r,
        )
        .unwrap_err();
        assert!(
            e.starts_with("mounts[0].destination: /sock is a socket"),
            "{e}"
        );
        // What LXC mounts over is not looked at; plain files are fine.
        std::fs::create_dir_all(r.join("proc")).unwrap();
        nix::unistd::mkfifo(
            &r.join("proc/kcore"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let ok = spec(
            r#"{"linux": {"maskedPaths": ["/proc/kcore", "/etc/file"]}, "mounts": [{"destination": "/etc", "type": "tmpfs"}]}"#,
        );
        assert_eq!(refuse_special_files(&ok, r), Ok(()));
    }

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
