//! An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`, as `skopeo copy … oci:DIR`
//! and `podman save --format oci-dir` write it, or the tar of one that `--format oci-archive`
//! writes) unpacked into a rootfs directory for `images import`: one manifest chosen, every blob
//! checked against its digest and size as it is read, the layers applied in order with their
//! whiteouts, nothing written outside the staging directory.

mod archive;
mod blob;
mod layer;
mod layout;
mod zstd;

use std::io;
use std::path::{Path, PathBuf};

pub use layout::Platform;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A one-line refusal that names the culprit (blob, layer entry, manifest).
    #[error("{0}")]
    Refused(String),
}

impl ImageError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> ImageError + '_ {
        move |source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whether `path` is an image layout (a directory with `oci-layout` or `index.json` and
/// `blobs/`) or a file, which only an `oci-archive` can be. A `docker-dir` image (containers/
/// image's "dir" transport: `manifest.json` beside a `version` file saying so) is refused here,
/// lest it be packed as a rootfs.
pub fn is_image(path: &Path) -> Result<bool, ImageError> {
    if path.is_file() {
        return Ok(true);
    }
    if !path.is_dir() {
        return Ok(false);
    }
    let version = std::fs::read(path.join("version")).unwrap_or_default();
    if path.join("manifest.json").is_file() && version.starts_with(b"Directory Transport Version") {
        return Err(ImageError::Refused(format!(
            "{}: a docker-dir image, not an OCI image layout; save it with --format oci-dir",
            path.display()
        )));
    }
    Ok(path.join("oci-layout").is_file()
        || (path.join("index.json").is_file() && path.join("blobs").is_dir()))
}

/// An image chosen in a layout, its layers' media types checked, ready to unpack.
pub struct Opened {
    /// An archive's layout, extracted to a temporary directory (removed on drop).
    extracted: Option<tempfile::TempDir>,
    dir: PathBuf,
    image: layout::Image,
}

/// Open the image at `input` (layout directory or `oci-archive` file, extracted under
/// `tmp_dir`): choose the manifest for `want`, `ref_name` picking one by its
/// `org.opencontainers.image.ref.name`, and check every layer's media type.
pub fn open(
    input: &Path,
    ref_name: Option<&str>,
    want: &Platform,
    tmp_dir: &Path,
) -> Result<Opened, ImageError> {
    let extracted = if input.is_file() {
        Some(archive::extract(input, tmp_dir)?)
    } else {
        None
    };
    let dir = extracted
        .as_ref()
        .map_or(input.to_path_buf(), |d| d.path().to_path_buf());
    let image = layout::choose(&dir, ref_name, want)?;
    for desc in &image.layers {
        layer::compression(desc)?;
    }
    Ok(Opened {
        extracted,
        dir,
        image,
    })
}

impl Opened {
    /// The image ID: the config blob's digest (`sha256:<hex>`), what podman and CRI-O call it.
    pub fn id(&self) -> &str {
        &self.image.config.digest
    }

    pub fn layers(&self) -> usize {
        self.image.layers.len()
    }

    /// Apply the layers in order to a new directory under `tmp_dir` (removed on drop, and on
    /// failure), each blob checked as it is read; progress per layer.
    pub fn unpack(self, tmp_dir: &Path) -> Result<tempfile::TempDir, ImageError> {
        let rootfs = tempfile::Builder::new()
            .prefix(".proxmox-lxcri-unpack-")
            .tempdir_in(tmp_dir)
            .map_err(ImageError::io(tmp_dir))?;
        let mut tree = layer::Tree::new(rootfs.path())?;
        let n = self.image.layers.len();
        let layers = self.image.layers.iter().zip(&self.image.diff_ids);
        for (i, (desc, diff_id)) in layers.enumerate() {
            let phase = format!("unpacking layer {}/{n}", i + 1);
            let src = blob::open(&self.dir, desc, Some(phase))?;
            layer::apply_blob(&mut tree, src, desc, diff_id)?;
        }
        tree.finish()?;
        drop(self.extracted);
        Ok(rootfs)
    }
}

/// The image a bundle was made from, as its caller tells it in config.json's annotations:
/// CRI-O's `io.kubernetes.cri-o.ImageRef` (the image ID) or, from anyone else,
/// `org.proxmox.lxcri/image`. `Err` for a malformed `org.proxmox.lxcri/image`.
pub fn bundle_image<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Option<String>, String> {
    let mut crio = None;
    for (k, v) in annotations {
        if k == IMAGE_ANNOTATION {
            return image_id(v).map(Some).ok_or_else(|| {
                format!(
                    "config.json: annotations[\"{IMAGE_ANNOTATION}\"]: '{v}' is not an image ID (sha256:<64 hex digits>)"
                )
            });
        }
        if k == "io.kubernetes.cri-o.ImageRef" {
            // Other CRI-O versions may put a name here: then it only does not match.
            crio = image_id(v);
        }
    }
    Ok(crio)
}

/// The annotation that names a bundle's image for `create` (see `bundle_image`).
pub const IMAGE_ANNOTATION: &str = "org.proxmox.lxcri/image";

/// `sha256:<hex>` from `<hex>` or `sha256:<hex>` (64 lower-case hex digits).
fn image_id(v: &str) -> Option<String> {
    let hex = v.strip_prefix("sha256:").unwrap_or(v);
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("sha256:{hex}"))
}

#[cfg(test)]
mod tests;
