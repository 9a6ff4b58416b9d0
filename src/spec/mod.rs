//! config.json -> CT config, without side effects (design.md §3, docs/mapping.md).
//!
//! `map(spec, ctx)` reads only its arguments: no filesystem, no clock, no environment. Every field it
//! cannot express is either an error naming the field (strict) or a warning in `Mapped::warnings`.

use std::path::PathBuf;

use crate::pve::CtConfig;

/// How the CT's pid 1 is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// pid 1 is our idle init, bind-mounted read-only from `host_path` to `ct_path` (absolute inside
    /// the CT); the workload is started later by the shim, which applies `process` itself.
    Init { host_path: PathBuf, ct_path: String },
    /// pid 1 is `process.args` itself (backends without a local shim, e.g. the REST API).
    Entrypoint,
}

/// Everything the mapping needs besides config.json.
#[derive(Debug, Clone)]
pub struct MapContext {
    /// The OCI container id.
    pub id: String,
    /// Absolute bundle directory; a relative `root.path` is resolved against it.
    pub bundle: PathBuf,
    pub launch: Launch,
    pub strict: bool,
    pub unprivileged: bool,
    /// `arch` of the CT (`amd64`, `arm64`, ...).
    pub arch: String,
}

/// The result: the CT config to create, plus what was not expressed (non-strict mode).
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub ct: CtConfig,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// `field` is the config.json path, e.g. `linux.resources.memory.limit`.
    #[error("config.json: {field}: {reason}")]
    Unsupported { field: String, reason: String },
    #[error("config.json: {field}: {reason}")]
    Invalid { field: String, reason: String },
}
