//! Proxmox VE types and formats: the CT config file, property strings, raw `lxc.*` keys, VMIDs, UPIDs,
//! package versions.

pub mod config;
pub mod confkeys;
pub mod lxckeys;
pub mod propstr;
pub mod upid;
pub mod version;
pub mod vmid;

pub use config::CtConfig;
pub use upid::Upid;
pub use vmid::Vmid;
