//! `process` -> pid 1 of the CT (`entrypoint`, `lxc.init.*`), `env`, `lxc.prlimit.*`,
//! `lxc.cap.keep`, `lxc.apparmor.profile`, `lxc.selinux.context`.
//!
//! Under [`Launch::Init`] pid 1 is our init, which becomes `process` at `start` and applies it
//! itself (args, cwd, user, rlimits, capabilities, no_new_privs, oom_score_adj, terminal, ...).
//! `env` and rlimits still go into the CT config so that `pct config` shows them (and LXC, which
//! is privileged on the host, raises the init's hard limits where the init could not). Under
//! [`Launch::Entrypoint`] LXC runs `process.args` as pid 1 and can only apply what it has keys
//! for.

use oci_spec::runtime::{PosixRlimitType, Process, Spec};

use super::paths::rel;
use super::text::{
    fstab_escape, has_ctl, has_pve_ctl, is_env_key, is_outer_quoted, lxc_join, lxc_quote,
};
use super::{invalid, Launch, MapError, Mapper};

/// The umask every LXC init starts with (lxc-start inherits it from systemd).
const DEFAULT_UMASK: u32 = 0o022;

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing"))?;
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args", "must name the program to run"));
    }
    match m.ctx.launch.clone() {
        Launch::Init { host_path, ct_path } => init(m, &host_path, &ct_path)?,
        Launch::Entrypoint => entrypoint(p, &args, m)?,
    }
    env(p, m)?;
    rlimits(p, m)?;
    // Under our init the capability sets are applied by the init itself right before exec: LXC
    // would drop them from the init at once, leaving it unable to switch user.
    if !m.is_init() {
        capabilities(p, m)?;
    }
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if has_ctl(profile) || profile.contains(char::is_whitespace) || is_outer_quoted(profile) {
            return Err(invalid(
                "process.apparmorProfile",
                "must be a single profile name",
            ));
        }
        // Never the CT's `lxc.apparmor.profile`: a confined lxc-start cannot switch to it. The
        // shim applies it to the workload (src/apparmor.rs); an Entrypoint has no shim.
        if !m.is_init() {
            m.unsupported(
                "process.apparmorProfile",
                "the CT keeps Proxmox's AppArmor profile and there is no shim to apply it",
            )?;
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if has_ctl(label) || is_outer_quoted(label) {
            return Err(invalid(
                "process.selinuxLabel",
                "control characters or surrounding quotes are not allowed",
            ));
        }
        m.lxc("lxc.selinux.context", label);
    }
    if p.command_line().as_deref().is_some_and(|c| !c.is_empty()) {
        m.unsupported("process.commandLine", "Windows only")?;
    }
    Ok(())
}

/// pid 1 = our init, bind-mounted read-only from the host.
fn init(m: &mut Mapper, host_path: &std::path::Path, ct_path: &str) -> Result<(), MapError> {
    if !ct_path.starts_with('/') || ct_path.split('/').any(|c| c == "..") {
        return Err(invalid(
            "process",
            format!("init path {ct_path} must be absolute inside the CT"),
        ));
    }
    let cmd = lxc_quote(ct_path).ok_or_else(|| {
        invalid(
            "process",
            format!("init path {ct_path} cannot be written as entrypoint"),
        )
    })?;
    let host = host_path.to_str().and_then(fstab_escape);
    let target = fstab_escape(&rel(std::path::Path::new(ct_path)));
    let (Some(host), Some(target)) = (host, target) else {
        return Err(invalid(
            "process",
            "init paths cannot be written as a mount entry",
        ));
    };
    set_init_cmd(m, cmd);
    m.mount_entries
        .push(format!("{host} {target} none bind,ro,create=file 0 0"));
    Ok(())
}

/// The CT's init command: the `entrypoint` option where the node has it, else the raw
/// `lxc.init.cmd` it stands for (allowed by every supported pve-container; it comes after
/// Proxmox's own lines, so it wins over the default `/sbin/init`).
fn set_init_cmd(m: &mut Mapper, cmd: String) {
    if m.ctx.node.entrypoint_env {
        m.set("entrypoint", cmd);
    } else {
        m.lxc("lxc.init.cmd", cmd);
    }
}

/// pid 1 = `process.args`, run by LXC with `lxc.init.*`.
fn entrypoint(p: &Process, args: &[String], m: &mut Mapper) -> Result<(), MapError> {
    let cmd = lxc_join(args).map_err(|i| {
        invalid(
            format!("process.args[{i}]"),
            "cannot be passed through lxc.init.cmd (it holds both quote characters, or a control character)",
        )
    })?;
    set_init_cmd(m, cmd);

    let cwd = p
        .cwd()
        .to_str()
        .ok_or_else(|| invalid("process.cwd", "not valid UTF-8"))?;
    if !cwd.starts_with('/') || has_ctl(cwd) {
        return Err(invalid(
            "process.cwd",
            "must be an absolute path without control characters",
        ));
    }
    m.lxc("lxc.init.cwd", cwd);
    let user = p.user();
    let groups = user.additional_gids().clone().unwrap_or_default();
    if m.ctx.node.init_user_keys {
        m.lxc("lxc.init.uid", user.uid().to_string());
        m.lxc("lxc.init.gid", user.gid().to_string());
        if !groups.is_empty() {
            let list: Vec<String> = groups.iter().map(u32::to_string).collect();
            m.lxc("lxc.init.groups", list.join(","));
        }
    } else if user.uid() != 0 || user.gid() != 0 || !groups.is_empty() {
        // LXC's default is root; older Proxmox refuses the keys that would change it.
        m.unsupported(
            "process.user",
            format!(
                "pve-container {} does not allow lxc.init.uid/gid/groups (needs {})",
                m.ctx.node.pve_container,
                crate::pve::version::INIT_USER_KEYS
            ),
        )?;
    }
    if user.umask().is_some_and(|u| u != DEFAULT_UMASK) {
        m.unsupported(
            "process.user.umask",
            "LXC starts pid 1 with umask 022 and has no key to change it",
        )?;
    }
    if p.terminal() == Some(true) {
        m.unsupported(
            "process.terminal",
            "the CT console cannot be handed to the caller's console socket without the local shim",
        )?;
    }
    if p.no_new_privileges() == Some(true) {
        m.unsupported(
            "process.noNewPrivileges",
            "lxc.no_new_privs is not allowed by Proxmox",
        )?;
    }
    if p.oom_score_adj().is_some_and(|v| v != 0) {
        m.unsupported(
            "process.oomScoreAdj",
            "Proxmox has no key for the OOM score of pid 1",
        )?;
    }
    if p.io_priority().is_some() {
        m.unsupported("process.ioPriority", "Proxmox has no key for it")?;
    }
    if p.scheduler().is_some() {
        m.unsupported("process.scheduler", "Proxmox has no key for it")?;
    }
    if p.exec_cpu_affinity().is_some() {
        m.unsupported("process.execCPUAffinity", "Proxmox has no key for it")?;
    }
    // LXC gives pid 1 the bounding set as effective/permitted set if it runs as uid 0, and drops
    // every capability when lxc.init.uid is not 0. Nothing else can be expressed.
    if let Some(caps) = p.capabilities() {
        let bounding = caps.bounding().clone().unwrap_or_default();
        let root = user.uid() == 0;
        for (name, set) in [
            ("effective", caps.effective()),
            ("permitted", caps.permitted()),
        ] {
            let set = set.clone().unwrap_or_default();
            let ok = if root {
                set == bounding || set.is_empty() && bounding.is_empty()
            } else {
                set.is_empty()
            };
            if !ok {
                let why = if root {
                    "LXC gives pid 1 exactly the bounding set"
                } else {
                    "LXC drops every capability of a non-root pid 1"
                };
                m.unsupported(format!("process.capabilities.{name}"), why)?;
            }
        }
        for (name, set) in [
            ("inheritable", caps.inheritable()),
            ("ambient", caps.ambient()),
        ] {
            if set.as_ref().is_some_and(|s| !s.is_empty()) {
                m.unsupported(
                    format!("process.capabilities.{name}"),
                    "LXC has no key for it",
                )?;
            }
        }
    }
    Ok(())
}

/// `process.env` -> `env` (Proxmox: keys `\w+`, values without control characters but TAB), or
/// raw `lxc.environment` on a node without the `env` option.
fn env(p: &Process, m: &mut Mapper) -> Result<(), MapError> {
    for (i, e) in p.env().clone().unwrap_or_default().into_iter().enumerate() {
        let field = format!("process.env[{i}]");
        let storable = match e.split_once('=') {
            Some((k, v)) => is_env_key(k) && !has_pve_ctl(v),
            None => false,
        };
        if storable && m.ctx.node.entrypoint_env {
            m.out.ct.env.push(e);
        } else if storable {
            // Before the `env` option (6.0.15) the plain raw key, which every supported
            // pve-container allows (`lxc.environment.runtime` may not be on older lists).
            m.lxc("lxc.environment", e);
        } else if m.is_init() {
            // The shim gives it to the workload anyway; only `pct config` cannot show it.
            m.warn(&field, "not shown in the CT's env (Proxmox wants NAME=value with NAME of [A-Za-z0-9_] and no control characters); the shim still passes it to the workload");
        } else {
            return Err(invalid(field, "Proxmox wants NAME=value with NAME of [A-Za-z0-9_] and no control characters in the value"));
        }
    }
    Ok(())
}

pub fn rlimit_name(t: PosixRlimitType) -> &'static str {
    match t {
        PosixRlimitType::RlimitCpu => "cpu",
        PosixRlimitType::RlimitFsize => "fsize",
        PosixRlimitType::RlimitData => "data",
        PosixRlimitType::RlimitStack => "stack",
        PosixRlimitType::RlimitCore => "core",
        PosixRlimitType::RlimitRss => "rss",
        PosixRlimitType::RlimitNproc => "nproc",
        PosixRlimitType::RlimitNofile => "nofile",
        PosixRlimitType::RlimitMemlock => "memlock",
        PosixRlimitType::RlimitAs => "as",
        PosixRlimitType::RlimitLocks => "locks",
        PosixRlimitType::RlimitSigpending => "sigpending",
        PosixRlimitType::RlimitMsgqueue => "msgqueue",
        PosixRlimitType::RlimitNice => "nice",
        PosixRlimitType::RlimitRtprio => "rtprio",
        PosixRlimitType::RlimitRttime => "rttime",
    }
}

fn limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// `process.rlimits` -> `lxc.prlimit.<name> = soft:hard`.
fn rlimits(p: &Process, m: &mut Mapper) -> Result<(), MapError> {
    let mut seen = Vec::new();
    for (i, r) in p.rlimits().clone().unwrap_or_default().iter().enumerate() {
        let name = rlimit_name(r.typ());
        if seen.contains(&name) {
            return Err(invalid(
                format!("process.rlimits[{i}]"),
                format!("RLIMIT_{} listed twice", name.to_uppercase()),
            ));
        }
        seen.push(name);
        if r.soft() > r.hard() {
            return Err(invalid(
                format!("process.rlimits[{i}]"),
                "soft limit above hard limit",
            ));
        }
        m.lxc(
            format!("lxc.prlimit.{name}"),
            format!("{}:{}", limit(r.soft()), limit(r.hard())),
        );
    }
    Ok(())
}

/// The bounding set -> `lxc.cap.keep` (names lowercase without `CAP_`, sorted; empty -> `none`).
/// `lxc.cap.drop` is cleared first: LXC refuses to combine keep with the drop list of
/// common.conf (privileged CTs).
fn capabilities(p: &Process, m: &mut Mapper) -> Result<(), MapError> {
    let Some(bounding) = p.capabilities().as_ref().and_then(|c| c.bounding().clone()) else {
        return Ok(());
    };
    let mut names: Vec<String> = bounding
        .iter()
        .map(|c| c.to_string().to_lowercase())
        .collect();
    names.sort();
    let keep = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(" ")
    };
    m.lxc("lxc.cap.drop", "");
    m.lxc("lxc.cap.keep", keep);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn init_launch_binds_init_and_skips_lxc_init_keys() {
        let spec = spec_with(
            r#"{"process": {"args": ["/bin/sh", "-c", "echo hi"], "cwd": "/tmp", "user": {"uid": 1000, "gid": 10, "additionalGids": [1]}}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(opt(&m, "entrypoint"), Some(INIT_CT));
        assert_eq!(
            lxc(&m, "lxc.mount.entry")[0],
            format!("{INIT_HOST} dev/.proxmox-lxcri-init none bind,ro,create=file 0 0")
        );
        for k in [
            "lxc.init.cwd",
            "lxc.init.uid",
            "lxc.init.gid",
            "lxc.init.groups",
        ] {
            assert!(lxc(&m, k).is_empty(), "{k}");
        }
    }

    #[test]
    fn entrypoint_launch_sets_lxc_init_keys() {
        let spec = spec_with(
            r#"{"process": {"args": ["/bin/sh", "-c", "echo serving; sleep 30"], "cwd": "/tmp",
               "user": {"uid": 1000, "gid": 10, "additionalGids": [1, 2]}}}"#,
        );
        let m = map_ok(&spec, &entry_ctx());
        assert_eq!(
            opt(&m, "entrypoint"),
            Some("/bin/sh -c 'echo serving; sleep 30'")
        );
        assert_eq!(lxc(&m, "lxc.init.cwd"), ["/tmp"]);
        assert_eq!(lxc(&m, "lxc.init.uid"), ["1000"]);
        assert_eq!(lxc(&m, "lxc.init.gid"), ["10"]);
        assert_eq!(lxc(&m, "lxc.init.groups"), ["1,2"]);
        assert!(lxc(&m, "lxc.mount.entry").is_empty());
    }

    #[test]
    fn entrypoint_args_that_lxc_cannot_split() {
        let spec = spec_with(r#"{"process": {"args": ["sh", "-c", "echo \"it's\""]}}"#);
        assert!(is_invalid(&map_err(&spec, &entry_ctx()), "process.args[2]"));
        // Under Init the shim runs args itself: no restriction.
        map_ok(&spec, &ctx());
    }

    #[test]
    fn empty_args_are_invalid() {
        let spec = spec_with(r#"{"process": {"args": []}}"#);
        assert!(is_invalid(&map_err(&spec, &ctx()), "process.args"));
        assert!(is_invalid(
            &map_err(&spec_with(r#"{"process": null}"#), &ctx()),
            "process"
        ));
    }

    #[test]
    fn env_goes_to_env() {
        let spec =
            spec_with(r#"{"process": {"env": ["PATH=/bin", "GREETING=hello world", "T=a\tb"]}}"#);
        let m = map_ok(&spec, &ctx());
        assert_eq!(m.ct.env, ["PATH=/bin", "GREETING=hello world", "T=a\tb"]);
    }

    #[test]
    fn env_proxmox_cannot_store() {
        let spec = spec_with(r#"{"process": {"env": ["OK=1", "BAD-KEY=1", "CERT=a\nb", "NOEQ"]}}"#);
        // Entrypoint: LXC would never see them.
        assert!(is_invalid(&map_err(&spec, &entry_ctx()), "process.env[1]"));
        // Init: left out of `env` with a warning, even in strict mode.
        let m = map_ok(&spec, &ctx());
        assert_eq!(m.ct.env, ["OK=1"]);
        assert_eq!(m.warnings.len(), 3);
        assert!(m.warnings[0].starts_with("config.json: process.env[1]: "));
    }

    #[test]
    fn rlimits_become_prlimit() {
        let spec = spec_with(
            r#"{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576},
               {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615},
               {"type": "RLIMIT_RTTIME", "soft": 5, "hard": 10}]}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(lxc(&m, "lxc.prlimit.nofile"), ["1048576:1048576"]);
        assert_eq!(lxc(&m, "lxc.prlimit.core"), ["0:unlimited"]);
        assert_eq!(lxc(&m, "lxc.prlimit.rttime"), ["5:10"]);
    }

    #[test]
    fn bad_rlimits() {
        let spec = spec_with(
            r#"{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]}}"#,
        );
        assert!(is_invalid(&map_err(&spec, &ctx()), "process.rlimits[0]"));
        let spec = spec_with(
            r#"{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
               {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}]}}"#,
        );
        assert!(is_invalid(&map_err(&spec, &ctx()), "process.rlimits[1]"));
    }

    #[test]
    fn bounding_set_becomes_cap_keep_without_our_init() {
        let spec = spec_with(
            r#"{"process": {"capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"]}}}"#,
        );
        // Our init applies the sets itself: LXC would take them from it before it can setuid.
        assert!(lxc(&map_ok(&spec, &ctx()), "lxc.cap.keep").is_empty());
        let mut ctx = ctx();
        ctx.launch = super::Launch::Entrypoint;
        ctx.strict = false;
        let m = map_ok(&spec, &ctx);
        assert_eq!(lxc(&m, "lxc.cap.drop"), [""]);
        assert_eq!(lxc(&m, "lxc.cap.keep"), ["chown kill net_bind_service"]);
        let m = map_ok(
            &spec_with(r#"{"process": {"capabilities": {"bounding": []}}}"#),
            &ctx,
        );
        assert_eq!(lxc(&m, "lxc.cap.keep"), ["none"]);
        let m = map_ok(&spec_with("{}"), &ctx);
        assert!(lxc(&m, "lxc.cap.keep").is_empty());
    }

    #[test]
    fn entrypoint_capabilities_lxc_cannot_give() {
        let caps = r#"["CAP_KILL", "CAP_CHOWN"]"#;
        let root = spec_with(&format!(
            r#"{{"process": {{"capabilities": {{"bounding": {caps}, "effective": {caps}, "permitted": {caps}}}}}}}"#
        ));
        map_ok(&root, &entry_ctx());
        let nonroot = spec_with(&format!(
            r#"{{"process": {{"user": {{"uid": 1000, "gid": 0}}, "capabilities": {{"bounding": {caps}, "effective": {caps}}}}}}}"#
        ));
        assert_unsupported(&nonroot, &entry_ctx(), "process.capabilities.effective");
        let ambient = spec_with(r#"{"process": {"capabilities": {"ambient": ["CAP_KILL"]}}}"#);
        assert_unsupported(&ambient, &entry_ctx(), "process.capabilities.ambient");
        // The shim applies all of them under Init.
        map_ok(&nonroot, &ctx());
        map_ok(&ambient, &ctx());
    }

    #[test]
    fn shim_applied_fields_are_silent_under_init_and_unsupported_as_entrypoint() {
        for (patch, f) in [
            (
                r#"{"process": {"noNewPrivileges": true}}"#,
                "process.noNewPrivileges",
            ),
            (
                r#"{"process": {"oomScoreAdj": -998}}"#,
                "process.oomScoreAdj",
            ),
            (r#"{"process": {"terminal": true}}"#, "process.terminal"),
            (
                r#"{"process": {"user": {"uid": 0, "gid": 0, "umask": 63}}}"#,
                "process.user.umask",
            ),
        ] {
            let spec = spec_with(patch);
            let m = map_ok(&spec, &ctx());
            assert!(m.warnings.is_empty(), "{f}: {:?}", m.warnings);
            assert_unsupported(&spec, &entry_ctx(), f);
        }
        // Defaults are not worth a warning.
        let spec = spec_with(
            r#"{"process": {"oomScoreAdj": 0, "noNewPrivileges": false, "user": {"uid": 0, "gid": 0, "umask": 18}}}"#,
        );
        assert!(map_ok(&spec, &entry_ctx()).warnings.is_empty());
    }

    #[test]
    fn apparmor_and_selinux() {
        let spec = spec_with(
            r#"{"process": {"apparmorProfile": "containers-default-0.50.0", "selinuxLabel": "system_u:system_r:container_t:s0"}}"#,
        );
        let m = map_ok(&spec, &ctx());
        // The CT keeps Proxmox's profile; the shim applies this one to the workload.
        assert!(lxc(&m, "lxc.apparmor.profile").is_empty());
        assert!(m.warnings.is_empty());
        assert!(is_unsupported(
            &map_err(&spec, &entry_ctx()),
            "process.apparmorProfile"
        ));
        let spec = spec_with(r#"{"process": {"apparmorProfile": "a b"}}"#);
        assert!(is_invalid(
            &map_err(&spec, &ctx()),
            "process.apparmorProfile"
        ));
        assert_eq!(
            lxc(&m, "lxc.selinux.context"),
            ["system_u:system_r:container_t:s0"]
        );
    }
}
