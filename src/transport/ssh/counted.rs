//! SSH commands in the runtime's operation counts (`backend="ssh"`, src/opstats): each one
//! timed, labelled by the tool and its verb only, never an argument.

use std::time::Instant;

use super::{RemoteExit, SshError};
use crate::opstats::{self, Reason};

/// Tools whose first argument is a verb from a fixed set (`pct exec`, `pvesh get`).
const VERB_TOOLS: &[&str] = &["pct", "pvesh", "pvecm", "pvesm", "pveam", "ha-manager"];

/// The bounded label of `argv`: the tool's file name, with its verb for the tools above.
pub fn label(argv: &[String]) -> String {
    let tool = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    if !word(tool) {
        return "other".into();
    }
    match argv.get(1) {
        Some(verb) if VERB_TOOLS.contains(&tool) && word(verb) => format!("{tool} {verb}"),
        _ => tool.to_string(),
    }
}

impl SshError {
    /// What the failure is counted as (docs/monitoring.md).
    pub fn reason(&self) -> Reason {
        match self {
            SshError::Resolve { .. }
            | SshError::Connect { .. }
            | SshError::Handshake { .. }
            | SshError::Silent { .. } => Reason::Unreachable,
            SshError::Timeout { .. } => Reason::Timeout,
            SshError::UnknownHostKey { .. }
            | SshError::HostKeyMismatch { .. }
            | SshError::Auth { .. } => Reason::ProxmoxRefused,
            SshError::KnownHostsFile { .. } => Reason::BadInput,
            SshError::Protocol { .. } | SshError::Io { .. } | SshError::Upload { .. } => {
                Reason::Other
            }
        }
    }
}

/// Count one command that started at `t0`. `exit_counts`: a non-zero exit is a failure (not
/// for an attached workload, whose status is its own).
pub fn record(call: &str, t0: Instant, r: Result<&RemoteExit, &SshError>, exit_counts: bool) {
    let failure = match r {
        Ok(RemoteExit::Code(0)) => None,
        Ok(_) if !exit_counts => None,
        Ok(_) => Some(Reason::ProxmoxRefused),
        Err(e) => Some(e.reason()),
    };
    opstats::backend_call("ssh", call, t0.elapsed(), failure);
}

#[cfg(test)]
mod tests {
    use super::label;

    fn l(a: &[&str]) -> String {
        label(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn labels_name_tool_and_verb_never_arguments() {
        assert_eq!(l(&["pct", "exec", "100123", "--", "/bin/sh"]), "pct exec");
        assert_eq!(l(&["pvesh", "get", "/nodes/pve1/status"]), "pvesh get");
        assert_eq!(l(&["/usr/sbin/pct", "create", "100"]), "pct create");
        assert_eq!(l(&["mkdir", "-p", "--", "/var/lib/x"]), "mkdir");
        assert_eq!(l(&["pct", "100"]), "pct");
        assert_eq!(l(&["/tmp/X y", "a"]), "other");
    }
}
