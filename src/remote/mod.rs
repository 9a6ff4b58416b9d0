//! Talking to a remote Proxmox node.

pub mod ssh;
