//! Choosing the image in a layout: `index.json`'s manifests (through nested indexes), narrowed
//! by `--ref` and by platform to exactly one, then its config and layers.

use std::path::Path;

use serde::Deserialize;

use super::blob::{self, Descriptor};
use super::ImageError;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl Platform {
    /// The platform CTs run on: Linux on this host's architecture, in OCI's (Go's) names.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// The chosen image: its config blob, its layers in order and their uncompressed digests.
pub struct Image {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<String>,
}

fn is_index(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

fn is_manifest(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.manifest.v1+json"
            | "application/vnd.docker.distribution.manifest.v2+json"
    )
}

pub fn choose(dir: &Path, ref_name: Option<&str>, want: &Platform) -> Result<Image, ImageError> {
    let path = dir.join("index.json");
    let text = std::fs::read(&path).map_err(ImageError::io(&path))?;
    let index: Index = serde_json::from_slice(&text)
        .map_err(|e| ImageError::Refused(format!("{}: {e}", path.display())))?;
    let mut found = index.manifests;
    if let Some(r) = ref_name {
        found.retain(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(r));
        if found.is_empty() {
            return Err(ImageError::Refused(format!(
                "{}: no manifest named '{r}' ({REF_NAME})",
                path.display()
            )));
        }
    }
    let manifest = pick(dir, &path.display().to_string(), found, want, 0)?;
    let m: Manifest = blob::json(dir, &manifest)?;
    let c: Config = blob::json(dir, &m.config)?;
    let got = Platform {
        os: c.os,
        architecture: c.architecture,
    };
    if got != *want && !got.os.is_empty() {
        return Err(ImageError::Refused(format!(
            "image {}: for {got}, not {want}",
            m.config.digest
        )));
    }
    if c.rootfs.diff_ids.len() != m.layers.len() {
        return Err(ImageError::Refused(format!(
            "manifest {}: {} layers, its config lists {} diff_ids",
            manifest.digest,
            m.layers.len(),
            c.rootfs.diff_ids.len()
        )));
    }
    Ok(Image {
        config: m.config,
        layers: m.layers,
        diff_ids: c.rootfs.diff_ids,
    })
}

/// The one manifest among `found` (descending into indexes) for `want`.
fn pick(
    dir: &Path,
    place: &str,
    found: Vec<Descriptor>,
    want: &Platform,
    depth: u32,
) -> Result<Descriptor, ImageError> {
    // Nested indexes are one or two deep in practice; a loop of them is not.
    if depth > 4 {
        return Err(ImageError::Refused(format!(
            "{place}: indexes nested too deep"
        )));
    }
    let fits = |d: &Descriptor| d.platform.as_ref().is_none_or(|p| p == want);
    let mut manifests = Vec::new();
    for d in found.into_iter().filter(fits) {
        if is_manifest(&d.media_type) {
            manifests.push(d);
        } else if is_index(&d.media_type) {
            let inner: Index = blob::json(dir, &d)?;
            let place = format!("index {}", d.digest);
            match pick(dir, &place, inner.manifests, want, depth + 1) {
                Ok(m) => manifests.push(m),
                Err(ImageError::Refused(e)) if e.contains("no manifest for") => {}
                Err(e) => return Err(e),
            }
        }
    }
    match manifests.len() {
        1 => Ok(manifests.remove(0)),
        0 => Err(ImageError::Refused(format!(
            "{place}: no manifest for {want}"
        ))),
        n => {
            let names: Vec<_> = manifests
                .iter()
                .map(|d| {
                    d.annotations
                        .get(REF_NAME)
                        .cloned()
                        .unwrap_or_else(|| d.digest.clone())
                })
                .collect();
            Err(ImageError::Refused(format!(
                "{place}: {n} manifests for {want} ({}); choose one with --ref NAME",
                names.join(", ")
            )))
        }
    }
}
