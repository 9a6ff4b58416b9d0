//! An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`, as `skopeo copy … oci:DIR`
//! and `podman save --format oci-dir` write it, or the tar of one that `--format oci-archive`
//! writes) unpacked into a rootfs directory for `images import`: one manifest chosen, every blob
//! checked against its digest and size as it is read, the layers applied in order with their
//! whiteouts, nothing written outside the staging directory.

mod archive;
mod blob;
mod layer;
mod layout;

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

/// An image unpacked into a temporary directory, removed on drop.
#[derive(Debug)]
pub struct Unpacked {
    pub rootfs: tempfile::TempDir,
    /// The image ID: the config blob's digest (`sha256:<hex>`), what podman and CRI-O call it.
    pub id: String,
    pub layers: usize,
}

/// Whether `path` is an image layout (a directory with `oci-layout` or `index.json` and
/// `blobs/`) or a file, which only an `oci-archive` can be.
pub fn is_image(path: &Path) -> bool {
    path.is_file()
        || (path.is_dir()
            && (path.join("oci-layout").is_file()
                || (path.join("index.json").is_file() && path.join("blobs").is_dir())))
}

/// Unpack the image at `input` (layout directory or `oci-archive` file) into a new directory
/// under `tmp_dir`. `ref_name` picks a manifest by its `org.opencontainers.image.ref.name`.
pub fn unpack(
    input: &Path,
    ref_name: Option<&str>,
    want: &Platform,
    tmp_dir: &Path,
) -> Result<Unpacked, ImageError> {
    // An archive is a layout in a tar: its blobs go to a temporary layout first (removed on drop).
    let extracted = if input.is_file() {
        Some(archive::extract(input, tmp_dir)?)
    } else {
        None
    };
    let dir = extracted.as_ref().map_or(input, |d| d.path());
    let image = layout::choose(dir, ref_name, want)?;
    let rootfs = tempfile::Builder::new()
        .prefix(".proxmox-lxcri-unpack-")
        .tempdir_in(tmp_dir)
        .map_err(ImageError::io(tmp_dir))?;
    let mut tree = layer::Tree::new(rootfs.path())?;
    // Every layer's media type is checked before any is unpacked.
    for desc in &image.layers {
        layer::compression(desc)?;
    }
    let n = image.layers.len();
    for (i, (desc, diff_id)) in image.layers.iter().zip(&image.diff_ids).enumerate() {
        let phase = format!("unpacking layer {}/{n}", i + 1);
        let src = blob::open(dir, desc, Some(phase))?;
        layer::apply_blob(&mut tree, src, desc, diff_id)?;
    }
    tree.finish()?;
    Ok(Unpacked {
        rootfs,
        id: image.config.digest.clone(),
        layers: n,
    })
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
