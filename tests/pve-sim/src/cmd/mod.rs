//! The simulated `pct` commands, one file each, and what they share: the task runner and the
//! pre-task checks.

mod create;
mod destroy;
mod exec;
pub mod migrate;
pub mod move_volume;
mod restore;
mod set;
mod show;
mod start;
mod status;
mod stop;
pub mod vzdump;

use proxmox_lxcri::pve::CtConfig;

use crate::cli::{config_key_opts, Command, Opt};
use crate::fail::{Failure, Result};

fn no_opts() -> Vec<(String, Opt)> {
    Vec::new()
}

fn opts(list: &[(&str, Opt)]) -> Vec<(String, Opt)> {
    list.iter().map(|(n, o)| (n.to_string(), *o)).collect()
}

fn create_opts() -> Vec<(String, Opt)> {
    let mut v = config_key_opts();
    v.extend(opts(&[
        ("bwlimit", Opt::Number),
        ("force", Opt::Bool),
        ("ha-managed", Opt::Bool),
        ("ignore-unpack-errors", Opt::Bool),
        ("password", Opt::Str),
        ("pool", Opt::Str),
        ("restore", Opt::Bool),
        ("ssh-public-keys", Opt::Str),
        ("start", Opt::Bool),
        ("storage", Opt::Str),
        ("unique", Opt::Bool),
    ]));
    v
}

fn set_opts() -> Vec<(String, Opt)> {
    let mut v = config_key_opts();
    v.extend(opts(&[
        ("delete", Opt::KeyList),
        ("revert", Opt::KeyList),
        ("digest", Opt::Str),
    ]));
    v
}

fn start_opts() -> Vec<(String, Opt)> {
    opts(&[("debug", Opt::Bool), ("skiplock", Opt::Bool)])
}

fn stop_opts() -> Vec<(String, Opt)> {
    opts(&[("overrule-shutdown", Opt::Bool), ("skiplock", Opt::Bool)])
}

fn shutdown_opts() -> Vec<(String, Opt)> {
    opts(&[
        ("forceStop", Opt::Bool),
        (
            "timeout",
            Opt::Int {
                min: Some(0),
                max: None,
            },
        ),
    ])
}

fn destroy_opts() -> Vec<(String, Opt)> {
    opts(&[
        ("destroy-unreferenced-disks", Opt::Bool),
        ("force", Opt::Bool),
        ("purge", Opt::Bool),
    ])
}

fn status_opts() -> Vec<(String, Opt)> {
    opts(&[("verbose", Opt::Bool)])
}

fn config_opts() -> Vec<(String, Opt)> {
    opts(&[("current", Opt::Bool), ("snapshot", Opt::Str)])
}

fn migrate_opts() -> Vec<(String, Opt)> {
    opts(&[
        ("bwlimit", Opt::Number),
        ("online", Opt::Bool),
        ("restart", Opt::Bool),
        ("target-storage", Opt::Str),
        (
            "timeout",
            Opt::Int {
                min: None,
                max: None,
            },
        ),
    ])
}

fn move_volume_opts() -> Vec<(String, Opt)> {
    opts(&[
        ("bwlimit", Opt::Number),
        ("delete", Opt::Bool),
        ("digest", Opt::Str),
        ("storage", Opt::Str),
        ("target-digest", Opt::Str),
        ("target-vmid", Opt::Str),
        ("target-volume", Opt::Str),
    ])
}

fn exec_opts() -> Vec<(String, Opt)> {
    opts(&[("keep-env", Opt::Bool)])
}

/// The commands pve-sim simulates.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "config",
            args: &["vmid"],
            opts: config_opts,
            run: show::config,
        },
        Command {
            name: "create",
            args: &["vmid", "ostemplate"],
            opts: create_opts,
            run: create::run,
        },
        Command {
            name: "destroy",
            args: &["vmid"],
            opts: destroy_opts,
            run: destroy::run,
        },
        Command {
            name: "exec",
            args: &["vmid", "extra-args"],
            opts: exec_opts,
            run: exec::run,
        },
        Command {
            name: "list",
            args: &[],
            opts: no_opts,
            run: status::list,
        },
        Command {
            name: "migrate",
            args: &["vmid", "target"],
            opts: migrate_opts,
            run: migrate::run,
        },
        Command {
            name: "move-volume",
            args: &["vmid", "volume"],
            opts: move_volume_opts,
            run: move_volume::run,
        },
        Command {
            name: "pending",
            args: &["vmid"],
            opts: no_opts,
            run: show::pending,
        },
        Command {
            name: "restore",
            args: &["vmid", "ostemplate"],
            opts: create_opts,
            run: restore::run,
        },
        Command {
            name: "set",
            args: &["vmid"],
            opts: set_opts,
            run: set::run,
        },
        Command {
            name: "shutdown",
            args: &["vmid"],
            opts: shutdown_opts,
            run: stop::shutdown,
        },
        Command {
            name: "start",
            args: &["vmid"],
            opts: start_opts,
            run: start::run,
        },
        Command {
            name: "status",
            args: &["vmid"],
            opts: status_opts,
            run: status::status,
        },
        Command {
            name: "stop",
            args: &["vmid"],
            opts: stop_opts,
            run: stop::stop,
        },
        Command {
            name: "unlock",
            args: &["vmid"],
            opts: no_opts,
            run: set::unlock,
        },
    ]
}

/// A running task (`fork_worker` in the CLI): its output goes to stdout, warnings are counted.
pub struct Task {
    warnings: usize,
}

impl Task {
    /// A line of task output.
    pub fn log(&self, msg: &str) {
        println!("{msg}");
    }

    /// `log_warn`: `WARN: ` on the task output, counted for `Task finished with N warning(s)!`.
    pub fn warn(&mut self, msg: &str) {
        println!("WARN: {msg}");
        self.warnings += 1;
    }
}

/// Runs a task body. An `Err` is the task error (stderr, exit 255); warnings end with
/// `Task finished with N warning(s)!` on stderr and exit 0; success prints nothing more.
pub fn run_task(body: impl FnOnce(&mut Task) -> std::result::Result<(), String>) -> Result<()> {
    let mut task = Task { warnings: 0 };
    let res = body(&mut task);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match res {
        Err(e) => Err(Failure::task(e)),
        Ok(()) => {
            if task.warnings > 0 {
                eprintln!("Task finished with {} warning(s)!", task.warnings);
            }
            Ok(())
        }
    }
}

/// `check_lock`.
pub fn check_lock(conf: &CtConfig) -> Result<()> {
    match conf.lock() {
        Some(l) => Err(Failure::die(format!("CT is locked ({l})"))),
        None => Ok(()),
    }
}

/// `check_lock` inside a task.
pub fn task_check_lock(conf: &CtConfig) -> std::result::Result<(), String> {
    match conf.lock() {
        Some(l) => Err(format!("CT is locked ({l})")),
        None => Ok(()),
    }
}

/// Turns a `Failure` raised inside a task body into the task's error text.
pub fn in_task<T>(r: Result<T>) -> std::result::Result<T, String> {
    r.map_err(|f| match f {
        Failure::Die { msg, .. } | Failure::Task(msg) => msg,
        Failure::Usage { msg, .. } => msg,
        Failure::Param { errors, .. } => errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// `vmconfig_apply_pending` for a stopped CT: deletes, then pending values become current.
pub fn apply_pending(conf: &mut CtConfig) -> bool {
    if conf.pending.is_empty() && conf.pending_delete.is_empty() {
        return false;
    }
    for d in std::mem::take(&mut conf.pending_delete) {
        conf.remove(d.trim_start_matches('!'));
    }
    for (k, v) in std::mem::take(&mut conf.pending) {
        if k.starts_with("lxc.") {
            conf.lxc.retain(|(rk, _)| *rk != k);
            conf.lxc.push((k, v));
        } else {
            conf.set(&k, &v);
        }
    }
    true
}
