//! `doctor`: check what the configured backend needs, one line per check (or `--json`); exit
//! status 0 only when nothing blocks.

use crate::cli::DoctorArgs;
use crate::doctor::{self, Check};

use super::{out, Ctx};

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<()> {
    let config_path = ctx.config_path_shown();
    let checks = match ctx.config() {
        Ok(cfg) => doctor::run(&cfg, &config_path, &ctx.root),
        Err(e) => vec![Check::fail(
            "config",
            format!("{e:#}"),
            format!("correct {config_path} (man 5 proxmox-lxcri-config lists every key)"),
        )],
    };
    if args.json {
        out(serde_json::to_string_pretty(&checks)?)?;
    } else {
        for c in &checks {
            out(c.line())?;
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        anyhow::bail!("doctor: {failed} of {} checks failed", checks.len());
    }
    Ok(())
}
