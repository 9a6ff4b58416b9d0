//! The CT config file `/etc/pve/nodes/<node>/lxc/<vmid>.conf` (reference/proxmox.md §2.1).
//!
//! API contract (implement; keep it):
//!
//! * `CtConfig::parse(text) -> Result<CtConfig, ConfigError>`: strict parse of the whole file
//!   (current section, `[pve:pending]`, snapshot sections). `#` lines are the description
//!   (percent-decoded), `lxc.*` lines (both `:` and `=` forms) go to `lxc` in file order except
//!   `lxc.environment.runtime`, which is folded into `env`; other `key: value` lines go to `options`.
//! * `CtConfig::to_conf_string(&self) -> String`: Proxmox's writer order: description lines,
//!   sorted keys, `lxc.environment.runtime:` per env entry, raw `lxc.*` pairs (colon form), then
//!   `[pve:pending]` and snapshots.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtConfig {
    /// Free text, one logical line per `#` line in the file.
    pub description: String,
    /// Normal keys (`arch`, `rootfs`, `mp0`, ...), kept sorted.
    pub options: BTreeMap<String, String>,
    /// `VAR=value` entries (the `env` key; `lxc.environment.runtime` lines in the file).
    pub env: Vec<String>,
    /// Raw `lxc.*` pairs in file order.
    pub lxc: Vec<(String, String)>,
    /// `[pve:pending]` keys and the pending `delete:` list.
    pub pending: BTreeMap<String, String>,
    pub pending_delete: Vec<String>,
    /// Snapshot sections by name.
    pub snapshots: BTreeMap<String, CtConfig>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unable to parse config line {line}: {text}")]
    Syntax { line: usize, text: String },
    #[error("unknown setting '{0}'")]
    UnknownKey(String),
    #[error("{key}: {msg}")]
    Value { key: String, msg: String },
}
