//! PLACEHOLDER replaced by the wip-ssh branch (same interface).
#![allow(unused)]
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    pub timeout: Duration,
}
impl SshTarget {
    pub fn from_config(cfg: &crate::config::SshConfig, node: &str) -> SshTarget {
        unimplemented!()
    }
}
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("x")]
    X,
}
pub struct SshSession;
impl SshSession {
    pub fn connect(t: &SshTarget) -> Result<SshSession, SshError> {
        unimplemented!()
    }
    pub fn run(
        &self,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<RemoteOutput, SshError> {
        unimplemented!()
    }
    pub fn run_attached(&self, argv: &[String], io: AttachedIo) -> Result<RemoteExit, SshError> {
        unimplemented!()
    }
    pub fn upload(
        &self,
        remote_path: &str,
        src: &mut dyn std::io::Read,
        len: u64,
        mode: i32,
    ) -> Result<(), SshError> {
        unimplemented!()
    }
}
pub struct RemoteOutput {
    pub exit: RemoteExit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteExit {
    Code(i32),
    Signal(String),
}
impl RemoteExit {
    pub fn code(&self) -> i32 {
        unimplemented!()
    }
}
pub struct AttachedIo {
    pub stdin: Option<RawFd>,
    pub stdout: RawFd,
    pub stderr: RawFd,
}
