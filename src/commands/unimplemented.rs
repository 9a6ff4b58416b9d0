//! Subcommands that parse already but are built by a later issue: fail clearly, change nothing.

pub fn run(name: &str, id: &str) -> anyhow::Result<()> {
    anyhow::bail!("{name} {id}: not supported yet by proxmox-lxcri")
}
