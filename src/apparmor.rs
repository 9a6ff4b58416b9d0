//! `process.apparmorProfile`: applied to the workload itself just before exec (as runc does),
//! never as the CT's raw `lxc.apparmor.profile`: on a node `lxc-start` runs confined and may
//! switch a container only to `lxc-*` profiles or `unconfined` (lxc's AppArmor abstraction
//! `start-container`), so an OCI profile there would keep every CT from starting. The CT keeps
//! Proxmox's own profile.
//!
//! Whether the profile can be applied is decided at `create` (and `exec`) from the host's state;
//! the decision itself is [`decide`], pure.

use std::path::Path;

use oci_spec::runtime::Process;

const ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
const PROFILES: &str = "/sys/kernel/security/apparmor/profiles";

/// What to do with a requested profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write it to the workload's `attr/apparmor/exec` before exec.
    Apply,
    /// Leave it out; the message (if any) is a warning.
    Skip(Option<String>),
    /// Refuse the container with this line (`strict`).
    Refuse(String),
}

/// The decision for `profile` given whether AppArmor is enabled and the text of the kernel's
/// loaded-profile list (`<name> (<mode>)` per line; `None` when it cannot be read).
pub fn decide(enabled: bool, loaded: Option<&str>, profile: &str, strict: bool) -> Decision {
    let problem = if !enabled {
        if profile == "unconfined" {
            // Nothing confines anything: that is what was asked for.
            return Decision::Skip(None);
        }
        "AppArmor is not enabled on this host"
    } else if profile == "unconfined" {
        return Decision::Apply;
    } else {
        match loaded {
            // securityfs not readable: the write at start reports a missing profile.
            None => return Decision::Apply,
            Some(text) if is_loaded(text, profile) => return Decision::Apply,
            Some(_) => "the profile is not loaded (apparmor_parser -r)",
        }
    };
    let msg = format!("process.apparmorProfile {profile}: {problem}");
    if strict {
        Decision::Refuse(msg)
    } else {
        Decision::Skip(Some(format!("{msg}; the workload runs without it")))
    }
}

fn is_loaded(list: &str, profile: &str) -> bool {
    list.lines().any(|l| {
        // `name (mode)`; a name may itself contain spaces, the mode never does.
        l.rsplit_once(" (").map_or(l, |(name, _)| name) == profile
    })
}

/// Read the host's AppArmor state and decide for `process`'s profile; on `Skip` the profile is
/// removed from `process` (so the shim does not try) and the warning logged.
pub fn settle(process: &mut Process, strict: bool) -> Result<(), String> {
    let Some(profile) = process.apparmor_profile().clone().filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let (enabled, loaded) = host_state();
    match decide(enabled, loaded.as_deref(), &profile, strict) {
        Decision::Apply => Ok(()),
        Decision::Skip(msg) => {
            if let Some(m) = msg {
                log::warn!("{m}");
            }
            process.set_apparmor_profile(None);
            Ok(())
        }
        Decision::Refuse(msg) => Err(msg),
    }
}

/// This host's AppArmor: whether it is enabled (the module says so and securityfs shows it), and
/// the kernel's loaded-profile list (`None` when it cannot be read).
pub fn host_state() -> (bool, Option<String>) {
    let enabled = std::fs::read_to_string(ENABLED).is_ok_and(|v| v.starts_with('Y'))
        && Path::new("/sys/kernel/security/apparmor").exists();
    (enabled, std::fs::read_to_string(PROFILES).ok())
}

/// Make `profile` the one the next exec of this process enters: `attr/apparmor/exec`, or
/// `attr/exec` on kernels before 5.1 that lack the per-LSM directory (as runc does).
pub fn set_exec_profile(profile: &str) -> Result<(), String> {
    use std::io::Write;
    let open = |p: &str| std::fs::OpenOptions::new().write(true).open(p);
    let mut f = match open("/proc/thread-self/attr/apparmor/exec") {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => open("/proc/thread-self/attr/exec"),
        r => r,
    }
    .map_err(|e| format!("process.apparmorProfile {profile}: {e}"))?;
    f.write_all(format!("exec {profile}").as_bytes())
        .map_err(|e| format!("process.apparmorProfile {profile}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "lxc-container-default-cgns (enforce)\ncontainers-default-0.50.1 (enforce)\n/usr/bin/man (complain)\n";

    #[test]
    fn a_loaded_profile_is_applied() {
        let d = decide(true, Some(LIST), "containers-default-0.50.1", true);
        assert_eq!(d, Decision::Apply);
        assert_eq!(
            decide(true, Some(LIST), "/usr/bin/man", true),
            Decision::Apply
        );
        assert_eq!(decide(true, Some(""), "unconfined", true), Decision::Apply);
        // Unknown list: the kernel says so at start.
        assert_eq!(decide(true, None, "crio-default", true), Decision::Apply);
    }

    #[test]
    fn a_missing_profile_is_a_warning_or_under_strict_an_error() {
        let d = decide(true, Some(LIST), "crio-default", false);
        let Decision::Skip(Some(m)) = d else {
            panic!("{d:?}")
        };
        assert!(
            m.contains("crio-default") && m.contains("not loaded"),
            "{m}"
        );
        let d = decide(true, Some(LIST), "crio-default", true);
        let Decision::Refuse(m) = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            m,
            "process.apparmorProfile crio-default: the profile is not loaded (apparmor_parser -r)"
        );
        // A prefix of a loaded name is not that profile.
        assert!(matches!(
            decide(true, Some(LIST), "containers-default", false),
            Decision::Skip(Some(_))
        ));
    }

    #[test]
    fn without_apparmor() {
        let d = decide(false, None, "containers-default-0.50.1", false);
        let Decision::Skip(Some(m)) = d else {
            panic!("{d:?}")
        };
        assert!(m.contains("AppArmor is not enabled"), "{m}");
        assert!(matches!(
            decide(false, None, "containers-default-0.50.1", true),
            Decision::Refuse(_)
        ));
        assert_eq!(
            decide(false, None, "unconfined", true),
            Decision::Skip(None)
        );
    }
}
