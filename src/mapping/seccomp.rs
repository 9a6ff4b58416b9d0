//! `linux.seccomp` -> an LXC seccomp policy, version 2 (`Mapped::seccomp`; the backend writes it
//! to a file and points `lxc.seccomp.profile` at it).
//!
//! Format (lxc `src/lxc/seccomp.c`, `man lxc.container.conf`):
//!
//! ```text
//! 2
//! allowlist errno 38          <- policy type and default action (kill | errno N | allow | trap)
//! [all]                       <- rules apply to the native and every compat ABI of the host
//! read allow                  <- syscall name, action, up to 6 conditions
//! socket errno 22 [0,16,SCMP_CMP_EQ] [2,9,SCMP_CMP_EQ]
//! clone allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]   <- [index,datum,MASKED_EQ,mask]
//! ```
//!
//! Rules are written with an explicit action always (a bare condition after the name fails to
//! parse). A rule whose action equals the default action is left out, as runc does (libseccomp
//! refuses it, and LXC then refuses to start). Several conditions on the same argument are ORed
//! by runc: they become one line per condition here. Syscall names the host's libseccomp does not
//! know are skipped by LXC, as by runc.

use std::fmt::Write;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
    Spec,
};

use super::{invalid, MapError, Mapper};

const EPERM: u32 = 1;

/// An action LXC can express: `kill`, `errno N`, `allow`, `trap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Kill,
    Errno(u32),
    Allow,
    Trap,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Kill => f.write_str("kill"),
            Action::Errno(n) => write!(f, "errno {n}"),
            Action::Allow => f.write_str("allow"),
            Action::Trap => f.write_str("trap"),
        }
    }
}

/// `Err(reason)` for actions LXC has no word for.
fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<Action, &'static str> {
    match a {
        // libseccomp's SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD; LXC's `kill` is the same.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => Ok(Action::Kill),
        LinuxSeccompAction::ScmpActErrno => Ok(Action::Errno(errno.unwrap_or(EPERM))),
        LinuxSeccompAction::ScmpActAllow => Ok(Action::Allow),
        LinuxSeccompAction::ScmpActTrap => Ok(Action::Trap),
        LinuxSeccompAction::ScmpActKillProcess => {
            Err("LXC policies cannot kill the whole process (only the thread)")
        }
        LinuxSeccompAction::ScmpActLog => Err("LXC policies have no log action"),
        LinuxSeccompAction::ScmpActTrace => Err("LXC policies have no trace action"),
        LinuxSeccompAction::ScmpActNotify => {
            Err("seccomp notification needs a listener Proxmox cannot configure")
        }
    }
}

fn op_name(op: LinuxSeccompOperator) -> &'static str {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => "SCMP_CMP_NE",
        LinuxSeccompOperator::ScmpCmpLt => "SCMP_CMP_LT",
        LinuxSeccompOperator::ScmpCmpLe => "SCMP_CMP_LE",
        LinuxSeccompOperator::ScmpCmpEq => "SCMP_CMP_EQ",
        LinuxSeccompOperator::ScmpCmpGe => "SCMP_CMP_GE",
        LinuxSeccompOperator::ScmpCmpGt => "SCMP_CMP_GT",
        LinuxSeccompOperator::ScmpCmpMaskedEq => "SCMP_CMP_MASKED_EQ",
    }
}

fn is_syscall_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    if let Some(text) = profile(sc, m)? {
        m.out.seccomp = Some(text);
    }
    Ok(())
}

/// The policy text, or `None` when an unsupported part was only warned about (non-strict): a
/// partial filter would be neither the requested one nor none, so none is loaded.
fn profile(sc: &LinuxSeccomp, m: &mut Mapper) -> Result<Option<String>, MapError> {
    const F: &str = "linux.seccomp";
    let mut complete = true;
    for flag in sc.flags().as_deref().unwrap_or_default() {
        match flag {
            // LXC loads the filter before exec, single-threaded: TSYNC changes nothing.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {}
            other => {
                m.unsupported(
                    format!("{F}.flags"),
                    format!("{other:?}: LXC cannot pass seccomp filter flags"),
                )?;
                complete = false;
            }
        }
    }
    if sc.listener_path().is_some() {
        m.unsupported(
            format!("{F}.listenerPath"),
            "seccomp notification needs a listener Proxmox cannot configure",
        )?;
        complete = false;
    }
    let default = match action(sc.default_action(), sc.default_errno_ret()) {
        Ok(a) => a,
        Err(why) => {
            m.unsupported(format!("{F}.defaultAction"), why)?;
            return Ok(None);
        }
    };
    let mut text = String::from("2\n");
    let kind = if default == Action::Allow {
        "denylist"
    } else {
        "allowlist"
    };
    let _ = writeln!(text, "{kind} {default}");
    text.push_str("[all]\n");

    for (i, call) in sc
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = format!("{F}.syscalls[{i}]");
        match rule_lines(call, default, &f)? {
            Ok(lines) => text.push_str(&lines),
            Err((field, why)) => {
                m.unsupported(field, why)?;
                complete = false;
            }
        }
    }
    Ok(complete.then_some(text))
}

type Unsupported = (String, &'static str);

/// The lines for one OCI rule; the inner `Err` is an unsupported part (field, reason).
fn rule_lines(
    call: &LinuxSyscall,
    default: Action,
    f: &str,
) -> Result<Result<String, Unsupported>, MapError> {
    let act = match action(call.action(), call.errno_ret()) {
        Ok(a) => a,
        Err(why) => return Ok(Err((format!("{f}.action"), why))),
    };
    for (j, n) in call.names().iter().enumerate() {
        if !is_syscall_name(n) {
            return Err(invalid(format!("{f}.names[{j}]"), "not a syscall name"));
        }
    }
    if act == default {
        return Ok(Ok(String::new()));
    }
    let args = call.args().as_deref().unwrap_or_default();
    let mut conds = Vec::with_capacity(args.len());
    let mut indexes = Vec::new();
    for (j, a) in args.iter().enumerate() {
        if a.index() >= 6 {
            return Err(invalid(
                format!("{f}.args[{j}].index"),
                "syscalls have 6 arguments (0-5)",
            ));
        }
        indexes.push(a.index());
        let c = match a.op() {
            // libseccomp: (arg & mask) == datum, OCI: value = mask, valueTwo = datum;
            // LXC: [index,datum,SCMP_CMP_MASKED_EQ,mask].
            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                format!(
                    "[{},{},SCMP_CMP_MASKED_EQ,{}]",
                    a.index(),
                    a.value_two().unwrap_or(0),
                    a.value()
                )
            }
            op => format!("[{},{},{}]", a.index(), a.value(), op_name(op)),
        };
        conds.push(c);
    }
    indexes.sort_unstable();
    let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
    // runc ORs conditions on a repeated argument: one rule per condition.
    let groups: Vec<String> = if repeated {
        conds
    } else {
        vec![conds.join(" ")]
    };
    let mut out = String::new();
    for name in call.names() {
        for g in &groups {
            if g.is_empty() {
                let _ = writeln!(out, "{name} {act}");
            } else {
                let _ = writeln!(out, "{name} {act} {g}");
            }
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn with(seccomp: &str) -> oci_spec::runtime::Spec {
        spec_with(&format!(r#"{{"linux": {{"seccomp": {seccomp}}}}}"#))
    }

    #[test]
    fn allowlist_with_errno_default() {
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                         {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                          "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(
            m.seccomp.as_deref().unwrap(),
            "2\nallowlist errno 38\n[all]\nread allow\nwrite allow\nmount errno 1\n\
             personality allow [0,8,SCMP_CMP_EQ]\nsocket errno 22 [0,16,SCMP_CMP_EQ] [2,9,SCMP_CMP_EQ]\n"
        );
    }

    #[test]
    fn rules_equal_to_the_default_are_left_out() {
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["acct"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]}"#,
        );
        assert_eq!(
            map_ok(&spec, &ctx()).seccomp.as_deref().unwrap(),
            "2\nallowlist errno 1\n[all]\nacct errno 2\n"
        );
    }

    #[test]
    fn denylist_and_masked_eq() {
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["ptrace"], "action": "SCMP_ACT_TRAP"}]}"#,
        );
        assert_eq!(
            map_ok(&spec, &ctx()).seccomp.as_deref().unwrap(),
            "2\ndenylist allow\n[all]\nclone kill [0,0,SCMP_CMP_MASKED_EQ,2114060288]\nptrace trap\n"
        );
    }

    #[test]
    fn repeated_argument_conditions_are_ored() {
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert_eq!(
            map_ok(&spec, &ctx()).seccomp.as_deref().unwrap(),
            "2\nallowlist errno 1\n[all]\npersonality allow [0,0,SCMP_CMP_EQ]\npersonality allow [0,8,SCMP_CMP_EQ]\n"
        );
    }

    #[test]
    fn actions_lxc_lacks() {
        let spec = with(r#"{"defaultAction": "SCMP_ACT_LOG"}"#);
        let m = assert_unsupported(&spec, &ctx(), "linux.seccomp.defaultAction");
        assert!(m.seccomp.is_none());
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
        );
        let m = assert_unsupported(&spec, &ctx(), "linux.seccomp.syscalls[0].action");
        // Non-strict: no partial filter.
        assert!(m.seccomp.is_none());
        let spec =
            with(r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}"#);
        assert_unsupported(&spec, &ctx(), "linux.seccomp.flags");
        let spec = with(r#"{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/x.sock"}"#);
        assert_unsupported(&spec, &ctx(), "linux.seccomp.listenerPath");
        let spec =
            with(r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}"#);
        assert!(map_ok(&spec, &ctx()).seccomp.is_some());
    }

    #[test]
    fn bad_rules() {
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read allow"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.seccomp.syscalls[0].names[0]"
        ));
        let spec = with(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "linux.seccomp.syscalls[0].args[0].index"
        ));
    }

    #[test]
    fn no_seccomp_no_profile() {
        assert!(map_ok(&spec_with("{}"), &ctx()).seccomp.is_none());
    }
}
