//! Not a subcommand: the wrapper of every invocation. It leaves the audit line each changing
//! subcommand leaves (docs/audit.md; read-only ones such as state, list, features, doctor, dry
//! runs and listings leave none), and counts and times every subcommand but `metrics` in the
//! operation metrics (docs/monitoring.md), which it merges into the state root's file at the end.

use crate::audit::{self, Entry};
use crate::cli::{Command, ImagesAction};
use crate::config::Config;
use crate::opstats;

use super::Ctx;

/// The operation `cmd` is audited as, and the container it concerns; None for read-only ones.
pub fn operation(cmd: &Command) -> Option<(&'static str, Option<&str>)> {
    Some(match cmd {
        Command::Create(a) => ("create", Some(a.id.as_str())),
        Command::Start(a) => ("start", Some(a.id.as_str())),
        Command::Kill(a) => ("kill", Some(a.id.as_str())),
        Command::Delete(a) => ("delete", Some(a.id.as_str())),
        Command::Exec(a) => ("exec", Some(a.id.as_str())),
        Command::Update(a) => ("update", Some(a.id.as_str())),
        Command::Pause(a) => ("pause", Some(a.id.as_str())),
        Command::Resume(a) => ("resume", Some(a.id.as_str())),
        Command::Migrate(a) => ("migrate", Some(a.id.as_str())),
        Command::Backup(a) => ("backup", Some(a.id.as_str())),
        Command::Restore(a) => ("restore", Some(a.id.as_str())),
        Command::Evacuate(_) => ("evacuate", None),
        Command::Rebalance(a) if !a.dry_run => ("rebalance", None),
        Command::Gc(a) if !a.dry_run => ("gc", None),
        Command::Images(a) if matches!(a.action, Some(ImagesAction::Import(_))) => {
            ("images-import", None)
        }
        Command::Images(a) if a.prune => ("images-prune", None),
        Command::Backups(a) if a.prune => ("backups-prune", None),
        _ => return None,
    })
}

/// The `subcommand` label of `cmd` in the operation metrics; None for `metrics`, whose own
/// scrape would count itself (and `--listen` runs for as long as it serves), and for the
/// packaging's hidden `completion`.
pub fn subcommand(cmd: &Command) -> Option<&'static str> {
    Some(match cmd {
        Command::Create(_) => "create",
        Command::Start(_) => "start",
        Command::State(_) => "state",
        Command::Kill(_) => "kill",
        Command::Events(_) => "events",
        Command::Delete(_) => "delete",
        Command::List(_) => "list",
        Command::Metrics(_) | Command::Completion(_) => return None,
        Command::Features => "features",
        Command::Exec(_) => "exec",
        Command::Update(_) => "update",
        Command::Pause(_) => "pause",
        Command::Resume(_) => "resume",
        Command::Images(a) if matches!(a.action, Some(ImagesAction::Import(_))) => "images-import",
        Command::Images(_) => "images",
        Command::Doctor(_) => "doctor",
        Command::Gc(_) => "gc",
        Command::Migrate(_) => "migrate",
        Command::Evacuate(_) => "evacuate",
        Command::Rebalance(_) => "rebalance",
        Command::Backup(_) => "backup",
        Command::Backups(_) => "backups",
        Command::Restore(_) => "restore",
    })
}

/// Run `f` (the command), append its audit line and count it; neither changes the outcome.
pub fn run(ctx: &Ctx, cmd: &Command, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let res = audited(ctx, cmd, f);
    if let Some(sub) = subcommand(cmd) {
        let failure = res.as_ref().err().map(super::failure_reason::of);
        opstats::operation(sub, t0.elapsed(), failure);
    }
    opstats::flush();
    res
}

fn audited(ctx: &Ctx, cmd: &Command, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let Some((op, id)) = operation(cmd) else {
        return f();
    };
    let config = ctx.config().ok();
    // Stamped before the work: the time the operation was asked for.
    let mut entry = Entry::now(op, "");
    let before = id.and_then(|id| ctx.dir(id).ok()?.load().ok());
    let res = f();
    // After: `create` made the state, `migrate` moved the node; `delete` removed it.
    let after = id.and_then(|id| ctx.dir(id).ok()?.load().ok());
    let st = after.or(before);
    let cfg: Option<&Config> = st.as_ref().map(|s| &s.config).or(config.as_ref());
    entry.id = id.map(str::to_string);
    entry.vmid = st.as_ref().and_then(|s| s.vmid).map(u32::from);
    if let Some(c) = cfg {
        entry.backend = c.backend.name().to_string();
        entry.node = Some(c.node_name());
    }
    if let Command::Evacuate(a) = cmd {
        entry.node = Some(a.node.clone());
    }
    entry.upid = audit::take_upids();
    let msg = res.as_ref().err().map(|e| format!("{e:#}"));
    entry.outcome(msg.as_deref());
    // A container's operations act with the configuration it was created with (its state's),
    // podman's cleanup calling without the caller's `--config` among them; so do their audit
    // lines. Others take this call's; when that cannot be read, nothing could be done and
    // nothing is audited.
    let audit_cfg = st.map(|s| s.config.audit).or(config.map(|c| c.audit));
    if let Some(a) = audit_cfg {
        audit::record(&a, &entry);
    }
    res
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::operation;
    use crate::cli::Cli;

    fn op(argv: &[&str]) -> Option<&'static str> {
        let cli = Cli::try_parse_from(argv).unwrap();
        operation(cli.command.as_ref().unwrap()).map(|(op, _)| op)
    }

    #[test]
    fn changes_are_audited_listings_are_not() {
        assert_eq!(op(&["x", "delete", "c1"]), Some("delete"));
        assert_eq!(op(&["x", "state", "c1"]), None);
        assert_eq!(op(&["x", "images"]), None);
        assert_eq!(op(&["x", "images", "--prune"]), Some("images-prune"));
        assert_eq!(
            op(&["x", "images", "import", "/r", "--storage", "local"]),
            Some("images-import")
        );
        assert_eq!(op(&["x", "gc", "--dry-run"]), None);
        assert_eq!(op(&["x", "metrics"]), None);
    }

    #[test]
    fn every_subcommand_is_counted_but_metrics() {
        let sub = |argv: &[&str]| {
            let cli = Cli::try_parse_from(argv).unwrap();
            super::subcommand(cli.command.as_ref().unwrap())
        };
        assert_eq!(sub(&["x", "state", "c1"]), Some("state"));
        assert_eq!(sub(&["x", "list"]), Some("list"));
        assert_eq!(
            sub(&["x", "images", "import", "/r", "--storage", "local"]),
            Some("images-import")
        );
        assert_eq!(sub(&["x", "metrics"]), None);
    }
}
