//! `completion SHELL` (hidden): the completion script for a shell, generated from the command
//! line's clap definition so that it cannot drift from it. The Debian package is built with
//! its output for bash, zsh and fish (docs/packaging.md).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn run(shell: Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "proxmox-lxcri", &mut script);
    super::out(String::from_utf8(script)?.trim_end())?;
    Ok(())
}
