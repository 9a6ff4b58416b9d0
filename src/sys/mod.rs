//! Operating-system helpers every layer may use: no Proxmox, OCI or runtime knowledge here.

pub mod cgroupfs;
pub mod fork;
pub mod fs;
pub mod proc;
pub mod signals;
pub mod supervise;
pub mod tty;
pub mod xattr;
