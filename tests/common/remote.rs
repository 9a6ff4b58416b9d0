//! A sim node reached over SSH (and, for the `api` backend, through `pve-sim api`): the runtime
//! is configured for a remote node; an sshd on loopback whose sessions find the sim's `pct` and
//! `pvesm` stands for the node. Fields drop in order: the sim first (its cleanup deletes
//! containers through the node), then the servers.

use std::path::Path;
use std::process::Command;

use super::sshd::Sshd;
use super::{sibling_bin, Sim};

pub struct Remote {
    pub sim: Sim,
    pub sshd: Sshd,
}

/// A wrapper that runs the sim's `bin` with this sim's root and node.
fn wrapper(dir: &Path, name: &str, sim_root: &Path) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexport PVE_SIM_ROOT='{}' PVE_SIM_NODE=\"${{PVE_SIM_NODE:-sim}}\"\nexec '{}' \"$@\"\n",
            sim_root.display(),
            sibling_bin(name).display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&path)
        .status()
        .unwrap();
}

impl Remote {
    /// The `ssh` backend against a sim node; `extra` goes to the config's top level.
    pub fn ssh(name: &str, extra: &str) -> Remote {
        Self::new(
            name,
            &format!("backend = \"ssh\"\nstorage = \"local\"\n{extra}"),
            "",
        )
    }

    /// A sim node whose runtime config has `top` at the top level and `tables` at the end.
    pub fn new(name: &str, top: &str, tables: &str) -> Remote {
        let sim = Sim::with_config(name, top);
        let bin = sim.dir.path().join("node-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for b in ["pct", "pvesm"] {
            wrapper(&bin, b, &sim.sim_root);
        }
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());
        let sshd = Sshd::start(&[("PATH", &path)]);
        let mut conf = std::fs::read_to_string(&sim.config).unwrap();
        conf.push_str(&format!(
            "\n[ssh]\nhost = \"127.0.0.1\"\nport = {}\nidentity = \"{}\"\nknown_hosts = \"{}\"\ntimeout = 10\n{tables}",
            sshd.port,
            sshd.identity.display(),
            sshd.known_hosts.display()
        ));
        std::fs::write(&sim.config, conf).unwrap();
        Remote { sim, sshd }
    }

    /// Templates on the sim's `local` storage (`pvesm list` rows).
    pub fn templates(&self) -> Vec<String> {
        let out = Command::new(self.sim.dir.path().join("node-bin/pvesm"))
            .args(["list", "local", "--content", "vztmpl"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect()
    }
}
