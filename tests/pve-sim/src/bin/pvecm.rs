//! pve-sim's `pvecm status`: the quorum and membership of the sim's cluster in
//! `corosync-quorumtool -siH`'s format (pve-cluster src/PVE/CLI/pvecm.pm; see
//! `pve_sim::cluster`).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use pve_sim::sim::Sim;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("status") || args.len() > 1 {
        eprintln!("pve-sim: only 'pvecm status' is simulated");
        return ExitCode::from(255);
    }
    let sim = Sim::from_env();
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return ExitCode::from(255);
    }
    let date = std::process::Command::new("date")
        .arg("+%a %b %e %H:%M:%S %Y")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    match pve_sim::cluster::pvecm_status(&sim, &date) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(255)
        }
    }
}
