//! proxmox-lxcri: an OCI runtime with runc's command line that runs each bundle as a Proxmox VE CT.
//!
//! The binary (`src/main.rs`) is a thin layer over this library: `cli` parses runc's argv, `commands`
//! holds one module per subcommand, `spec` maps config.json to a CT config without side effects,
//! `pve` knows Proxmox's formats, `backend` drives the node, `state` and `shim` keep the local side.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod access;
pub mod api;
pub mod apparmor;
pub mod audit;
pub mod backend;
pub mod cgroups_path;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod ctstats;
pub mod doctor;
pub mod failover;
pub mod follow;
pub mod hooks;
pub mod httpd;
pub mod launch;
pub mod logging;
pub mod mapping;
pub mod nsenter;
pub mod nsfile;
pub mod oci;
pub mod opstats;
pub mod pending;
pub mod process;
pub mod procexit;
pub mod progress;
pub mod prom;
pub mod pve;
pub mod remote;
pub mod rootfs;
pub mod seccomp;
pub mod shim;
pub mod state;
pub mod sys;
pub mod transport;
pub mod vztmpl;
