//! A sim node reached over SSH (and, for the `api` backend, through `pve-sim api`): the runtime
//! is configured for a remote node; an sshd on loopback whose sessions find the sim's `pct` and
//! `pvesm` stands for the node. Fields drop in order: the sim first (its cleanup deletes
//! containers through the node), then the servers.

use std::path::Path;
use std::process::Command;

use super::sshd::Sshd;
use super::{sibling_bin, sim_wrapper, Sim};

pub struct Remote {
    pub sim: Sim,
    pub sshd: Sshd,
}

impl Remote {
    /// The `ssh` backend against a sim node, whose storages are a stock node's (`local` for
    /// templates only, the lvmthin `local-lvm` for CT volumes); `extra` goes to the config's top level.
    pub fn ssh(name: &str, extra: &str) -> Remote {
        Self::new(
            name,
            &format!("backend = \"ssh\"\nstrict = false\n{extra}"),
            "",
        )
    }

    /// A sim node whose runtime config has `top` at the top level and `tables` at the end.
    pub fn new(name: &str, top: &str, tables: &str) -> Remote {
        let sim = Sim::with_config(name, top);
        let bin = sim.dir.path().join("node-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for b in ["pct", "pvesm", "pveversion", "pvecm", "pvesh"] {
            sim_wrapper(&bin, b, &sim.sim_root);
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

/// `pve-sim api` on loopback, serving the sim's nodes; killed on drop.
pub struct ApiServer {
    pub url: String,
    pub fingerprint: String,
    child: std::process::Child,
}

pub const TOKEN: &str = "root@pam!ocirt=0a1b2c3d-aaaa-bbbb-cccc-000000000001";

impl ApiServer {
    pub fn start(sim_root: &Path, nodes: &str, tls_dir: &Path) -> ApiServer {
        Self::start_with(sim_root, nodes, tls_dir, &[])
    }

    /// Like `start`, with more `pve-sim api` arguments (`--acl FILE`).
    pub fn start_with(sim_root: &Path, nodes: &str, tls_dir: &Path, extra: &[&str]) -> ApiServer {
        use std::io::BufRead;
        let mut child = Command::new(sibling_bin("pve-sim"))
            .args([
                "api",
                "--listen",
                "127.0.0.1:0",
                "--nodes",
                nodes,
                "--token",
                TOKEN,
            ])
            .arg("--tls-dir")
            .arg(tls_dir)
            .args(["--auth-delay-ms", "0"])
            .args(extra)
            .env("PVE_SIM_ROOT", sim_root)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // listening on https://IP:PORT fingerprint XX:...
        let mut words = line.split_whitespace().skip(2);
        let url = words.next().expect("url").to_string();
        let fingerprint = words.nth(1).expect("fingerprint").to_string();
        ApiServer {
            url,
            fingerprint,
            child,
        }
    }

    /// Take the server away (an unreachable node).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fault knobs, read by the server on every request.
    pub fn faults(sim_root: &Path, json: &str) {
        std::fs::write(sim_root.join("api-faults.json"), json).unwrap();
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct ApiRemote {
    pub sim: Sim,
    pub api: ApiServer,
    pub sshd: Sshd,
    pub token_file: std::path::PathBuf,
    pub nodes: Vec<String>,
}

impl Drop for ApiRemote {
    /// Before the servers go: the runtime's own cleanup, then whatever is left on any node.
    fn drop(&mut self) {
        if let Ok(ids) = std::fs::read_dir(&self.sim.state_root) {
            for e in ids.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.sim.run(&["delete", "--force", &id]);
            }
        }
        for node in &self.nodes {
            for vmid in self.cts_on(node) {
                let v = vmid.to_string();
                let _ = self.pct_on(node, &["stop", &v]);
                let _ = self.pct_on(node, &["destroy", &v, "--force", "1", "--purge", "1"]);
            }
        }
    }
}

impl ApiRemote {
    /// The `api` backend against a sim cluster of `nodes` (comma list; the runtime's node is
    /// `node`); `extra` goes to the config's top level.
    pub fn new(name: &str, nodes: &str, node: &str, extra: &str) -> ApiRemote {
        Self::with_api_args(name, nodes, node, extra, &[])
    }

    /// Like `new`, with more `pve-sim api` arguments (`--acl FILE`).
    pub fn with_api_args(
        name: &str,
        nodes: &str,
        node: &str,
        extra: &str,
        api_args: &[&str],
    ) -> ApiRemote {
        let strict = if extra.contains("strict =") {
            ""
        } else {
            "strict = false\n"
        };
        let top = format!("backend = \"api\"\nstorage = \"local\"\n{strict}{extra}");
        let Remote { sim, sshd } = Remote::new(name, &top, "");
        let conf = std::fs::read_to_string(&sim.config)
            .unwrap()
            .replace("node = \"sim\"\n", &format!("node = \"{node}\"\n"));
        std::fs::write(&sim.config, conf).unwrap();
        let tls = sim.dir.path().join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        let api = ApiServer::start_with(&sim.sim_root, nodes, &tls, api_args);
        let token_file = sim.dir.path().join("token");
        std::fs::write(&token_file, TOKEN).unwrap();
        Command::new("chmod")
            .arg("600")
            .arg(&token_file)
            .status()
            .unwrap();
        let mut conf = std::fs::read_to_string(&sim.config).unwrap();
        conf.push_str(&format!(
            "\n[api]\nurl = \"{}\"\ntoken_file = \"{}\"\nfingerprint = \"{}\"\ntimeout = 20\ntask_timeout = 120\n",
            api.url.trim_end_matches('/'),
            token_file.display(),
            api.fingerprint
        ));
        std::fs::write(&sim.config, conf).unwrap();
        ApiRemote {
            sim,
            api,
            sshd,
            token_file,
            nodes: nodes.split(',').map(String::from).collect(),
        }
    }

    /// The sim's `pct` as run on `node`.
    pub fn pct_on(&self, node: &str, args: &[&str]) -> std::process::Output {
        Command::new(sibling_bin("pct"))
            .args(args)
            .env("PVE_SIM_ROOT", &self.sim.sim_root)
            .env("PVE_SIM_NODE", node)
            .output()
            .unwrap()
    }

    /// VMIDs of the CTs on `node`.
    pub fn cts_on(&self, node: &str) -> Vec<u32> {
        let out = self.pct_on(node, &["list"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    pub fn faults(&self, json: &str) {
        ApiServer::faults(&self.sim.sim_root, json);
    }
}
