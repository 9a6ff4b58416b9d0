//! Working with another node: SSH sessions, bind mounts copied into its CTs, and the local
//! stand-in for a process that runs there.

pub mod copies;
pub mod proxy;
pub mod ssh;
