//! pve-sim's `pvesh get <path> --output-format json` for the cluster-wide reads (see
//! `pve_sim::api::pvesh`).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(pve_sim::api::pvesh::main(&args));
}
