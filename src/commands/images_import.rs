//! `images import ROOTFS|OCI-LAYOUT --storage S [--node N] [--ref NAME]`: pack and upload a
//! template ahead of `create`, so a big image does not make `create` run into CRI-O's timeout.
//! It is the very step `create` takes (backend `template`). For a rootfs directory, `create` of
//! a bundle with that directory finds the template by the key over the files' metadata this
//! host remembered, or else by the archive's SHA-256, which names the template. An image layout
//! is unpacked first (`oci`); its template is remembered under the image ID, which `create`
//! finds when the bundle's annotations name that image.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context};

use super::{out, Ctx};
use crate::cli::ImportArgs;
use crate::config::{BackendKind, Config};
use crate::oci::{self, Platform};
use crate::progress::{self, Sink};
use crate::vztmpl::Origin;

pub fn run(ctx: &Ctx, args: &ImportArgs) -> anyhow::Result<()> {
    let cfg = ctx.config()?;
    if cfg.backend == BackendKind::Pct {
        bail!("images import: the pct backend uses no templates (create binds the bundle's rootfs in place)");
    }
    let input = args.rootfs.as_path();
    let image = oci::is_image(input)?;
    if !image && !input.is_dir() {
        bail!("{}: not a rootfs directory", input.display());
    }
    if !image && args.ref_name.is_some() {
        bail!(
            "{}: --ref picks an image in an OCI image layout; this is a rootfs directory",
            input.display()
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
    // Unknown storage, or one without `vztmpl`: refused before anything is unpacked or packed.
    backend.check_storages(&[])?;
    // A layout that names no usable image is refused before anything is logged or unpacked.
    let opened = image
        .then(|| {
            let tmp = std::env::temp_dir();
            oci::open(input, args.ref_name.as_deref(), &Platform::host(), &tmp)
        })
        .transpose()?;
    let tty = std::io::stderr().is_terminal();
    log_line(
        tty,
        &format!(
            "importing {} to {} on {node}",
            input.display(),
            args.storage
        ),
    );
    progress::install(Some(Box::new(Meter::new(tty))));
    let res = if let Some(opened) = opened {
        unpack_and_upload(backend.as_ref(), opened, &init, tty)
    } else {
        backend
            .template(input, &init, Origin::Dir)
            .map_err(anyhow::Error::from)
    };
    progress::install(None);
    if tty {
        eprintln!();
    }
    let volid = res.with_context(|| format!("importing {}", input.display()))?;
    log_line(tty, &format!("done: {volid}"));
    out(volid)
}

/// Unpack the image to a staging directory (removed when done, also on failure) and take the
/// template step on it, keyed by the image ID.
fn unpack_and_upload(
    backend: &dyn crate::backend::Backend,
    opened: oci::Opened,
    init: &Path,
    tty: bool,
) -> anyhow::Result<String> {
    let id = opened.id().to_string();
    log_line(tty, &format!("image {id} ({} layers)", opened.layers()));
    if let Some(volid) = backend.image_template(&id, init).ok().flatten() {
        log_line(tty, "imported before, on the storage");
        return Ok(volid);
    }
    let rootfs = opened.unpack(&std::env::temp_dir())?;
    let volid = backend.template(rootfs.path(), init, Origin::Image(&id))?;
    Ok(volid)
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
