//! Client for the Proxmox VE REST API (`/api2/json`, docs/proxmox-facts.md): token auth,
//! TLS pinned to the node's leaf fingerprint or a CA file, the `{"data":…}` envelope and its
//! errors, tasks (UPIDs), template upload and the few typed calls the backend uses.

mod calls;
mod client;
pub mod credentials;
mod error;
pub mod lenient;
mod path_template;
mod response;
pub(crate) mod task;
mod tls;
mod upload;

#[cfg(test)]
mod https_tests;
#[cfg(test)]
mod testserver;

pub use calls::{CtStatusInfo, NodeInfo, StorageItem};
pub use client::Client;
pub use error::ApiError;
pub use task::TaskEnd;
pub use tls::{client_config, fingerprint_of, Trust};
