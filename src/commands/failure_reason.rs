//! Not a subcommand: the reason a failed invocation is counted under
//! (`proxmox_lxcri_operation_failures_total`, docs/monitoring.md), from the error types of the
//! library along the error's chain; an error whose type was lost on the way (a backend's
//! message kept as text) takes the reason of the last backend call that failed.

use super::BadInput;
use crate::api::credentials::CredentialError;
use crate::api::ApiError;
use crate::backend::BackendError;
use crate::config::ConfigError;
use crate::mapping::MapError;
use crate::opstats::{self, Reason};
use crate::state::StateError;
use crate::transport::ssh::SshError;

pub fn of(err: &anyhow::Error) -> Reason {
    err.chain()
        .find_map(typed)
        .or_else(opstats::last_backend_failure)
        .unwrap_or(Reason::Other)
}

fn typed(e: &(dyn std::error::Error + 'static)) -> Option<Reason> {
    if let Some(e) = e.downcast_ref::<StateError>() {
        return Some(match e {
            StateError::NotFound(_) => Reason::NotFound,
            StateError::Exists(_) | StateError::InvalidId(..) => Reason::BadInput,
            StateError::Io { .. } | StateError::Json { .. } => Reason::Other,
        });
    }
    if e.is::<MapError>()
        || e.is::<ConfigError>()
        || e.is::<CredentialError>()
        || e.is::<BadInput>()
    {
        return Some(Reason::BadInput);
    }
    if let Some(e) = e.downcast_ref::<BackendError>() {
        return match e {
            BackendError::NoSuchCt(_) => Some(Reason::NotFound),
            BackendError::Timeout { .. } => Some(Reason::Timeout),
            BackendError::NodeLost { .. } => Some(Reason::Unreachable),
            BackendError::VmidTaken(_)
            | BackendError::NotRunning(_)
            | BackendError::NoQuorum { .. } => Some(Reason::ProxmoxRefused),
            // The api and ssh backends keep their clients' errors as text: the call's own
            // reason says more.
            BackendError::Command { .. } => {
                Some(opstats::last_backend_failure().unwrap_or(Reason::ProxmoxRefused))
            }
            BackendError::Io { .. } | BackendError::Other(_) => None,
        };
    }
    if let Some(e) = e.downcast_ref::<ApiError>() {
        return Some(e.reason());
    }
    e.downcast_ref::<SshError>().map(SshError::reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_anywhere_in_the_chain() {
        let e = anyhow::Error::new(StateError::NotFound("c1".into())).context("state c1");
        assert_eq!(of(&e), Reason::NotFound);
        let e = anyhow::Error::new(BackendError::Timeout {
            cmd: "pct start".into(),
            secs: 5,
        });
        assert_eq!(of(&e), Reason::Timeout);
        let e = anyhow::Error::new(MapError::Invalid {
            field: "process.args".into(),
            reason: "empty".into(),
        });
        assert_eq!(of(&e), Reason::BadInput);
        let e = anyhow::Error::new(ApiError::TaskFailed {
            upid: "UPID:x".into(),
            exitstatus: "bad".into(),
            log: vec![],
        });
        assert_eq!(of(&e), Reason::TaskFailed);
        let e = super::super::parse_signal("NOSIG").unwrap_err();
        assert_eq!(of(&e), Reason::BadInput);
    }
}
