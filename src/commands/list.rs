//! `list`: every container under the root, as runc prints them.

use serde::Serialize;

use super::{out, Ctx};
use crate::cli::{ListArgs, ListFormat};
use crate::state::OciState;

pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    crate::pending::sweep(&ctx.root);
    if args.cluster {
        return cluster(ctx, args);
    }
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

/// `list --cluster`: our CTs on every node, with the container ID where this `--root` knows it.
fn cluster(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    let cts = ctx.backend(&cfg).cluster_cts()?;
    let mut ids = std::collections::BTreeMap::new();
    for id in crate::state::list_ids(&ctx.root)? {
        if let Some(v) = ctx.dir(&id)?.load().ok().and_then(|s| s.vmid) {
            ids.insert(v.get(), id);
        }
    }
    let id_of = |v: u32| ids.get(&v).cloned().unwrap_or_default();
    if args.quiet {
        for c in &cts {
            out(c.vmid)?;
        }
        return Ok(());
    }
    match args.format {
        ListFormat::Json => {
            #[derive(Serialize)]
            struct Row<'a> {
                #[serde(flatten)]
                ct: &'a crate::backend::ClusterCt,
                id: String,
            }
            let rows: Vec<Row> = cts
                .iter()
                .map(|ct| Row {
                    ct,
                    id: id_of(ct.vmid),
                })
                .collect();
            out(serde_json::to_string(&rows)?)?;
        }
        ListFormat::Table => {
            out(format!(
                "{:<10} {:<16} {:<10} {:<24} ID",
                "VMID", "NODE", "STATUS", "NAME"
            ))?;
            for c in &cts {
                out(format!(
                    "{:<10} {:<16} {:<10} {:<24} {}",
                    c.vmid,
                    c.node,
                    c.status,
                    c.name,
                    id_of(c.vmid)
                ))?;
            }
        }
    }
    Ok(())
}
