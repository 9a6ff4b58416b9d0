//! `pct exec <vmid> [--keep-env B] -- <command...>`: `exec(2)` into `lxc-attach`, so the exit
//! status is the command's (pve-container src/PVE/CLI/pct.pm `exec`).

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::cli::Params;
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, store};

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    store::load(sim, vmid)?;
    if !ct::is_running(sim, vmid) {
        return Err(Failure::die(format!("container '{vmid}' not running!")));
    }
    if p.extra.is_empty() {
        // Proxmox dies without a newline here, so Perl appends the location.
        return Err(Failure::die(
            "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 254.",
        ));
    }
    let keep_env = p.get("keep-env") != Some("0");
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");
    let err = Command::new("lxc-attach")
        .args([
            "-n",
            &vmid.to_string(),
            "-P",
            &sim.lxc_path().to_string_lossy(),
        ])
        .arg(if keep_env {
            "--keep-env"
        } else {
            "--clear-env"
        })
        .arg("--")
        .args(&p.extra)
        .exec();
    Err(Failure::die(format!("exec failed: {err}")))
}
