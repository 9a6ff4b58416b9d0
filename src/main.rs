//! proxmox-lxcri: parse runc's command line, set up logging, dispatch, and turn an error into
//! one line on stderr and exit status 1.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use clap::Parser;
use proxmox_lxcri::cli::{Cli, Command};
use proxmox_lxcri::commands::{self, Ctx};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything opens a file: an fd opened now could take a preserved slot that the
    // caller left empty, and the shim would keep it (our container lock, say) as the
    // container's.
    if let Err(e) = check_preserved_fds(&cli) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = proxmox_lxcri::logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        eprintln!(
            "proxmox-lxcri: log {}: {e}",
            cli.global
                .log
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        );
        return ExitCode::FAILURE;
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}");
            log::error!("{msg}");
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let ctx = Ctx::new(&cli.global);
    let Some(cmd) = &cli.command else {
        if cli.global.version {
            commands::out(format!(
                "proxmox-lxcri version {}\nspec: 1.2.0",
                env!("CARGO_PKG_VERSION")
            ))?;
            return Ok(());
        }
        anyhow::bail!("no command given; see proxmox-lxcri --help");
    };
    commands::audit_op::run(&ctx, cmd, || dispatch(&ctx, cmd))
}

fn dispatch(ctx: &Ctx, cmd: &Command) -> anyhow::Result<()> {
    match cmd {
        Command::Create(a) => commands::create::run(ctx, a, proxmox_lxcri::logging::fd()),
        Command::Start(a) => commands::start::run(ctx, &a.id),
        Command::State(a) => commands::state::run(ctx, &a.id),
        Command::Kill(a) => commands::kill::run(ctx, a),
        Command::Events(a) => commands::events::run(ctx, a),
        Command::Delete(a) => commands::delete::run(ctx, a),
        Command::List(a) => commands::list::run(ctx, a),
        Command::Metrics(a) => commands::metrics::run(ctx, a),
        Command::Features => commands::features::run(),
        Command::Exec(a) => commands::exec::run(ctx, a, proxmox_lxcri::logging::fd()),
        Command::Update(a) => commands::update::run(ctx, a),
        Command::Pause(a) => commands::pause::run(ctx, &a.id, true),
        Command::Resume(a) => commands::pause::run(ctx, &a.id, false),
        Command::Images(a) => match &a.action {
            Some(proxmox_lxcri::cli::ImagesAction::Import(i)) => {
                commands::images_import::run(ctx, i)
            }
            None => commands::images::run(ctx, a),
        },
        Command::Doctor(a) => commands::doctor::run(ctx, a),
        Command::Gc(a) => commands::gc::run(ctx, a),
        Command::Migrate(a) => commands::migrate::run(ctx, a),
        Command::Evacuate(a) => commands::evacuate::run(ctx, a),
        Command::Rebalance(a) => commands::rebalance::run(ctx, a),
        Command::Backup(a) => commands::backup::run(ctx, a),
        Command::Backups(a) => commands::backups::run(ctx, a),
        Command::Restore(a) => commands::restore::run(ctx, a, proxmox_lxcri::logging::fd()),
        Command::Completion(a) => commands::completion::run(a.shell),
    }
}

/// Every fd `--preserve-fds N` names (3 .. 3+N) must be open.
fn check_preserved_fds(cli: &Cli) -> Result<(), String> {
    let n = match &cli.command {
        Some(Command::Create(a)) => a.preserve_fds,
        Some(Command::Exec(a)) => a.preserve_fds,
        _ => 0,
    };
    for fd in 3..3 + n as i32 {
        // SAFETY: F_GETFD only asks about the fd.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!("--preserve-fds {n}: fd {fd} is not open"));
        }
    }
    Ok(())
}
