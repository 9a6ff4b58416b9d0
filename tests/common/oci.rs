//! OCI image layouts written by the tests themselves: blobs named by their SHA-256, layers as
//! small tars (plain, gzip or zstd), a config with the layers' diff_ids, a manifest per image
//! and `index.json` listing them.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A layer tar built entry by entry (owner 0:0 unless set, mtime 1000).
pub struct Tar(tar::Builder<Vec<u8>>);

impl Default for Tar {
    fn default() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }
}

impl Tar {
    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1000);
        h.set_size(0);
        h
    }
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, mode);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }
    pub fn file(self, path: &str, mode: u32, data: &[u8]) -> Self {
        self.file_owned(path, mode, (0, 0), data)
    }
    pub fn file_owned(mut self, path: &str, mode: u32, owner: (u64, u64), data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }
    /// A file preceded by a PAX header with a `SCHILY.xattr.<name>` record per xattr, as
    /// image builders write a file's xattrs into a layer.
    pub fn file_xattrs(
        mut self,
        path: &str,
        mode: u32,
        data: &[u8],
        xattrs: &[(&str, &[u8])],
    ) -> Self {
        let mut pax = Vec::new();
        for (name, value) in xattrs {
            let key = format!("SCHILY.xattr.{name}");
            proxmox_lxcri::vztmpl::pax_record(&mut pax, key.as_bytes(), value);
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_mode(0o644);
        h.set_size(pax.len() as u64);
        h.set_cksum();
        self.0.append(&h, &pax[..]).unwrap();
        self.file(path, mode, data)
    }
    /// A raw name, written into the header as is (the tar crate refuses `..` in `append_data`).
    pub fn raw_file(mut self, path: &str, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, 0o644);
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }
    /// The busybox binary and a few applets, so the CT can run `sh -c`.
    pub fn busybox(self) -> Self {
        let bb = std::fs::read("/bin/busybox").expect("busybox-static is installed");
        let mut t = self.dir("bin", 0o755).file("bin/busybox", 0o755, &bb);
        for applet in ["sh", "cat", "ls", "true"] {
            t = t.symlink(&format!("bin/{applet}"), "busybox");
        }
        t
    }
    pub fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// zstd in two frames with a skippable frame between, as multi-frame writers make it.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    let (a, b) = data.split_at(data.len() / 2);
    let mut out = Vec::new();
    for (i, part) in [a, b].into_iter().enumerate() {
        if i == 1 {
            out.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
            out.extend_from_slice(&4u32.to_le_bytes());
            out.extend_from_slice(b"skip");
        }
        ruzstd::encoding::compress(part, &mut out, ruzstd::encoding::CompressionLevel::Fastest);
    }
    out
}

pub struct Layout {
    pub dir: PathBuf,
    manifests: Vec<serde_json::Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let l = Layout {
            dir: dir.to_path_buf(),
            manifests: Vec::new(),
        };
        l.write_index();
        l
    }

    /// Store `bytes` as a blob; its descriptor with `media_type`.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> serde_json::Value {
        let digest = sha256(bytes);
        std::fs::write(self.path_of(&digest), bytes).unwrap();
        serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    pub fn path_of(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// An image of `layers` ((media type, uncompressed tar)) for `arch`, named `ref_name` in the
    /// index; returns its ID (the config's digest).
    pub fn image(
        &mut self,
        layers: &[(&str, Vec<u8>)],
        arch: &str,
        ref_name: Option<&str>,
    ) -> String {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for (media_type, tar) in layers {
            diff_ids.push(sha256(tar));
            let stored = match *media_type {
                LAYER_GZIP => gzip(tar),
                LAYER_ZSTD => zstd(tar),
                _ => tar.clone(),
            };
            descs.push(self.blob(media_type, &stored));
        }
        let config = serde_json::json!({
            "architecture": arch, "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&config).unwrap(),
        );
        let id = config["digest"].as_str().unwrap().to_string();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": descs,
        });
        let mut desc = self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        desc["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(r) = ref_name {
            desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": r});
        }
        self.manifests.push(desc);
        self.write_index();
        id
    }

    fn write_index(&self) {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.manifests});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}
