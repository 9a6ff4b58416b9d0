//! The one way into a CT's namespaces, for the workload (`nsenter::launch`), the shim's pod
//! namespaces and the container hooks (`hooks.rs`): open every namespace file first — after
//! joining the mount namespace the host's `/proc` is gone — then `setns` in [`ORDER`] (user last,
//! so everything else is entered while the host's capabilities still apply), skipping the ones
//! that are already ours, then [`fork`]: a `setns` into a pid namespace applies to children only.
//!
//! [`Namespace::join`] and [`fork`] make raw syscalls on memory prepared beforehand and never
//! allocate, so they also serve in the child of a multi-threaded fork (a `pre_exec` closure).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use super::{ns_file, ORDER};

/// A namespace file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("open {}: {source}", path.display())]
pub struct OpenError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// One namespace of the CT, opened.
#[derive(Debug)]
pub struct Namespace {
    /// The name in [`ORDER`] (`net`, `mnt`, ...).
    pub name: &'static str,
    pub flag: CloneFlags,
    /// The file it was opened from.
    pub path: PathBuf,
    /// None when it is ours already (a privileged CT's user namespace, a shared cgroup one):
    /// `setns` into our own user namespace fails, and there is nothing to join anyway.
    fd: Option<OwnedFd>,
}

impl Namespace {
    /// `setns` into it; nothing when it is ours already.
    pub fn join(&self) -> Result<(), Errno> {
        match &self.fd {
            Some(fd) => nix::sched::setns(fd, self.flag),
            None => Ok(()),
        }
    }

    /// Whether [`join`](Self::join) enters a namespace we are not in yet.
    pub fn is_new(&self) -> bool {
        self.fd.is_some()
    }
}

/// The namespaces to enter, in [`ORDER`].
#[derive(Debug)]
pub struct Namespaces(Vec<Namespace>);

impl Namespaces {
    /// Every namespace in [`ORDER`]: the file config.json names in `paths`, else that of `pid`
    /// (the CT's init).
    pub fn open(pid: i32, paths: &BTreeMap<String, PathBuf>) -> Result<Namespaces, OpenError> {
        Self::open_some(pid, paths, |_| true)
    }

    /// The namespaces in [`ORDER`] that `wanted` picks by name.
    pub fn open_some(
        pid: i32,
        paths: &BTreeMap<String, PathBuf>,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Namespaces, OpenError> {
        let mut out = Vec::new();
        for (name, flag) in ORDER.into_iter().filter(|(name, _)| wanted(name)) {
            let path = ns_file(paths, pid, name);
            let file = File::open(&path).map_err(|source| OpenError {
                path: path.clone(),
                source,
            })?;
            let fd = (!is_ours(&file, name)).then(|| OwnedFd::from(file));
            out.push(Namespace {
                name,
                flag,
                path,
                fd,
            });
        }
        Ok(Namespaces(out))
    }

    /// In [`ORDER`]; the position is the index among those opened (all of `ORDER` for
    /// [`open`](Self::open)).
    pub fn iter(&self) -> std::slice::Iter<'_, Namespace> {
        self.0.iter()
    }
}

/// Whether `file` is the namespace of that kind we are in.
fn is_ours(file: &File, name: &str) -> bool {
    match (
        file.metadata(),
        std::fs::metadata(format!("/proc/self/ns/{name}")),
    ) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// Fork after joining, so that the child is a member of the joined pid namespace. With
/// `sibling` the child is made our parent's (`CLONE_PARENT`), so that whoever waits for us can
/// wait for it. Returns the child's pid in the parent and 0 in the child, like `fork`. A raw
/// `clone`: no allocation and no `pthread_atfork` handlers.
pub fn fork(sibling: bool) -> Result<libc::pid_t, Errno> {
    let flags = if sibling {
        libc::CLONE_PARENT | libc::SIGCHLD
    } else {
        libc::SIGCHLD
    };
    // SAFETY: clone without CLONE_VM and a null stack behaves like fork: the child gets a copy
    // of our memory and continues here. Callers are single-threaded or in a forked child.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    Errno::result(pid).map(|p| p as libc::pid_t)
}
