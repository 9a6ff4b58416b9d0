//! pve-sim's `pveversion [--verbose]`: the simulated node's release and package versions in
//! pve-manager's format (bin/pveversion, package list from PVE/API2/APT.pm `versions`).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use pve_sim::sim::Sim;
use pve_sim::version::{self, NodeVersion};

fn usage() -> ExitCode {
    eprintln!("USAGE: pveversion [--verbose]");
    // Perl's `exit(-1)`.
    ExitCode::from(255)
}

fn main() -> ExitCode {
    let mut verbose = false;
    for a in std::env::args().skip(1) {
        // Getopt::Long: `--x` or `-x`, any unique prefix of `verbose`; no positionals.
        match a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
            Some(name) if !name.is_empty() && "verbose".starts_with(&name.to_ascii_lowercase()) => {
                verbose = true
            }
            Some(name) if !name.is_empty() => {
                eprintln!("Unknown option: {name}");
                return usage();
            }
            _ => return usage(),
        }
    }
    let sim = Sim::from_env();
    if let Some(e) = &sim.version_error {
        eprintln!("{e}");
        return ExitCode::from(255);
    }
    print!("{}", report(&sim.version, &kernel(), verbose));
    ExitCode::SUCCESS
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// What `pveversion` prints on node `v` running `kernel`.
fn report(v: &NodeVersion, kernel: &str, verbose: bool) -> String {
    let text = format!("{}/{}", v.version(), v.repoid());
    if !verbose {
        return format!("pve-manager/{text} (running kernel: {kernel})\n");
    }
    // proxmox-ve and pve-manager first, the rest sorted by name.
    format!(
        "proxmox-ve: {} (running kernel: {kernel})\n\
         pve-manager: {} (running version: {text})\n\
         lxc-pve: {}\n\
         lxcfs: {}\n\
         pve-container: {}\n",
        v.proxmox_ve,
        v.version(),
        v.lxc_pve,
        v.lxcfs,
        version::fmt_ver(v.container),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_pve_manager() {
        let v = NodeVersion::new("9.1.2", None).unwrap();
        let short = report(&v, "6.17.2-1-pve", false);
        assert_eq!(
            short,
            format!(
                "pve-manager/9.1.2/{} (running kernel: 6.17.2-1-pve)\n",
                v.repoid()
            )
        );
        let long = report(&NodeVersion::new("9.0.11", None).unwrap(), "k", true);
        let lines: Vec<&str> = long.lines().collect();
        assert_eq!(lines[0], "proxmox-ve: 9.0.0 (running kernel: k)");
        assert!(lines[1].starts_with("pve-manager: 9.0.11 (running version: 9.0.11/"));
        assert!(lines.contains(&"pve-container: 6.0.13"), "{long}");
    }
}
