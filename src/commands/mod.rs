//! One module per subcommand; each takes the parsed arguments and a `Ctx`.

pub mod audit_op;
pub mod backup;
pub mod backups;
pub mod completion;
pub mod create;
mod create_checks;
pub mod create_ha;
#[cfg(test)]
mod create_tests;
pub mod create_volumes;
pub mod delete;
#[cfg(test)]
mod delete_tests;
pub mod doctor;
pub mod evacuate;
pub mod events;
pub mod exec;
pub mod failure_reason;
pub mod features;
pub mod gc;
pub mod images;
pub mod images_import;
pub mod kill;
pub mod list;
pub mod metrics;
pub mod migrate;
pub mod pause;
pub mod rebalance;
pub mod restore;
pub mod start;
pub mod state;
pub mod update;

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::cli::{GlobalOpts, DEFAULT_ROOT};
use crate::config::Config;
use crate::state::ContainerDir;

/// Builds the backend a configuration names: `backend::from_config`, or a stand-in in tests.
pub type BackendFor = Box<dyn Fn(&Config) -> Box<dyn Backend>>;

/// What every command may need: the state root, (loaded on demand) the configuration, and the
/// one constructor of backends.
pub struct Ctx {
    pub root: PathBuf,
    config_path: Option<PathBuf>,
    backend_for: BackendFor,
}

impl Ctx {
    pub fn new(g: &GlobalOpts) -> Ctx {
        let root = g.root.clone().unwrap_or_else(default_root);
        crate::backend::node_addr::cache_under(&root);
        crate::opstats::set_root(&root);
        Ctx {
            root,
            config_path: g.config.clone(),
            backend_for: Box::new(crate::backend::from_config),
        }
    }

    /// A context whose commands reach nodes through `backend_for` (unit tests of the commands).
    pub fn with_backends(root: PathBuf, config_path: PathBuf, backend_for: BackendFor) -> Ctx {
        Ctx {
            root,
            config_path: Some(config_path),
            backend_for,
        }
    }

    /// The backend for `cfg`'s node.
    pub fn backend(&self, cfg: &Config) -> Box<dyn Backend> {
        (self.backend_for)(cfg)
    }

    pub fn config(&self) -> anyhow::Result<Config> {
        Ok(Config::load(self.config_path.as_deref())?)
    }

    /// The configuration file in use, as fixes name it.
    pub fn config_path_shown(&self) -> String {
        let from_env = std::env::var_os(crate::config::ENV_VAR).filter(|v| !v.is_empty());
        match (&self.config_path, from_env) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(p)) => PathBuf::from(p).display().to_string(),
            (None, None) => crate::config::DEFAULT_PATH.to_string(),
        }
    }

    /// Who this runtime is, as the CTs it makes say in their description: the host and the
    /// state root, without symlinks (`/var/run` and `/run` are one root).
    pub fn owner(&self, cfg: &Config) -> crate::mapping::Owner {
        let root = std::fs::canonicalize(&self.root)
            .or_else(|_| std::path::absolute(&self.root))
            .unwrap_or_else(|_| self.root.clone());
        crate::mapping::Owner {
            host: cfg.host_id(),
            root: root.display().to_string(),
        }
    }

    pub fn dir(&self, id: &str) -> anyhow::Result<ContainerDir> {
        Ok(ContainerDir::new(&self.root, id)?)
    }
}

/// runc's rule: `/run/<name>` for root, `$XDG_RUNTIME_DIR/<name>` otherwise (empty means unset).
pub fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    match xdg {
        Some(x) if !nix::unistd::geteuid().is_root() => Path::new(&x).join("proxmox-lxcri"),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

/// Print a line on stdout; a reader that went away (`state ID | grep -q`) is not an error.
pub fn out(text: impl std::fmt::Display) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A fault in what the caller gave (an argument, the bundle) that no library error type
/// names: counted as `bad_input` (src/commands/failure_reason.rs).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Parse a signal as runc does: a number, `KILL` or `SIGKILL` (any case).
pub fn parse_signal(s: &str) -> anyhow::Result<nix::sys::signal::Signal> {
    use nix::sys::signal::Signal;
    let bad = || BadInput(format!("invalid signal {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad().into());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn signals_by_number_and_name() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        for bad in ["0x9", "NOPE", "999", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
