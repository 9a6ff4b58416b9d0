//! How the runtime talks to another node: an SSH session (commands with separate streams, a
//! terminal, uploads) and the shell quoting of the command lines it sends.

pub mod shell;
pub mod ssh;
