//! pve-sim's `pct`: Proxmox VE's container CLI as seen from outside (argument parsing, output,
//! error strings, exit statuses, the config file format and its lock), running every CT as a
//! real LXC container. See README.md for what differs from a real node and why.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use pve_sim::fail::Failure;
use pve_sim::sim::Sim;
use pve_sim::{cli, cmd, ct};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(ct::SUPERVISOR_ENV).is_some() {
        ct::supervisor_main(&args);
    }
    let sim = Sim::from_env();
    sim.log_call(&args);
    ExitCode::from(run(&sim, &args))
}

fn run(sim: &Sim, args: &[String]) -> u8 {
    let commands = cmd::commands();
    let Some(first) = args.first() else {
        cli::print_overview("no command specified", &commands);
        return 255;
    };
    // `run_cli_handler` fixes PATH; it leaks into `pct exec` with --keep-env.
    std::env::set_var("PATH", "/sbin:/bin:/usr/sbin:/usr/bin");
    if !nix::unistd::geteuid().is_root() {
        return Failure::die("please run as root").report();
    }
    let name = cli::expand(first).unwrap_or(first);
    let Some(command) = commands.iter().find(|c| c.name == name) else {
        if cli::ALL_COMMANDS.contains(&name) {
            return Failure::die(format!("pve-sim: 'pct {name}' is not simulated")).report();
        }
        cli::print_overview(&format!("unknown command 'pct {first}'"), &commands);
        return 255;
    };
    if let Some(e) = &sim.version_error {
        return Failure::die(e.clone()).report();
    }
    if let Err(e) = sim.ensure_layout() {
        return Failure::die(format!(
            "pve-sim: cannot create {}: {e}",
            sim.root.display()
        ))
        .report();
    }
    let result =
        cli::parse_params(command, &args[1..], &sim.version).and_then(|p| (command.run)(sim, &p));
    match result {
        Ok(()) => 0,
        Err(f) => f.report(),
    }
}
