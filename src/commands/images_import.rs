//! `images import ROOTFS --storage S [--node N]`: pack and upload a rootfs template ahead of
//! `create`, so a big image does not make `create` run into CRI-O's timeout. It is the very step
//! `create` takes (backend `template`), so `create` of a bundle with the same rootfs directory
//! and the same storage finds the template: by the key over the files' metadata this host
//! remembered, or else by the archive's SHA-256, which names the template.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};

use super::{out, Ctx};
use crate::cli::ImportArgs;
use crate::config::{BackendKind, Config};
use crate::progress::{self, Sink};

pub fn run(ctx: &Ctx, args: &ImportArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    if cfg.backend == BackendKind::Pct {
        bail!("images import: the pct backend uses no templates (create binds the bundle's rootfs in place)");
    }
    let rootfs = args.rootfs.as_path();
    if !rootfs.is_dir() {
        bail!("{}: not a rootfs directory", rootfs.display());
    }
    if rootfs.join("index.json").is_file() && rootfs.join("blobs").is_dir() {
        bail!(
            "{}: an OCI image layout; import its unpacked rootfs directory",
            rootfs.display()
        );
    }
    let node = match &args.node {
        Some(n) => n.clone(),
        None if cfg.node == "auto" => {
            bail!("images import: node = \"auto\": name the node with --node")
        }
        None => cfg.node_name(),
    };
    let cfg = Config {
        node: node.clone(),
        storage: args.storage.clone(),
        ..cfg
    };
    let init = cfg.init_binary();
    let backend = ctx.backend(&cfg);
    // Unknown storage, or one without `vztmpl`: refused before anything is packed.
    backend.check_storages(&[])?;
    let tty = std::io::stderr().is_terminal();
    log_line(
        tty,
        &format!(
            "importing {} to {} on {node}",
            rootfs.display(),
            args.storage
        ),
    );
    progress::install(Some(Box::new(Meter::new(tty))));
    let res = backend.template(rootfs, &init);
    progress::install(None);
    if tty {
        eprintln!();
    }
    let volid = res.with_context(|| format!("importing {}", rootfs.display()))?;
    log_line(tty, &format!("done: {volid}"));
    out(volid)
}

fn log_line(tty: bool, text: &str) {
    if !tty {
        eprintln!("{text}");
    }
}

/// On a terminal one line redrawn in place (redrawn only when the percent or phase changes);
/// otherwise one plain line as each phase starts.
struct Meter {
    tty: bool,
    phase: String,
    shown: Option<u64>,
}

impl Meter {
    fn new(tty: bool) -> Self {
        Meter {
            tty,
            phase: String::new(),
            shown: None,
        }
    }
}

impl Sink for Meter {
    fn update(&mut self, phase: &str, done: u64, total: u64) {
        let new_phase = phase != self.phase;
        if new_phase {
            self.phase = phase.to_string();
            self.shown = None;
        }
        if !self.tty {
            if new_phase {
                let mib = total as f64 / (1024.0 * 1024.0);
                eprintln!("{phase} ({mib:.1} MiB)");
            }
            return;
        }
        let mark = (done.min(total) * 100)
            .checked_div(total)
            .unwrap_or(done >> 20);
        if self.shown == Some(mark) {
            return;
        }
        self.shown = Some(mark);
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{}\x1b[K", progress::line(phase, done, total));
        let _ = e.flush();
    }
}
