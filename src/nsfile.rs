//! What a namespace file given by path is, checked at `create` as runc does: `/proc/self/ns/mnt`
//! given as an `ipc` namespace must be refused before any CT exists, not fail at `start` (or,
//! worse, join the wrong thing).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `NSFS_MAGIC` (linux/magic.h): the file system of `/proc/<pid>/ns/*` and their bind mounts.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The type in a namespace file's link text, `ipc:[4026531839]` → `ipc`.
pub fn name_of_link(link: &str) -> Option<&str> {
    let (name, rest) = link.split_once(":[")?;
    (rest.ends_with(']') && !name.is_empty()).then_some(name)
}

/// `NS_GET_NSTYPE` (linux/nsfs.h): `_IO(0xb7, 0x3)`, Linux ≥ 4.11.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The namespace type (`mnt`, `ipc`, …) of the file at `path`, or an error saying why it is
/// none. The file is first looked at through an `O_PATH` descriptor and opened only once it is
/// known to be on nsfs: a FIFO or device given as a namespace is never opened (a FIFO would
/// block `create`).
pub fn ns_type(path: &Path) -> Result<String, String> {
    use nix::fcntl::OFlag;
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| e.desc().to_string())?;
    // SAFETY: `open` returned a new descriptor that nothing else owns.
    let at = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = nix::sys::statfs::fstatfs(&at).map_err(|e| e.to_string())?;
    if st.filesystem_type().0 as i64 != NSFS_MAGIC {
        return Err("not a namespace file".into());
    }
    // The same file, now safe to open (a bind mount of one, as `ip netns add` makes, too).
    let proc_fd = format!("/proc/self/fd/{}", at.as_raw_fd());
    let f = std::fs::File::open(&proc_fd).map_err(|e| e.to_string())?;
    // SAFETY: a valid fd and an ioctl without an argument.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if r >= 0 {
        return name_of_flag(r)
            .map(String::from)
            .ok_or_else(|| format!("unknown namespace type {r:#x}"));
    }
    // Kernels before 4.11: the link text of an opened namespace file names its type.
    let link = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|e| e.to_string())?;
    name_of_link(&link.to_string_lossy())
        .map(String::from)
        .ok_or_else(|| "not a namespace file".into())
}

/// `NS_GET_USERNS` (linux/nsfs.h): `_IO(0xb7, 0x1)`, a descriptor of the owning user namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// (device, inode) of the user namespace that owns the namespace at `path` (already checked
/// by `ns_type` at create).
pub fn owner_userns(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let f = std::fs::File::open(path).ok()?;
    // SAFETY: a valid fd and an ioctl without an argument; it returns a new descriptor.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_USERNS as _) };
    if r < 0 {
        return None;
    }
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    let owner = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(r) });
    owner.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// The kernel's short name (`/proc/<pid>/ns/<name>`) for a `CLONE_NEW*` flag.
fn name_of_flag(flag: i32) -> Option<&'static str> {
    Some(match flag {
        libc::CLONE_NEWNS => "mnt",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWNET => "net",
        0x80 => "time", // CLONE_NEWTIME
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_of_flag(libc::CLONE_NEWIPC), Some("ipc"));
        assert_eq!(name_of_flag(1), None);
        assert_eq!(name_of_link("ipc:[4026531839]"), Some("ipc"));
        assert_eq!(name_of_link("/etc/hosts"), None);
        assert_eq!(name_of_link(":[1]"), None);
    }

    #[test]
    fn files_are_told_apart() {
        assert_eq!(ns_type(Path::new("/proc/self/ns/mnt")).unwrap(), "mnt");
        assert_eq!(ns_type(Path::new("/proc/self/ns/ipc")).unwrap(), "ipc");
        assert_eq!(ns_type(Path::new("/proc/self/ns/net")).unwrap(), "net");
        let e = ns_type(Path::new("/etc/hostname")).unwrap_err();
        assert!(e.contains("not a namespace"), "{e}");
        assert!(ns_type(Path::new("/nonexistent")).is_err());
        // A FIFO is refused without being opened (opening it would block).
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(ns_type(&fifo).unwrap_err().contains("not a namespace"));
    }
}
