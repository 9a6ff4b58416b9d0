//! A bundle's rootfs as a Proxmox container template (`vztmpl`), for CTs on another node: a
//! plain tar with relative names, our init at `/.proxmox-lxcri-init`, and a name derived
//! from the archive's SHA-256, so an image is uploaded once per storage. Entries are written in
//! sorted order with the files' own owners, modes and mtimes, so the same rootfs gives the same
//! archive and the same name. The xattrs Proxmox restores (`sys::xattr::template_keeps`) go in
//! as PAX `SCHILY.xattr.<name>` records before their entry, the form GNU tar's `--xattrs` reads.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::mapping::remote::INIT_SHIPPED;

/// Templates the runtime uploads are named `proxmox-lxcri-<first 32 hex digits of SHA-256>.tar`.
pub const PREFIX: &str = "proxmox-lxcri-";

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A packed rootfs in a temporary file, removed on drop.
#[derive(Debug)]
pub struct Packed {
    pub file: tempfile::NamedTempFile,
    /// Lower-case hex SHA-256 of the archive.
    pub sha256: String,
    pub size: u64,
}

impl Packed {
    /// The template's file name on the storage.
    pub fn name(&self) -> String {
        name_for(&self.sha256)
    }
}

pub fn name_for(sha256: &str) -> String {
    format!("{PREFIX}{}.tar", &sha256[..32.min(sha256.len())])
}

/// Whether `name` is a template this runtime made (for `images`).
pub fn is_ours(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(".tar"))
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Digests of packed rootfs directories, by a key over their files' metadata (see `metadata_key`).
const DIGEST_DIR: &str = "/var/cache/proxmox-lxcri/digests";

/// Salts the keys, so digests remembered for packs of an older format (before xattrs were
/// carried) are not taken for this one.
const FORMAT: &[u8] = b"vztmpl-xattrs\0";

/// A key that changes whenever any file of `rootfs` or `init` may have changed: every entry's
/// path, type, mode, owner, size, mtime, ctime and inode. ctime cannot be set by anyone and moves
/// on every write, so equal keys mean equal content; reading the metadata is far cheaper than
/// packing and hashing the content.
pub fn metadata_key(rootfs: &Path, init: &Path) -> io::Result<String> {
    fn walk(h: &mut Sha256, dir: &Path, name: &Path) -> io::Result<()> {
        key_line(h, name, &fs::symlink_metadata(dir)?);
        let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = name.join(e.file_name());
            if e.file_type()?.is_dir() {
                walk(h, &e.path(), &child)?;
            } else {
                key_line(h, &child, &e.metadata()?);
            }
        }
        Ok(())
    }
    let mut h = Sha256::new();
    h.update(FORMAT);
    walk(&mut h, rootfs, Path::new("."))?;
    key_line(&mut h, init, &fs::metadata(init)?);
    Ok(format!("{:x}", h.finalize()))
}

/// What a rootfs to pack is, which decides the keys its digest is remembered and found under.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A directory: keyed by its files' metadata (`metadata_key`).
    Dir,
    /// A bundle's rootfs its caller made from image `id` (config.json's annotations): a template
    /// of that image imported before is taken; else as `Dir`.
    FromImage(&'a str),
    /// Image `id` itself, unpacked by `images import`: keyed by the image (`image_key`).
    Image(&'a str),
}

/// The key for an image by its ID (`sha256:<hex>`, the config blob's digest, which commits to
/// every layer's content) and `init`, as `images import` of an image layout remembers it and
/// `create` of a bundle naming that image looks it up.
pub fn image_key(image_id: &str, init: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(b"oci-image\0");
    h.update(image_id.as_bytes());
    key_line(&mut h, init, &fs::metadata(init)?);
    Ok(format!("{:x}", h.finalize()))
}

fn key_line(h: &mut Sha256, name: &Path, m: &fs::Metadata) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    h.update(name.as_os_str().as_bytes());
    let f = [
        m.mode() as u64,
        m.uid() as u64,
        m.gid() as u64,
        m.size(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
        m.ino(),
        m.dev(),
    ];
    for v in f {
        h.update(v.to_le_bytes());
    }
}

/// The digest remembered for `key`, if this host packed that rootfs before.
pub fn known_digest(key: &str) -> Option<String> {
    let d = fs::read_to_string(Path::new(DIGEST_DIR).join(key)).ok()?;
    let d = d.trim();
    (d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())).then(|| d.to_string())
}

/// Remember `sha256` for `key`; a cache that cannot be written only costs a pack next time.
pub fn remember(key: &str, sha256: &str) {
    let path = Path::new(DIGEST_DIR).join(key);
    let _ = fs::create_dir_all(DIGEST_DIR).and_then(|_| {
        crate::sys::fs::write_atomic(&path, sha256.as_bytes(), 0o644).map_err(io::Error::other)
    });
}

/// Where uploads of one template to one storage take turns.
const LOCK_DIR: &str = "/run/lock/proxmox-lxcri";

/// Serialize "is it there? else upload" for template `name` on `node`'s `storage` among the
/// runtimes on this host, so that parallel creates of one image upload it once. Held until
/// dropped; without a lock directory it degrades to no lock.
pub fn upload_lock(node: &str, storage: &str, name: &str) -> Option<File> {
    let _ = fs::create_dir_all(LOCK_DIR);
    let path = Path::new(LOCK_DIR).join(format!("{node}-{storage}-{name}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    crate::sys::fs::flock(&file, false).ok()?;
    Some(file)
}

/// Hashes what passes through to the file.
struct Tee<W: Write> {
    inner: W,
    hash: Sha256,
    n: u64,
    /// The files' bytes to pack, when progress is reported (the archive is a little larger).
    total: Option<u64>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        if let Some(total) = self.total {
            crate::progress::report("packing", self.n, total);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Pack `rootfs` plus the static `init` into a template in `tmp_dir`.
pub fn pack(rootfs: &Path, init: &Path, tmp_dir: &Path) -> Result<Packed, PackError> {
    let file = tempfile::Builder::new()
        .prefix(".proxmox-lxcri-pack-")
        .tempfile_in(tmp_dir)
        .map_err(io_err(tmp_dir))?;
    let out = BufWriter::with_capacity(1 << 20, file.reopen().map_err(io_err(file.path()))?);
    let mut tar = tar::Builder::new(Tee {
        inner: out,
        hash: Sha256::new(),
        n: 0,
        total: crate::progress::active().then(|| content_size(rootfs)),
    });
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    walk(&mut tar, rootfs, Path::new("."))?;
    let init_md = fs::metadata(init).map_err(io_err(init))?;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(init_md.len());
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    // Fixed, so the archive (and its name) depends only on the rootfs and the init's bytes.
    h.set_mtime(0);
    let name = format!(".{INIT_SHIPPED}");
    let mut src = File::open(init).map_err(io_err(init))?;
    tar.append_data(&mut h, &name, &mut src)
        .map_err(io_err(init))?;
    let tee = tar.into_inner().map_err(io_err(file.path()))?;
    let Tee { inner, hash, n, .. } = tee;
    inner
        .into_inner()
        .map_err(|e| io_err(file.path())(e.into_error()))?
        .sync_all()
        .map_err(io_err(file.path()))?;
    Ok(Packed {
        file,
        sha256: format!("{:x}", hash.finalize()),
        size: n,
    })
}

/// The bytes of the regular files under `dir`, for a progress total (unreadable ones count 0).
fn content_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => content_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Append `dir` (named `name` in the archive) and everything below it, in name order.
fn walk<W: Write>(tar: &mut tar::Builder<W>, dir: &Path, name: &Path) -> Result<(), PackError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    append_xattrs(tar, dir)?;
    tar.append_path_with_name(dir, name).map_err(io_err(dir))?;
    for e in entries {
        let path = e.path();
        let child = name.join(e.file_name());
        let ft = e.file_type().map_err(io_err(&path))?;
        if ft.is_dir() {
            walk(tar, &path, &child)?;
        } else if ft.is_socket() {
            // A socket cannot be archived; it is meaningless in a new CT anyway.
            continue;
        } else {
            append_xattrs(tar, &path)?;
            tar.append_path_with_name(&path, &child)
                .map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// One PAX extended-header record: `<length> <key>=<value>\n`, the length counting itself.
pub fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The PAX records for the xattrs of `path` a template keeps, in name order (empty: none).
pub fn xattr_records(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (name, value) in crate::sys::xattr::list(path)? {
        if crate::sys::xattr::template_keeps(&name) {
            pax_record(&mut out, &[b"SCHILY.xattr.", &name[..]].concat(), &value);
        }
    }
    Ok(out)
}

/// Write a PAX extended header holding `path`'s kept xattrs, for the entry appended next.
fn append_xattrs<W: Write>(tar: &mut tar::Builder<W>, path: &Path) -> Result<(), PackError> {
    let data = xattr_records(path).map_err(io_err(path))?;
    if data.is_empty() {
        return Ok(());
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    // A fixed name and fields, so the archive stays a function of the rootfs.
    h.set_path("././@PaxHeader").map_err(io_err(path))?;
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    tar.append(&h, &data[..]).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("bin")).unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(d.path().join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        fs::write(d.path().join("etc/hostname"), b"x\n").unwrap();
        std::os::unix::fs::symlink("tool", d.path().join("bin/alias")).unwrap();
        d
    }

    fn names(p: &Packed) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(p.file.path()).unwrap());
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn archive_holds_rootfs_and_init_and_is_reproducible() {
        let r = rootfs();
        let init = tempfile::NamedTempFile::new().unwrap();
        fs::write(init.path(), b"\x7fELF-init").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let a = pack(r.path(), init.path(), tmp.path()).unwrap();
        let b = pack(r.path(), init.path(), tmp.path()).unwrap();
        assert_eq!(a.sha256, b.sha256, "same rootfs, same archive");
        assert_eq!(a.size, fs::metadata(a.file.path()).unwrap().len());
        let want = format!("{:x}", Sha256::digest(fs::read(a.file.path()).unwrap()));
        assert_eq!(a.sha256, want, "digest of the bytes on disk");
        assert!(is_ours(&a.name()), "{}", a.name());
        assert_eq!(
            names(&a),
            [
                ".",
                "bin",
                "bin/alias",
                "bin/tool",
                "etc",
                "etc/hostname",
                ".proxmox-lxcri-init"
            ]
        );
        fs::write(r.path().join("etc/hostname"), b"y\n").unwrap();
        let c = pack(r.path(), init.path(), tmp.path()).unwrap();
        assert_ne!(a.sha256, c.sha256, "a changed file changes the name");
    }

    #[test]
    fn metadata_key_follows_every_change() {
        let r = rootfs();
        let init = tempfile::NamedTempFile::new().unwrap();
        let k1 = metadata_key(r.path(), init.path()).unwrap();
        assert_eq!(k1, metadata_key(r.path(), init.path()).unwrap(), "stable");
        // Same size, same mtime restored: ctime still moves.
        let f = r.path().join("etc/hostname");
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        fs::write(&f, b"y\n").unwrap();
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let k2 = metadata_key(r.path(), init.path()).unwrap();
        assert_ne!(k1, k2, "a rewritten file changes the key");
        fs::write(init.path(), b"new init").unwrap();
        assert_ne!(
            k2,
            metadata_key(r.path(), init.path()).unwrap(),
            "the init counts"
        );
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        let rec = |k: &str, v: &[u8]| {
            let mut out = Vec::new();
            pax_record(&mut out, k.as_bytes(), v);
            out
        };
        assert_eq!(rec("a", b"b"), b"6 a=b\n");
        // 1 + 1 + 1 + 1 + 5 = 9 without the length: 2 digits make it 11.
        assert_eq!(rec("k", b"12345"), b"11 k=12345\n");
        // 97 bytes plus two digits is 99; 98 plus two would be 100, which needs three: 101.
        let r = rec("k", &[b'x'; 93]);
        assert_eq!((r.len(), &r[..5]), (99, &b"99 k="[..]));
        let r = rec("k", &[b'x'; 94]);
        assert_eq!((r.len(), &r[..6]), (101, &b"101 k="[..]));
    }

    /// A v2 `vfs_cap_data` granting cap_net_raw, permitted and effective.
    const NET_RAW: [u8; 20] = [
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn kept_xattrs_go_in_as_pax_records_gnu_tar_restores() {
        use crate::sys::xattr;
        use std::ffi::OsStr;
        assert!(
            nix::unistd::geteuid().is_root(),
            "setting security.capability and trusted.* needs root"
        );
        let r = rootfs();
        let init = tempfile::NamedTempFile::new().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let plain = pack(r.path(), init.path(), tmp.path()).unwrap();
        let tool = r.path().join("bin/tool");
        xattr::set(&tool, OsStr::new("security.capability"), &NET_RAW).unwrap();
        xattr::set(&tool, OsStr::new("user.test"), b"kept").unwrap();
        xattr::set(&tool, OsStr::new("trusted.test"), b"dropped").unwrap();
        xattr::set(&r.path().join("etc"), OsStr::new("user.dir"), b"d").unwrap();
        let p = pack(r.path(), init.path(), tmp.path()).unwrap();
        assert_ne!(p.sha256, plain.sha256, "xattrs change the archive");
        assert_eq!(names(&p), names(&plain), "no entries of their own");

        let mut a = tar::Archive::new(File::open(p.file.path()).unwrap());
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            for ext in e.pax_extensions().unwrap().into_iter().flatten() {
                let ext = ext.unwrap();
                seen.push((
                    path.clone(),
                    ext.key().unwrap().to_string(),
                    ext.value_bytes().to_vec(),
                ));
            }
        }
        let row = |p: &str, k: &str, v: &[u8]| (p.to_string(), k.to_string(), v.to_vec());
        assert_eq!(
            seen,
            [
                row("bin/tool", "SCHILY.xattr.security.capability", &NET_RAW),
                row("bin/tool", "SCHILY.xattr.user.test", b"kept"),
                row("etc", "SCHILY.xattr.user.dir", b"d"),
            ]
        );

        // GNU tar with the flags `pct create` extracts templates with restores them.
        let out = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("tar")
            .args(["xpf"])
            .arg(p.file.path())
            .args(["--numeric-owner", "--xattrs", "--xattrs-include=user.*"])
            .args(["--xattrs-include=security.capability", "-C"])
            .arg(out.path())
            .status()
            .unwrap();
        assert!(st.success());
        let got = xattr::list(&out.path().join("bin/tool")).unwrap();
        assert_eq!(
            got,
            [
                (b"security.capability".to_vec(), NET_RAW.to_vec()),
                (b"user.test".to_vec(), b"kept".to_vec()),
            ]
        );
    }

    #[test]
    fn only_our_names_are_ours() {
        assert!(is_ours(&name_for(&"ab".repeat(32))));
        assert!(!is_ours("debian-12-standard_12.7-1_amd64.tar.zst"));
        assert!(!is_ours("proxmox-lxcri-xyz.tar"));
    }
}
