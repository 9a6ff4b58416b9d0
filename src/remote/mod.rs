//! Talking to another node: SSH sessions (and, with issue 4, the REST API).

pub mod copies;
pub mod proxy;
pub mod ssh;
