//! A network namespace of a test's, where its sim node keeps its bridges (the sim's
//! `pve-sim-netns` file; tests/pve-sim/src/netns.rs). Removed on drop, with its bridges.

use std::path::Path;
use std::process::{Command, Output};

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(test: &str, sim_root: &Path) -> Netns {
        let slot = std::env::var("PROXMOX_LXCRI_TEST_SLOT").unwrap_or_default();
        let name = format!("pvesim-{test}-{slot}");
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        let ns = Netns { name };
        ns.ip(&["netns", "add", &ns.name]);
        ns.ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        std::fs::write(
            sim_root.join("pve-sim-netns"),
            format!("/run/netns/{}\n", ns.name),
        )
        .unwrap();
        ns
    }

    pub fn ip(&self, args: &[&str]) {
        let s = Command::new("ip").args(args).status().unwrap();
        assert!(s.success(), "ip {args:?}");
    }

    /// A plain bridge like Proxmox's `vmbrN`.
    pub fn bridge(&self, name: &str) {
        self.ip(&["-n", &self.name, "link", "add", name, "type", "bridge"]);
        self.ip(&["-n", &self.name, "link", "set", name, "up"]);
    }

    /// The bridge `port` is on.
    pub fn master(&self, port: &str) -> String {
        let o = Command::new("ip")
            .args(["-n", &self.name, "-j", "link", "show", "dev", port])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v[0]["master"].as_str().unwrap_or_default().to_string()
    }

    /// `nft ARGS` in the namespace.
    pub fn nft(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "nft"])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
