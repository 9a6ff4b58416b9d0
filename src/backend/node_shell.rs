//! One SSH connection to a node per runtime invocation, opened on first use: the `ssh` backend runs
//! every `pct` through it, and both remote backends run processes in CTs with `pct exec` (Proxmox
//! has no exec endpoint). A forked process (the shim's workload proxy) must make its own.

use std::cell::OnceCell;
use std::time::Duration;

use super::run::{one_line, Output};
use super::BackendError;
use crate::config::Config;
use crate::pve::Vmid;
use crate::transport::ssh::{
    AttachedIo, RemoteExit, RemoteOutput, SshError, SshSession, SshTarget,
};

pub struct NodeShell {
    /// Set when the address is chosen (on first use: choosing may ask the cluster).
    target: OnceCell<SshTarget>,
    /// The config and node to choose it from.
    cfg: Config,
    node: String,
    timeout: Duration,
    session: OnceCell<SshSession>,
}

fn remote_err(e: impl std::fmt::Display) -> BackendError {
    BackendError::Other(e.to_string())
}

impl NodeShell {
    /// A shell on `node`, reached at its `[ssh.nodes]` entry, else its address in the cluster,
    /// else `[ssh] host` (see [`SshTarget::for_node`]).
    pub fn new(cfg: &Config, node: &str) -> NodeShell {
        NodeShell {
            target: OnceCell::new(),
            cfg: cfg.clone(),
            node: node.to_string(),
            timeout: Duration::from_secs(cfg.pct.timeout),
            session: OnceCell::new(),
        }
    }

    /// A shell on `host` as configured, without asking the cluster (the host that is asked).
    pub fn fixed(cfg: &Config, host: &str) -> NodeShell {
        let shell = NodeShell::new(cfg, host);
        let _ = shell.target.set(SshTarget::from_config(&cfg.ssh, host));
        shell
    }

    fn target(&self) -> &SshTarget {
        self.target.get_or_init(|| {
            let ip = super::node_addr::cluster_ip(&self.cfg, &self.node);
            SshTarget::for_node(&self.cfg.ssh, &self.node, ip.as_deref())
        })
    }

    pub fn host(&self) -> &str {
        &self.target().host
    }

    fn session(&self) -> Result<&SshSession, BackendError> {
        if let Some(s) = self.session.get() {
            return Ok(s);
        }
        let s = SshSession::connect(self.target()).map_err(remote_err)?;
        super::node_health::answered(&self.node);
        Ok(self.session.get_or_init(|| s))
    }

    /// `argv` on the node, with its output; a non-zero exit is not an error here.
    pub fn run(&self, argv: &[String], stdin: &[u8]) -> Result<RemoteOutput, BackendError> {
        log::debug!("ssh {}: {}", self.target().host, argv.join(" "));
        self.session()?
            .run(argv, stdin, self.timeout)
            .map_err(remote_err)
    }

    /// `pct <args>` on the node, shaped like a local run.
    pub fn pct(&self, args: &[String]) -> Result<Output, BackendError> {
        self.pct_within(args, self.timeout)
    }

    /// `pct` with its own time limit (a migration outlasts `pct.timeout`).
    pub fn pct_within(&self, args: &[String], timeout: Duration) -> Result<Output, BackendError> {
        let mut argv = vec!["pct".to_string()];
        argv.extend_from_slice(args);
        log::debug!("ssh {}: {}", self.target().host, argv.join(" "));
        let out = self
            .session()?
            .run(&argv, b"", timeout)
            .map_err(remote_err)?;
        Ok(Output {
            status: out.exit.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn pct_exec_argv(vmid: Vmid, argv: &[String]) -> Vec<String> {
        let mut a = vec![
            "pct".to_string(),
            "exec".into(),
            vmid.to_string(),
            "--".into(),
        ];
        a.extend_from_slice(argv);
        a
    }

    /// `pct exec <vmid> -- argv` with `stdin`; fails unless it exits 0.
    pub fn exec_checked(
        &self,
        vmid: Vmid,
        argv: &[String],
        stdin: &[u8],
    ) -> Result<RemoteOutput, BackendError> {
        let out = self.run(&Self::pct_exec_argv(vmid, argv), stdin)?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: format!("pct exec {vmid} -- {}", argv.first().map_or("", |s| s)),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(out)
    }

    /// `pct exec <vmid> -- argv` wired to local fds, until it ends.
    pub fn exec_attached(
        &self,
        vmid: Vmid,
        argv: &[String],
        io: AttachedIo,
    ) -> Result<RemoteExit, BackendError> {
        let argv = Self::pct_exec_argv(vmid, argv);
        log::debug!("ssh {}: {}", self.target().host, argv.join(" "));
        self.session()?
            .run_attached(&argv, io)
            .map_err(|e| match e {
                SshError::Silent { after, .. } => BackendError::NodeLost {
                    node: self.node.clone(),
                    after,
                },
                e => remote_err(e),
            })
    }

    pub fn upload(
        &self,
        path: &str,
        src: &mut dyn std::io::Read,
        len: u64,
    ) -> Result<(), BackendError> {
        self.session()?
            .upload(path, src, len, 0o644)
            .map_err(remote_err)
    }
}
