//! Working with another node: bind mounts copied into its CTs, and the local stand-in for a
//! process that runs there (the SSH session itself is `transport::ssh`).

pub mod copies;
pub mod failover;
pub mod proxy;
