//! Template upload: `POST /nodes/{node}/storage/{storage}/upload` as multipart/form-data, fields
//! in the order pveproxy parses them (`content`, `checksum-algorithm`, `checksum`, then the file
//! part named `filename`; pve-http-server src/PVE/APIServer/AnyEvent.pm). The file is streamed,
//! never held in memory.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{ApiError, Client};

/// The parts around the file bytes.
pub(crate) struct Multipart {
    pub boundary: String,
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
}

impl Multipart {
    pub fn new(boundary: &str, checksum: &str, filename: &str) -> Multipart {
        let mut head = String::new();
        for (name, value) in [
            ("content", "vztmpl"),
            ("checksum-algorithm", "sha256"),
            ("checksum", checksum),
        ] {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        Multipart {
            boundary: boundary.to_string(),
            head: head.into_bytes(),
            tail: format!("\r\n--{boundary}--\r\n").into_bytes(),
        }
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }
}

/// Proxmox rewrites other characters to `_`; refusing them keeps the volid predictable and the
/// `Content-Disposition` quoting trivial.
fn check_filename(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "template file name '{name}': only letters, digits, '_', '.' and '-' are allowed"
        )))
    }
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let len = std::io::copy(&mut file, &mut hasher)?;
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, len))
}

/// Unlikely to occur in the file; the server checks the checksum anyway.
fn boundary(checksum: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{nanos}:{n}:{}:{checksum}", std::process::id());
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("----proxmox-lxcri-{hex}")
}

impl Client {
    /// Upload a CT template to `storage` on `node` as `filename`; returns the task's UPID
    /// (`imgcopy`), which the caller waits for.
    pub fn upload_template(
        &self,
        node: &str,
        storage: &str,
        filename: &str,
        file: &Path,
    ) -> Result<String, ApiError> {
        check_filename(filename)?;
        let io_err = |source| ApiError::Io {
            what: format!("template {}", file.display()),
            source,
        };
        let (checksum, len) = sha256_file(file).map_err(io_err)?;
        let parts = Multipart::new(&boundary(&checksum), &checksum, filename);
        let total = parts.head.len() as u64 + len + parts.tail.len() as u64;
        // `take` keeps the body at the announced length should the file grow meanwhile.
        let mut data = File::open(file).map_err(io_err)?.take(len);
        let data = crate::progress::Reader::new(&mut data, "uploading", len);
        let body = Cursor::new(&parts.head)
            .chain(data)
            .chain(Cursor::new(&parts.tail));
        let path = format!("/nodes/{node}/storage/{storage}/upload");
        match self.post_stream(&path, &parts.content_type(), total, body)? {
            Value::String(upid) => Ok(upid),
            other => Err(ApiError::BadResponse {
                method: "POST".into(),
                path,
                msg: format!("expected a UPID, got {other}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields_in_proxmox_order() {
        let m = Multipart::new("BOUND", "abc123", "alpine.tar");
        let head = String::from_utf8(m.head.clone()).unwrap();
        let expected = "--BOUND\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nvztmpl\r\n\
            --BOUND\r\nContent-Disposition: form-data; name=\"checksum-algorithm\"\r\n\r\nsha256\r\n\
            --BOUND\r\nContent-Disposition: form-data; name=\"checksum\"\r\n\r\nabc123\r\n\
            --BOUND\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"alpine.tar\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n";
        assert_eq!(head, expected);
        assert_eq!(m.tail, b"\r\n--BOUND--\r\n");
        assert_eq!(m.content_type(), "multipart/form-data; boundary=BOUND");
    }

    #[test]
    fn file_names_are_checked() {
        assert!(check_filename("alpine-3.20_amd64.tar.zst").is_ok());
        for bad in [
            "",
            "a b.tar",
            "a\"b.tar",
            "../x.tar",
            "x/y.tar",
            ".hidden.tar",
        ] {
            assert!(check_filename(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksum_is_sha256_hex() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.tar");
        std::fs::write(&p, b"abc").unwrap();
        let (hex, len) = sha256_file(&p).unwrap();
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(len, 3);
        assert_ne!(
            boundary(&hex),
            boundary(&hex),
            "boundaries differ per upload"
        );
    }
}
