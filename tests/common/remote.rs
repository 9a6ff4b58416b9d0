//! A sim node, or a cluster of sim nodes, reached over SSH (and, for the `api` backend, through
//! `pve-sim api`): the runtime is configured for a remote node; each node has its own sshd at
//! its own address (`pve-sim sshd`, node `i` at `127.0.0.{i+1}`, one port for all), whose
//! sessions run the sim's tools as that node. Drop brings every node back up, deletes the
//! containers and whatever CTs are left on any node, then stops the servers.

use std::path::Path;
use std::process::Command;

use super::sshd::NodeSshds;
use super::{sibling_bin, sim_wrapper, Sim};

pub struct Remote {
    pub sim: Sim,
    /// Every node's sshd; `sshd.port`, `identity`, `known_hosts` serve all nodes.
    pub sshd: NodeSshds,
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.sshd.all_up();
        clean_nodes(&self.sim, &self.sshd);
    }
}

/// The runtime's own cleanup, then whatever is left on any node.
fn clean_nodes(sim: &Sim, sshd: &NodeSshds) {
    if let Ok(ids) = std::fs::read_dir(&sim.state_root) {
        for e in ids.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !id.starts_with('.') {
                let _ = sim.run(&["delete", "--force", &id]);
            }
        }
    }
    for l in &sshd.nodes {
        for vmid in cts_on(sim, &l.node) {
            let v = vmid.to_string();
            let _ = pct_on(sim, &l.node, &["stop", &v]);
            let _ = pct_on(
                sim,
                &l.node,
                &["destroy", &v, "--force", "1", "--purge", "1"],
            );
        }
    }
}

/// The sim's `pct` as run on `node`.
fn pct_on(sim: &Sim, node: &str, args: &[&str]) -> std::process::Output {
    Command::new(sibling_bin("pct"))
        .args(args)
        .env("PVE_SIM_ROOT", &sim.sim_root)
        .env("PVE_SIM_NODE", node)
        .output()
        .unwrap()
}

/// VMIDs of the CTs on `node`.
fn cts_on(sim: &Sim, node: &str) -> Vec<u32> {
    let out = pct_on(sim, node, &["list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
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

    /// The `ssh` backend against a sim cluster of `nodes` (the first is the runtime's node and
    /// `[ssh] host`; the others sorted by name), each with its own sshd at its own address;
    /// `extra` goes to the config's top level (`node = "auto"` there picks the node).
    pub fn cluster(name: &str, nodes: &[&str], extra: &str) -> Remote {
        let (sim, sshd) = parts(
            name,
            nodes,
            &format!("backend = \"ssh\"\nstrict = false\n{extra}"),
            "",
        );
        Remote { sim, sshd }
    }

    /// A sim node whose runtime config has `top` at the top level and `tables` at the end.
    pub fn new(name: &str, top: &str, tables: &str) -> Remote {
        let (sim, sshd) = parts(name, &["sim"], top, tables);
        Remote { sim, sshd }
    }

    /// The cluster's nodes, the first first.
    pub fn nodes(&self) -> Vec<String> {
        self.sshd.nodes.iter().map(|l| l.node.clone()).collect()
    }

    /// The sim's `pct` as run on `node`.
    pub fn pct_on(&self, node: &str, args: &[&str]) -> std::process::Output {
        pct_on(&self.sim, node, args)
    }

    /// VMIDs of the CTs on `node`.
    pub fn cts_on(&self, node: &str) -> Vec<u32> {
        cts_on(&self.sim, node)
    }

    /// `pve-sim node down NODE`: offline, its CTs killed, its SSH silent.
    pub fn down(&self, node: &str) {
        self.sshd.down(node);
    }

    /// `pve-sim node up NODE`.
    pub fn up(&self, node: &str) {
        self.sshd.up(node);
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

/// A sim (runtime config: `top`, then `tables`; `node` = the first of `nodes`) and one sshd per
/// node, `[ssh] host` the first node's address.
fn parts(name: &str, nodes: &[&str], top: &str, tables: &str) -> (Sim, NodeSshds) {
    let sim = Sim::with_config(name, top);
    let bin = sim.dir.path().join("node-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for b in [
        "pct",
        "pvesm",
        "pveversion",
        "pvecm",
        "pvesh",
        "ha-manager",
        "vzdump",
    ] {
        sim_wrapper(&bin, b, &sim.sim_root);
    }
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());
    let sshd = NodeSshds::start(&sim.sim_root, nodes, &[("PATH", &path)]);
    let mut conf = std::fs::read_to_string(&sim.config).unwrap();
    if nodes[0] != "sim" && !top.contains("node = ") {
        conf = conf.replace("node = \"sim\"\n", &format!("node = \"{}\"\n", nodes[0]));
    }
    conf.push_str(&format!(
        "\n[ssh]\nhost = \"{}\"\nport = {}\nidentity = \"{}\"\nknown_hosts = \"{}\"\ntimeout = 10\n{tables}",
        sshd.nodes[0].addr,
        sshd.port,
        sshd.identity.display(),
        sshd.known_hosts.display()
    ));
    std::fs::write(&sim.config, conf).unwrap();
    (sim, sshd)
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
    /// Every node's sshd (the workload's `pct exec`, uploads).
    pub sshd: NodeSshds,
    pub token_file: std::path::PathBuf,
    pub nodes: Vec<String>,
}

impl Drop for ApiRemote {
    /// Before the servers go: every node up, the runtime's own cleanup, then whatever is left
    /// on any node.
    fn drop(&mut self) {
        self.sshd.all_up();
        clean_nodes(&self.sim, &self.sshd);
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
        let list: Vec<&str> = nodes.split(',').collect();
        let (sim, sshd) = parts(name, &list, &top, "");
        let conf = std::fs::read_to_string(&sim.config).unwrap().replace(
            &format!("node = \"{}\"\n", list[0]),
            &format!("node = \"{node}\"\n"),
        );
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
        pct_on(&self.sim, node, args)
    }

    /// VMIDs of the CTs on `node`.
    pub fn cts_on(&self, node: &str) -> Vec<u32> {
        cts_on(&self.sim, node)
    }

    /// `pve-sim node down NODE`: offline (the API answers `595 No route to host` for it), its
    /// CTs killed, its SSH silent.
    pub fn down(&self, node: &str) {
        self.sshd.down(node);
    }

    /// `pve-sim node up NODE`.
    pub fn up(&self, node: &str) {
        self.sshd.up(node);
    }

    pub fn faults(&self, json: &str) {
        ApiServer::faults(&self.sim.sim_root, json);
    }
}
