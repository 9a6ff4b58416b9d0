//! Applying one layer to the staging tree: entries in order, OCI whiteouts (`.wh.<name>` deletes
//! `<name>` of the layers below, `.wh..wh..opq` hides everything the layers below put in its
//! directory), owners, modes and mtimes as the tar says. Every path is checked before use: no
//! `..`, absolute names anchored at the staging root, and no entry written, linked or deleted
//! through a symlink, so a layer cannot reach outside the staging directory. A regular file's or
//! directory's PAX `SCHILY.xattr.<name>` records are set on it when a CT template keeps that
//! xattr (`sys::xattr::template_keeps`), so the packer finds them there.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::blob::{self, Checked, Descriptor, Hashing};
use super::zstd::ZstdFrames;
use super::ImageError;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// How layer `desc` is compressed, or a refusal of a media type we cannot unpack.
pub fn compression(desc: &Descriptor) -> Result<Compression, ImageError> {
    let t = desc.media_type.as_str();
    let base = t
        .strip_prefix("application/vnd.oci.image.layer.v1.")
        .or_else(|| t.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1."));
    match (base, t) {
        (Some("tar"), _) => Ok(Compression::None),
        (Some("tar+gzip"), _) | (_, "application/vnd.docker.image.rootfs.diff.tar.gzip") => {
            Ok(Compression::Gzip)
        }
        (Some("tar+zstd"), _) => Ok(Compression::Zstd),
        _ => Err(ImageError::Refused(format!(
            "layer {}: media type '{t}' is not supported (tar, tar+gzip, tar+zstd)",
            desc.digest
        ))),
    }
}

/// The staging tree the layers are applied to.
pub struct Tree {
    root: PathBuf,
    /// Directories' mtimes, set once all layers are in (each entry made below one moves it).
    dir_times: BTreeMap<PathBuf, i64>,
}

impl Tree {
    /// The root starts as root-owned 0755 with mtime 0 unless a layer's `./` entry says otherwise.
    pub fn new(root: &Path) -> Result<Tree, ImageError> {
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .map_err(ImageError::io(root))?;
        let mut dir_times = BTreeMap::new();
        dir_times.insert(PathBuf::new(), 0);
        Ok(Tree {
            root: root.to_path_buf(),
            dir_times,
        })
    }

    pub fn finish(self) -> Result<(), ImageError> {
        for (rel, mtime) in &self.dir_times {
            let path = self.root.join(rel);
            match set_mtime(&path, *mtime) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                r => r.map_err(ImageError::io(&path))?,
            }
        }
        Ok(())
    }

    /// Check that every directory above `rel` is a directory and not a symlink, making missing
    /// ones (0755) when `make`. `Ok(false)`: one is missing and `make` is off.
    fn parents(&mut self, rel: &Path, layer: &str, make: bool) -> Result<bool, ImageError> {
        let mut at = PathBuf::new();
        let Some(parent) = rel.parent() else {
            return Ok(true);
        };
        for c in parent.components() {
            at.push(c);
            let path = self.root.join(&at);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refuse(
                        layer,
                        rel,
                        &format!("goes through the symlink '{}'", at.display()),
                    ))
                }
                Ok(_) => {
                    return Err(refuse(
                        layer,
                        rel,
                        &format!("'{}' is not a directory", at.display()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && make => {
                    fs::create_dir(&path).map_err(ImageError::io(&path))?;
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                        .map_err(ImageError::io(&path))?;
                    self.dir_times.entry(at.clone()).or_insert(0);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(ImageError::io(&path)(e)),
            }
        }
        Ok(true)
    }
}

fn refuse(layer: &str, rel: &Path, what: &str) -> ImageError {
    ImageError::Refused(format!("layer {layer}: entry '{}' {what}", rel.display()))
}

/// `name` relative to the staging root: `.` and leading `/` dropped, `..` refused.
pub(super) fn clean(name: &Path, layer: &str) -> Result<PathBuf, ImageError> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(refuse(layer, name, "leaves the rootfs (..)"))
            }
        }
    }
    Ok(out)
}

/// Unpack layer blob `src` (media type checked by `compression`) onto `tree`, then check the
/// blob's digest and the uncompressed digest `diff_id`. On an error the blob is still read to
/// its end, so a blob that does not match is refused as that, whatever broke first.
pub fn apply_blob(
    tree: &mut Tree,
    mut src: Checked<File>,
    desc: &Descriptor,
    diff_id: &str,
) -> Result<(), ImageError> {
    let kind = compression(desc)?;
    let res = {
        let buffered = BufReader::with_capacity(1 << 20, &mut src);
        let decoded: Box<dyn Read> = match kind {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(ZstdFrames::Between(buffered)),
        };
        let mut tar_stream = Hashing {
            inner: decoded,
            hash: Sha256::new(),
        };
        apply(tree, &mut tar_stream, &desc.digest).and_then(|()| {
            io::copy(&mut tar_stream, &mut io::sink())
                .map_err(|e| blob::refusal(&desc.digest, e))?;
            Ok(format!("sha256:{:x}", tar_stream.hash.finalize()))
        })
    };
    src.finish().map_err(|e| blob::refusal(&desc.digest, e))?;
    let got = res?;
    if got != diff_id {
        return Err(ImageError::Refused(format!(
            "layer {}: uncompressed content is {got}, the config says {diff_id}",
            desc.digest
        )));
    }
    Ok(())
}

pub(super) fn apply(tree: &mut Tree, src: &mut dyn Read, layer: &str) -> Result<(), ImageError> {
    let read_err = |e: io::Error| blob::refusal(layer, e);
    let mut ar = tar::Archive::new(src);
    // What this layer put there: an opaque directory hides only what the layers below had.
    let mut mine: HashSet<PathBuf> = HashSet::new();
    for entry in ar.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = entry.path().map_err(read_err)?.into_owned();
        let rel = clean(&name, layer)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let base = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(hidden) = base.as_deref().and_then(|b| b.strip_prefix(WHITEOUT)) {
            if !tree.parents(&rel, layer, false)? {
                continue;
            }
            let dir = rel.parent().unwrap_or(Path::new(""));
            if base.as_deref() == Some(OPAQUE) {
                hide_below(&tree.root, dir, &mine).map_err(ImageError::io(&tree.root.join(dir)))?;
            } else {
                let path = tree.root.join(dir).join(hidden);
                remove(&path).map_err(ImageError::io(&path))?;
            }
            continue;
        }
        if rel.as_os_str().is_empty() && kind != tar::EntryType::Directory {
            return Err(refuse(
                layer,
                &name,
                "names the root as something else than a directory",
            ));
        }
        tree.parents(&rel, layer, true)?;
        let xattrs = kept_xattrs(&mut entry).map_err(read_err)?;
        let path = tree.root.join(&rel);
        let h = entry.header();
        let (uid, gid) = (
            h.uid().map_err(read_err)? as u32,
            h.gid().map_err(read_err)? as u32,
        );
        let mode = h.mode().map_err(read_err)? & 0o7777;
        let mtime = h.mtime().map_err(read_err)? as i64;
        let io_err = ImageError::io(&path);
        match kind {
            tar::EntryType::Directory => {
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    remove(&path).map_err(ImageError::io(&path))?;
                    fs::create_dir(&path).map_err(ImageError::io(&path))?;
                }
                own(&path, uid, gid, Some(mode)).map_err(io_err)?;
                set_xattrs(&path, &xattrs, layer, &rel)?;
                tree.dir_times.insert(rel.clone(), mtime);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove(&path).map_err(ImageError::io(&path))?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(ImageError::io(&path))?;
                io::copy(&mut entry, &mut f).map_err(read_err)?;
                drop(f);
                own(&path, uid, gid, Some(mode)).map_err(ImageError::io(&path))?;
                // After the chown, which clears security.capability.
                set_xattrs(&path, &xattrs, layer, &rel)?;
                set_mtime(&path, mtime).map_err(io_err)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| refuse(layer, &rel, "is a symlink without a target"))?
                    .into_owned();
                remove(&path).map_err(ImageError::io(&path))?;
                std::os::unix::fs::symlink(&target, &path).map_err(ImageError::io(&path))?;
                own(&path, uid, gid, None).map_err(ImageError::io(&path))?;
                set_mtime(&path, mtime).map_err(io_err)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| refuse(layer, &rel, "is a hardlink without a target"))?;
                let trel = clean(&target, layer)?;
                if !tree.parents(&trel, layer, false)? {
                    return Err(refuse(layer, &rel, "links to a missing file"));
                }
                let tpath = tree.root.join(&trel);
                match fs::symlink_metadata(&tpath) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(refuse(
                            layer,
                            &rel,
                            "links to a missing file or a directory",
                        ))
                    }
                }
                if tpath != path {
                    remove(&path).map_err(ImageError::io(&path))?;
                    fs::hard_link(&tpath, &path).map_err(ImageError::io(&path))?;
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                remove(&path).map_err(ImageError::io(&path))?;
                let dev = nix::sys::stat::makedev(
                    h.device_major().ok().flatten().unwrap_or(0).into(),
                    h.device_minor().ok().flatten().unwrap_or(0).into(),
                );
                let sflag = match kind {
                    tar::EntryType::Char => nix::sys::stat::SFlag::S_IFCHR,
                    tar::EntryType::Block => nix::sys::stat::SFlag::S_IFBLK,
                    _ => nix::sys::stat::SFlag::S_IFIFO,
                };
                nix::sys::stat::mknod(
                    &path,
                    sflag,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                    dev,
                )
                .map_err(|e| ImageError::io(&path)(e.into()))?;
                own(&path, uid, gid, Some(mode)).map_err(ImageError::io(&path))?;
                set_mtime(&path, mtime).map_err(io_err)?;
            }
            other => {
                return Err(refuse(
                    layer,
                    &rel,
                    &format!("has a tar entry type we cannot unpack ({other:?})"),
                ))
            }
        }
        mine.insert(rel);
    }
    Ok(())
}

type Xattrs = Vec<(std::ffi::OsString, Vec<u8>)>;

/// The entry's `SCHILY.xattr.<name>` PAX records whose xattr a template keeps.
fn kept_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<Xattrs> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext?;
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        if crate::sys::xattr::template_keeps(name) {
            let name = std::ffi::OsStr::from_bytes(name).to_os_string();
            out.push((name, ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

fn set_xattrs(path: &Path, xattrs: &Xattrs, layer: &str, rel: &Path) -> Result<(), ImageError> {
    for (name, value) in xattrs {
        crate::sys::xattr::set(path, name, value).map_err(|e| {
            refuse(
                layer,
                rel,
                &format!(
                    "has xattr {} that cannot be set: {e}",
                    name.to_string_lossy()
                ),
            )
        })?;
    }
    Ok(())
}

/// Owner first: chown clears set-id bits, which the mode then sets again.
fn own(path: &Path, uid: u32, gid: u32, mode: Option<u32>) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// mtime (and atime) of `path` itself, never of a symlink's target.
fn set_mtime(path: &Path, secs: i64) -> io::Result<()> {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

/// Remove whatever is at `path` (a directory with its contents; a symlink, not its target).
fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// An opaque directory `dir`: remove what the layers below put in it, keeping what this layer
/// (`mine`) already wrote, down through this layer's own subdirectories.
fn hide_below(root: &Path, dir: &Path, mine: &HashSet<PathBuf>) -> io::Result<()> {
    let entries = match fs::read_dir(root.join(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let rel = dir.join(e.file_name());
        if !mine.contains(&rel) {
            remove(&e.path())?;
        } else if e.file_type()?.is_dir() {
            hide_below(root, &rel, mine)?;
        }
    }
    Ok(())
}
