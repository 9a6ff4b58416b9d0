//! An `oci-archive` (a tar of an image layout, as `podman save --format oci-archive` writes it)
//! extracted to a temporary layout. Only the layout's own files are taken, by names rebuilt from
//! checked parts, so nothing in the tar can name a path outside the temporary directory.

use std::fs;
use std::io;
use std::path::{Component, Path};

use super::ImageError;

pub fn extract(archive: &Path, tmp_dir: &Path) -> Result<tempfile::TempDir, ImageError> {
    let dir = tempfile::Builder::new()
        .prefix(".proxmox-lxcri-layout-")
        .tempdir_in(tmp_dir)
        .map_err(ImageError::io(tmp_dir))?;
    fs::create_dir_all(dir.path().join("blobs/sha256")).map_err(ImageError::io(dir.path()))?;
    let file = fs::File::open(archive).map_err(ImageError::io(archive))?;
    let not_tar = |e: io::Error| {
        ImageError::Refused(format!(
            "{}: neither a rootfs directory, an image layout nor an oci-archive ({e})",
            archive.display()
        ))
    };
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    let mut docker = false;
    for entry in tar.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(not_tar)?.into_owned();
        let parts: Vec<_> = path
            .components()
            .filter(|c| *c != Component::CurDir)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let name = match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["oci-layout"] => "oci-layout".to_string(),
            ["index.json"] => "index.json".to_string(),
            ["blobs", "sha256", hex]
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                format!("blobs/sha256/{hex}")
            }
            // docker-archive's index of its images (no OCI layout has one at the top).
            ["manifest.json"] => {
                docker = true;
                continue;
            }
            _ => continue,
        };
        let out = dir.path().join(name);
        let mut f = fs::File::create(&out).map_err(ImageError::io(&out))?;
        io::copy(&mut entry, &mut f).map_err(ImageError::io(archive))?;
    }
    let has_index = dir.path().join("index.json").is_file();
    if !has_index && docker {
        return Err(ImageError::Refused(format!(
            "{}: a docker-archive, not an OCI image layout; save it with --format oci-archive",
            archive.display()
        )));
    }
    if !has_index {
        return Err(ImageError::Refused(format!(
            "{}: not a rootfs directory, and no image layout (index.json) in it",
            archive.display()
        )));
    }
    Ok(dir)
}
