//! `pve-sim api …`: the simulated Proxmox VE REST API (see README.md, "The API server").
//! The other subcommands are the API's task workers, not meant to be run by hand.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(pve_sim::api::main(args));
}
