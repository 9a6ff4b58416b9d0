//! Blobs of a layout, read through a check of their size and SHA-256 against the descriptor
//! that names them: a blob that does not match is refused by its digest, whatever read it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ImageError;

/// What an index or manifest says about a blob.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<super::Platform>,
}

/// Index, manifest and config blobs are read whole; bigger ones than this are not JSON we want.
const JSON_MAX: u64 = 16 << 20;

/// `blobs/sha256/<hex>` for a `sha256:<hex>` digest; other algorithms are refused.
fn path_of(layout: &Path, digest: &str) -> Result<PathBuf, ImageError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| {
            ImageError::Refused(format!(
                "blob {digest}: not a sha256 digest (sha256:<64 hex digits>)"
            ))
        })?;
    Ok(layout.join("blobs/sha256").join(hex))
}

/// Open the blob `desc` names, checked as it is read. With `phase`, progress is reported.
pub fn open(
    layout: &Path,
    desc: &Descriptor,
    phase: Option<String>,
) -> Result<Checked<File>, ImageError> {
    let path = path_of(layout, &desc.digest)?;
    let file = File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            ImageError::Refused(format!("blob {}: missing from the layout", desc.digest))
        }
        _ => ImageError::io(&path)(e),
    })?;
    let len = file.metadata().map_err(ImageError::io(&path))?.len();
    if len != desc.size {
        return Err(mismatch(desc, &format!("{len} bytes, not {}", desc.size)));
    }
    Ok(Checked {
        inner: file,
        digest: desc.digest.clone(),
        size: desc.size,
        hash: Sha256::new(),
        n: 0,
        phase,
    })
}

/// The JSON blob `desc` names, checked and parsed.
pub fn json<T: serde::de::DeserializeOwned>(
    layout: &Path,
    desc: &Descriptor,
) -> Result<T, ImageError> {
    if desc.size > JSON_MAX {
        return Err(ImageError::Refused(format!(
            "blob {}: {} bytes is too big for a {}",
            desc.digest, desc.size, desc.media_type
        )));
    }
    let mut buf = Vec::with_capacity(desc.size as usize);
    open(layout, desc, None)?
        .read_to_end(&mut buf)
        .map_err(|e| refusal(&desc.digest, e))?;
    serde_json::from_slice(&buf)
        .map_err(|e| ImageError::Refused(format!("blob {}: {e}", desc.digest)))
}

fn mismatch(desc: &Descriptor, what: &str) -> ImageError {
    ImageError::Refused(format!(
        "blob {}: does not match its descriptor ({what})",
        desc.digest
    ))
}

/// An error met while reading blob `digest`, as one line naming the blob (a mismatch found by
/// `Checked` already names it).
pub fn refusal(digest: &str, e: io::Error) -> ImageError {
    let text = e.to_string();
    if text.starts_with("blob ") {
        ImageError::Refused(text)
    } else {
        ImageError::Refused(format!("blob {digest}: {text}"))
    }
}

/// A reader that hashes and counts what passes and fails at the end of the blob (or as soon as it
/// is longer than said) unless size and digest match.
pub struct Checked<R: Read> {
    inner: R,
    digest: String,
    size: u64,
    hash: Sha256,
    n: u64,
    phase: Option<String>,
}

impl<R: Read> Checked<R> {
    /// Read to the end (a tar stream may stop before its blob does), so the check runs.
    pub fn finish(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(drop)
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        if let Some(phase) = &self.phase {
            crate::progress::report(phase, self.n, self.size);
        }
        let at_end = n == 0 && !buf.is_empty();
        if self.n > self.size || (at_end && self.n != self.size) {
            return Err(io::Error::other(format!(
                "blob {}: does not match its descriptor ({} bytes or more, not {})",
                self.digest, self.n, self.size
            )));
        }
        if at_end {
            let got = format!("sha256:{:x}", self.hash.clone().finalize());
            if got != self.digest {
                return Err(io::Error::other(format!(
                    "blob {}: content does not match its digest (read {got})",
                    self.digest
                )));
            }
        }
        Ok(n)
    }
}

/// Hashes what passes (an uncompressed layer, checked against the config's `diff_ids`).
pub struct Hashing<R: Read> {
    pub inner: R,
    pub hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}
