//! The CT config file `/etc/pve/nodes/<node>/lxc/<vmid>.conf` (pve-container
//! src/PVE/LXC/Config.pm, `parse_pct_config` / `write_pct_config`).
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
//!
//! `CtConfig::parse_lenient` is Proxmox's normal (non-strict) read: problems become warnings with
//! Proxmox's text and the line is skipped, except a bad value of a known line shape, which Proxmox
//! keeps as written.
//!
//! The pending section is kept in `pending` the way Proxmox keeps it: `description` and `env`
//! (NUL-joined) are ordinary entries there, and raw `lxc.*` lines of the pending section are
//! entries named by their key (a repeated pending raw key keeps its last value).
//!
//! `parse.rs` reads the file, `write.rs` writes it, `text.rs` escapes the description.

use std::collections::BTreeMap;

mod parse;
mod text;
mod write;

pub use parse::parse_delete_list;
pub use text::{decode_text, encode_text};

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

/// The key raw env entries are stored under in the file.
pub const ENV_KEY: &str = "lxc.environment.runtime";

impl CtConfig {
    /// A key's current value; `description` and `env` (NUL-joined) included.
    pub fn get(&self, key: &str) -> Option<String> {
        match key {
            "description" => Some(self.description.clone()).filter(|d| !d.is_empty()),
            "env" => Some(self.env.join("\0")).filter(|_| !self.env.is_empty()),
            _ => self.options.get(key).cloned(),
        }
    }

    /// Sets a key; `description` and `env` (NUL-separated) go to their own fields.
    pub fn set(&mut self, key: &str, value: &str) {
        match key {
            "description" => self.description = value.to_string(),
            "env" => {
                self.env = value
                    .split('\0')
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => {
                self.options.insert(key.to_string(), value.to_string());
            }
        }
    }

    /// Removes a key (also `description`, `env`), returning whether it was set.
    pub fn remove(&mut self, key: &str) -> bool {
        match key {
            "description" => !std::mem::take(&mut self.description).is_empty(),
            "env" => !std::mem::take(&mut self.env).is_empty(),
            _ => self.options.remove(key).is_some(),
        }
    }

    /// Values of raw key `key`, in file order.
    pub fn lxc_values(&self, key: &str) -> Vec<&str> {
        self.lxc
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn lock(&self) -> Option<&str> {
        self.options.get("lock").map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_folding_and_env_key() {
        let mut c = CtConfig::parse("arch: amd64\n").unwrap();
        c.set("env", "A=1\0B=2");
        assert_eq!(c.get("env").unwrap(), "A=1\0B=2");
        assert_eq!(
            c.to_conf_string(),
            "arch: amd64\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\n"
        );
    }

    #[test]
    fn helpers() {
        let mut c = CtConfig::default();
        c.set("lock", "create");
        assert_eq!(c.lock(), Some("create"));
        assert!(c.remove("lock"));
        assert!(!c.remove("lock"));
        c.set("description", "d");
        assert_eq!(c.get("description").as_deref(), Some("d"));
        assert_eq!(c.get("memory"), None);
    }
}
