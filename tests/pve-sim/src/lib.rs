//! pve-sim: a Proxmox VE node as seen from outside, running every CT as a real LXC container.
//! The binaries are `pct`, `pvesm`, `pveversion`, `pvecm`, `pvesh`, `ha-manager` and `pve-sim` (the REST API
//! server); see README.md.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod api;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod confview;
pub mod ct;
pub mod fail;
pub mod firewall;
pub mod getopt;
pub mod ha;
pub mod hacli;
pub mod hacrm;
pub mod host;
pub mod lxcconf;
pub mod netns;
pub mod passthrough;
pub mod power;
pub mod prestart;
pub mod sdn;
pub mod sim;
pub mod sshd;
pub mod storage;
pub mod store;
pub mod version;
pub mod vmstatus;
