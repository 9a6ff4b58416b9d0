//! `linux.seccomp` for the workload. LXC filters the CT's init and `lxc-attach`ed processes, but the
//! shim enters the CT with `setns`, so the workload loads its filter itself, as runc does.

use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

const EPERM: i32 = libc::EPERM;

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let ret = errno.map(|e| e as i32).unwrap_or(EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err("linux.seccomp: SCMP_ACT_NOTIFY is not supported".into())
        }
    })
}

fn compare(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> ScmpArgCompare {
    let index = index as u32;
    match op {
        // OCI puts the mask in `value` and the datum in `valueTwo`.
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
            index,
            ScmpCompareOp::MaskedEqual(value),
            value_two.unwrap_or(0),
        ),
        LinuxSeccompOperator::ScmpCmpNe => {
            ScmpArgCompare::new(index, ScmpCompareOp::NotEqual, value)
        }
        LinuxSeccompOperator::ScmpCmpLt => ScmpArgCompare::new(index, ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => {
            ScmpArgCompare::new(index, ScmpCompareOp::LessOrEqual, value)
        }
        LinuxSeccompOperator::ScmpCmpEq => ScmpArgCompare::new(index, ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => {
            ScmpArgCompare::new(index, ScmpCompareOp::GreaterEqual, value)
        }
        LinuxSeccompOperator::ScmpCmpGt => {
            ScmpArgCompare::new(index, ScmpCompareOp::Greater, value)
        }
    }
}

/// Build the filter for `profile` (not loaded yet).
pub fn build(profile: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
    let err =
        |what: &str, e: libseccomp::error::SeccompError| format!("linux.seccomp: {what}: {e}");
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err("new filter", e))?;
    // no_new_privs is the process spec's decision, not libseccomp's.
    ctx.set_ctl_nnp(false).map_err(|e| err("nnp", e))?;
    for arch in profile.architectures().iter().flatten() {
        if let Ok(a) = ScmpArch::from_str(&arch.to_string()) {
            let _ = ctx.add_arch(a);
        }
    }
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        let act = action(sc.action(), sc.errno_ret())?;
        if act == default {
            continue; // libseccomp refuses rules that repeat the default action
        }
        let args = sc.args().clone().unwrap_or_default();
        let conds: Vec<ScmpArgCompare> = args
            .iter()
            .map(|a| compare(a.index(), a.op(), a.value(), a.value_two()))
            .collect();
        // Conditions on the same argument cannot be ANDed in one rule: one rule each (runc's rule).
        let mut indices: Vec<usize> = args.iter().map(|a| a.index()).collect();
        indices.sort_unstable();
        let same_arg = indices.windows(2).any(|w| w[0] == w[1]);
        for name in sc.names() {
            // A name this libseccomp does not know is skipped, as runc does.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let res = if conds.is_empty() {
                ctx.add_rule(act, nr).map(drop)
            } else if same_arg {
                conds.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map(drop)
                })
            } else {
                ctx.add_rule_conditional(act, nr, &conds).map(drop)
            };
            res.map_err(|e| err(&format!("syscalls[{i}] {name}"), e))?;
        }
    }
    Ok(ctx)
}

/// The filter as the classic BPF program the kernel loads (what the in-CT init loads for a
/// workload it launches), and `linux.seccomp.flags` as SECCOMP_FILTER_FLAG_* bits.
pub fn compile(profile: &LinuxSeccomp) -> Result<(Vec<u8>, u32), String> {
    use std::io::{Read, Seek};
    let ctx = build(profile)?;
    let mut file = tempfile::tempfile().map_err(|e| format!("linux.seccomp: export: {e}"))?;
    ctx.export_bpf(&mut file)
        .map_err(|e| format!("linux.seccomp: export: {e}"))?;
    let mut prog = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut prog))
        .map_err(|e| format!("linux.seccomp: export: {e}"))?;
    Ok((prog, filter_flags(profile)))
}

/// `linux.seccomp.flags` as the kernel's SECCOMP_FILTER_FLAG_* bits.
pub fn filter_flags(profile: &LinuxSeccomp) -> u32 {
    use oci_spec::runtime::LinuxSeccompFilterFlag as F;
    profile.flags().iter().flatten().fold(0, |acc, f| {
        acc | match f {
            F::SeccompFilterFlagTsync => 1,
            F::SeccompFilterFlagLog => 2,
            F::SeccompFilterFlagSpecAllow => 4,
        }
    })
}

pub fn load(profile: &LinuxSeccomp) -> Result<(), String> {
    build(profile)?
        .load()
        .map_err(|e| format!("linux.seccomp: load: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_fixture_profiles_build() {
        for f in [
            "podman-4.3-run.config.json",
            "crio-1.32-container.config.json",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(f);
            let spec: oci_spec::runtime::Spec =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if let Some(p) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) {
                build(&p).unwrap_or_else(|e| panic!("{f}: {e}"));
            }
        }
    }

    #[test]
    fn notify_is_refused_and_unknown_names_are_skipped() {
        let p = profile(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#);
        assert!(build(&p).unwrap_err().contains("SCMP_ACT_NOTIFY"));
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["no_such_syscall", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        build(&p).unwrap();
    }

    #[test]
    fn a_loaded_filter_denies_in_a_child() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
        );
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        // SAFETY: the child only loads the filter, calls mkdir and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = match load(&p).map(|_| std::fs::create_dir(&target)) {
                    Ok(Err(e)) if e.raw_os_error() == Some(13) => 0,
                    _ => 1,
                };
                // SAFETY: _exit ends this forked child at once; nothing of the parent runs in it again.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
                assert!(!target.exists());
            }
        }
    }
}
