//! `mounts`, `linux.maskedPaths`, `linux.readonlyPaths` -> `mpN` and raw `lxc.mount.entry`.
//!
//! Proxmox mounts `mpN` in its pre-start hook, before LXC mounts `/dev` (autodev tmpfs), `/proc`
//! and `/sys`, and before LXC applies `lxc.mount.entry` lines (in file order, after Proxmox's
//! own). So `mpN` is only used for directory binds that nothing mounted later would cover: not
//! below `/dev`, `/proc`, `/sys`, nor below a mount of an earlier `lxc.mount.entry`. Everything
//! else becomes an `lxc.mount.entry`, in config.json order.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

use super::paths::{ct_path, is_clean, is_under, rel};
use super::text::{fstab_escape, is_plain_option, is_propstr_safe};
use super::{invalid, BindKind, MapError, Mapper};

/// Mounts LXC sets up itself (destination, types): skipped. LXC mounts `/dev` (autodev), `/proc`
/// and `/sys` before any mount entry and the cgroup tree after them.
const PROVIDED: &[(&str, &[&str])] = &[
    ("/proc", &["proc"]),
    ("/sys", &["sysfs"]),
    ("/sys/fs/cgroup", &["cgroup", "cgroup2"]),
    ("/dev", &["tmpfs"]),
];

/// The autodev hook that makes `/dev/ptmx` the symlink runc makes, once LXC makes no devpts of
/// its own (`lxc.pty.max = 0`). LXC runs hooks through `sh -c` with ` <name> lxc autodev`
/// appended (here `$0`, `$1`, `$2`, unused) and `LXC_ROOTFS_MOUNT` set; the node's own `sh` and
/// `ln` are used, nothing of ours.
pub const PTMX_HOOK: &str = "sh -c 'ln -sf pts/ptmx \"$LXC_ROOTFS_MOUNT/dev/ptmx\"'";

/// Options LXC understands on a bind mount (the rest would go to the kernel as data and be
/// ignored for binds).
const BIND_OPTIONS: &[&str] = &[
    "bind",
    "rbind",
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "lazytime",
    "private",
    "rprivate",
    "slave",
    "rslave",
    "shared",
    "rshared",
    "unbindable",
    "runbindable",
];

/// Bind options an `mpN` can carry (`ro=1`, `mountoptions=`); others need an `lxc.mount.entry`.
const MP_OPTIONS: &[&str] = &[
    "bind", "rbind", "defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
    "noatime", "relatime", "private", "rprivate",
];

/// `mountoptions=` values of `mpN` (Proxmox's list minus discard/lazytime, which binds ignore).
const MP_MOUNTOPTIONS: &[&str] = &["noatime", "nodev", "noexec", "nosuid"];

/// Our mount options with a meaning of their own to LXC: refused in config.json.
fn is_lxc_reserved(o: &str) -> bool {
    o == "optional" || o == "relative" || o.starts_with("create=") || o.starts_with("idmap=")
}

/// Why an unprivileged CT's host-path rootfs or mount point cannot show host ids as they are.
pub(super) fn no_idmap(m: &Mapper) -> String {
    format!(
        "pve-container {} has no idmap= mount option (needs {}); the unprivileged CT sees the files' owners shifted (nobody)",
        m.ctx.node.pve_container,
        crate::pve::version::IDMAP_OPTION
    )
}

/// Whether config.json asks for a bind mount (type `bind`, or a `bind`/`rbind` option).
pub fn is_bind(mnt: &Mount) -> bool {
    mnt.typ().as_deref() == Some("bind")
        || mnt
            .options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

/// The host path a bind mount's source names (relative sources are relative to the bundle).
pub fn bind_source(mnt: &Mount, bundle: &Path) -> Option<PathBuf> {
    let src = mnt.source().as_ref()?;
    if src.as_os_str().is_empty() {
        return None;
    }
    Some(if src.is_absolute() {
        src.clone()
    } else {
        bundle.join(src)
    })
}

fn esc(field: &str, s: &str) -> Result<String, MapError> {
    fstab_escape(s).ok_or_else(|| invalid(field, "control characters are not allowed"))
}

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let mut raw_dests: Vec<PathBuf> = Vec::new();
    let mut next_mp = 0;
    for (i, mnt) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = format!("mounts[{i}]");
        let dest =
            ct_path(mnt.destination()).map_err(|e| invalid(format!("{f}.destination"), e))?;
        let dest_s = dest
            .to_str()
            .ok_or_else(|| invalid(format!("{f}.destination"), "not valid UTF-8"))?
            .to_string();
        if dest_s == "/" {
            return Err(invalid(
                format!("{f}.destination"),
                "cannot mount over the root",
            ));
        }
        let typ = mnt.typ().as_deref().unwrap_or("");
        let opts = mnt.options().clone().unwrap_or_default();
        for (j, o) in opts.iter().enumerate() {
            if !is_plain_option(o) {
                return Err(invalid(
                    format!("{f}.options[{j}]"),
                    "an option must not contain ',' or whitespace",
                ));
            }
            if is_lxc_reserved(o) {
                return Err(invalid(
                    format!("{f}.options[{j}]"),
                    format!("{o} is an LXC mount option, not a kernel one"),
                ));
            }
        }

        if is_bind(mnt) {
            if bind(mnt, &f, &dest, &opts, &raw_dests, next_mp, m)? {
                next_mp += 1;
            } else {
                raw_dests.push(dest);
            }
            continue;
        }
        if PROVIDED
            .iter()
            .any(|(d, types)| *d == dest_s && types.contains(&typ))
        {
            continue;
        }
        let target = esc(&format!("{f}.destination"), &rel(&dest))?;
        match typ {
            // LXC mounts its devpts after pivot_root, after every other mount, and binds
            // /dev/ptmx to pts/ptmx. Mounted here instead it keeps its place in config.json's
            // order; `lxc.pty.max = 0` makes LXC mount no devpts and leave /dev/ptmx alone, and
            // the autodev hook links /dev/ptmx as runc does. With no ptys wanted LXC then
            // detaches the topmost mount at /dev/pts (lxc src/lxc/conf.c,
            // `lxc_finish_devpts_child`, LXC 5.0 and 6.0), so the entry is written twice and
            // the upper instance is the one dropped. (A /dev/shm tmpfs is written even where
            // Proxmox mounts one, for the same order and config.json's options, over it.)
            "devpts" if dest_s == "/dev/pts" => {
                let mut o = opts.clone();
                o.push("create=dir".into());
                let entry = format!("devpts {target} devpts {} 0 0", o.join(","));
                m.mount_entries.push(entry.clone());
                m.mount_entries.push(entry);
                raw_dests.push(dest);
                m.mount_keys.push(("lxc.pty.max".into(), "0".into()));
                m.mount_keys
                    .push(("lxc.hook.autodev".into(), PTMX_HOOK.into()));
            }
            "tmpfs" => {
                let mut o = opts.clone();
                o.push("create=dir".into());
                m.mount_entries
                    .push(format!("tmpfs {target} tmpfs {} 0 0", o.join(",")));
                raw_dests.push(dest);
            }
            "mqueue" if dest_s == "/dev/mqueue" => {
                // The mqueue view belongs to the mounter's IPC namespace: with a joined IPC
                // namespace it would show the wrong queues. mq_open(3) works without it.
                if !m.ns.ipc_joined {
                    let mut o = opts.clone();
                    o.extend(["create=dir".into(), "optional".into()]);
                    m.mount_entries
                        .push(format!("mqueue {target} mqueue {} 0 0", o.join(",")));
                    raw_dests.push(dest);
                }
            }
            _ => m.unsupported(
                f,
                format!("a {typ:?} mount at {dest_s} cannot be expressed"),
            )?,
        }
    }
    masked_and_readonly(spec, m)
}

/// One bind mount; `Ok(true)` if it became an `mpN`, `Ok(false)` for an `lxc.mount.entry`.
fn bind(
    mnt: &Mount,
    f: &str,
    dest: &Path,
    opts: &[String],
    raw_dests: &[PathBuf],
    mp_index: usize,
    m: &mut Mapper,
) -> Result<bool, MapError> {
    let src = bind_source(mnt, &m.ctx.bundle)
        .ok_or_else(|| invalid(format!("{f}.source"), "a bind mount needs a source"))?;
    let Some(kind) = m.ctx.bind_kinds.get(&src).copied() else {
        return Err(invalid(
            format!("{f}.source"),
            format!("{} does not exist", src.display()),
        ));
    };
    let src = m.ctx.canonical.get(&src).cloned().unwrap_or(src);
    let src_s = src
        .to_str()
        .ok_or_else(|| invalid(format!("{f}.source"), "not valid UTF-8"))?;
    let dest_s = dest.to_str().unwrap_or_default();

    let mut kept: Vec<&str> = Vec::new();
    for (j, o) in opts.iter().enumerate() {
        if BIND_OPTIONS.contains(&o.as_str()) {
            kept.push(o);
        } else {
            m.unsupported(
                format!("{f}.options[{j}]"),
                format!("{o} has no meaning for a bind mount in LXC"),
            )?;
        }
    }
    // The last of ro/rw wins, as in mount(8).
    let ro = kept
        .iter()
        .rev()
        .find(|o| **o == "ro" || **o == "rw")
        .is_some_and(|o| *o == "ro");
    let recursive = kept.contains(&"rbind");

    let under_lxc_mount = ["/dev", "/proc", "/sys"]
        .iter()
        .any(|d| is_under(dest, Path::new(d)))
        || raw_dests.iter().any(|d| is_under(dest, d));
    let as_mp = kind == BindKind::Dir
        && !under_lxc_mount
        && kept.iter().all(|o| MP_OPTIONS.contains(o))
        && is_propstr_safe(src_s)
        && is_clean(src_s)
        && !src_s.starts_with("/dev/")
        && is_propstr_safe(dest_s)
        && is_clean(dest_s);
    if as_mp {
        // Property string: volume, then `mp`, then the optional keys sorted.
        let mut v = format!("{src_s},mp={dest_s}");
        if m.ctx.unprivileged && !m.ns.idmapped {
            if m.ctx.node.idmap_option {
                v.push_str(",idmap=passthrough");
            } else {
                m.unsupported(format!("{f}.source"), no_idmap(m))?;
            }
        }
        let mo: Vec<&str> = MP_MOUNTOPTIONS
            .iter()
            .copied()
            .filter(|o| kept.contains(o))
            .collect();
        if !mo.is_empty() {
            v.push_str(&format!(",mountoptions={}", mo.join(";")));
        }
        if ro {
            v.push_str(",ro=1");
        }
        m.set(&format!("mp{mp_index}"), v);
        return Ok(true);
    }

    let mut o: Vec<String> = vec![if recursive { "rbind" } else { "bind" }.to_string()];
    o.extend(
        kept.iter()
            .filter(|x| !matches!(**x, "bind" | "rbind" | "defaults"))
            .map(|x| x.to_string()),
    );
    o.push(
        if kind == BindKind::Dir {
            "create=dir"
        } else {
            "create=file"
        }
        .to_string(),
    );
    let source = esc(&format!("{f}.source"), src_s)?;
    let target = esc(&format!("{f}.destination"), &rel(dest))?;
    m.mount_entries
        .push(format!("{source} {target} none {} 0 0", o.join(",")));
    Ok(false)
}

/// maskedPaths: `/dev/null` bound over files and a read-only tmpfs over directories. The mapping
/// cannot tell which a path is, so both entries are written with `optional`: binding a file over
/// a directory fails (ENOTDIR), and so does mounting a tmpfs over the file (now `/dev/null`), so
/// exactly the fitting one stays; a missing path makes both fail harmlessly.
///
/// readonlyPaths: the path bound onto itself read-only. `relative` makes LXC take the source
/// inside the CT's rootfs (after its `/proc` and `/sys` are mounted) instead of the host's.
fn masked_and_readonly(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    for (i, p) in linux
        .masked_paths()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = format!("linux.maskedPaths[{i}]");
        let path = ct_path(Path::new(p)).map_err(|e| invalid(&f, e))?;
        if path == Path::new("/") {
            return Err(invalid(f, "cannot mask the root"));
        }
        let target = esc(&f, &rel(&path))?;
        m.mount_entries
            .push(format!("/dev/null {target} none bind,optional 0 0"));
        m.mount_entries
            .push(format!("tmpfs {target} tmpfs ro,optional 0 0"));
    }
    for (i, p) in linux
        .readonly_paths()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = format!("linux.readonlyPaths[{i}]");
        let path = ct_path(Path::new(p)).map_err(|e| invalid(&f, e))?;
        if path == Path::new("/") {
            return Err(invalid(f, "use root.readonly for the root"));
        }
        let target = esc(&f, &rel(&path))?;
        m.mount_entries.push(format!(
            "{target} {target} none bind,relative,ro,optional 0 0"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
