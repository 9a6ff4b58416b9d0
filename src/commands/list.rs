//! `list`: every container under the root, as runc prints them.

use serde::Serialize;

use super::state::OciState;
use super::{out, Ctx};
use crate::cli::{ListArgs, ListFormat};

pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let mut states = Vec::new();
    for id in crate::state::list_ids(&ctx.root)? {
        if let Ok(st) = ctx.dir(&id)?.load() {
            states.push(st);
        }
    }
    if args.quiet {
        for s in &states {
            out(&s.id)?;
        }
        return Ok(());
    }
    match args.format {
        ListFormat::Json => {
            #[derive(Serialize)]
            struct Row<'a> {
                #[serde(flatten)]
                st: OciState<'a>,
                vmid: Option<u32>,
            }
            let rows: Vec<Row> = states
                .iter()
                .map(|s| Row {
                    st: OciState::of(s),
                    vmid: s.vmid.map(|v| v.get()),
                })
                .collect();
            out(serde_json::to_string(&rows)?)?;
        }
        ListFormat::Table => {
            out(format!(
                "{:<20} {:<8} {:<10} {:<10} {:<40} CREATED",
                "ID", "PID", "STATUS", "VMID", "BUNDLE"
            ))?;
            for s in &states {
                let vmid = s.vmid.map(|v| v.to_string()).unwrap_or_default();
                out(format!(
                    "{:<20} {:<8} {:<10} {:<10} {:<40} {}",
                    s.id,
                    s.pid(),
                    s.status(),
                    vmid,
                    s.bundle.display(),
                    s.created
                ))?;
            }
        }
    }
    Ok(())
}
