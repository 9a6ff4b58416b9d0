//! pve-sim's `ha-manager`: `add`, `remove`, `set`, `config`, `status` and `crm-command stop` on
//! the sim's `etc/pve/ha` (pve-ha-manager src/PVE/CLI/ha_manager.pm; see `pve_sim::ha`).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = pve_sim::sim::Sim::from_env();
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return ExitCode::from(255);
    }
    match pve_sim::hacli::run(&sim, &args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.trim_end());
            ExitCode::from(255)
        }
    }
}
