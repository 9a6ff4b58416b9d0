//! `process` as options of the in-CT init's `exec` mode (src/init/modes.rs): the container's own
//! process, launched through the init's socket so that it becomes pid 1, and a workload on a
//! remote node, started through `pct exec`. Pure.

use std::collections::HashSet;

use oci_spec::runtime::{Capability, IOPriorityClass, LinuxCapabilities, Process};

/// Where the init finds the compiled seccomp filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A file inside the CT (remote nodes: copied in at create).
    Path(String),
    /// The index of a descriptor sent with the launch.
    Sent(usize),
}

/// What the options carry besides `process`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    pub pid_file: Option<String>,
    pub seccomp: Option<Filter>,
    /// `linux.seccomp.flags` as the kernel's SECCOMP_FILTER_FLAG_* bits.
    pub seccomp_flags: u32,
    pub readonly_root: bool,
    /// The index of the pty slave sent with the launch (`process.terminal`).
    pub console: Option<usize>,
    /// Indices of sent namespace descriptors the process joins first.
    pub joins: Vec<usize>,
    /// Options for what the init sets up first (remote CTs: `--mount`, `--sysctl`).
    pub setup: Vec<String>,
}

/// The capability sets as the init's `--caps BND:PRM:EFF:INH:AMB` hex masks. Names this build
/// does not know are left out, as runc does.
pub fn cap_masks(c: &LinuxCapabilities) -> String {
    let mask = |set: &Option<HashSet<Capability>>| -> u64 {
        set.iter()
            .flatten()
            .filter_map(|c| {
                format!("CAP_{}", c.to_string().trim_start_matches("CAP_"))
                    .parse::<caps::Capability>()
                    .ok()
            })
            .fold(0, |m, c| m | c.bitmask())
    };
    format!(
        "{:x}:{:x}:{:x}:{:x}:{:x}",
        mask(c.bounding()),
        mask(c.permitted()),
        mask(c.effective()),
        mask(c.inheritable()),
        mask(c.ambient())
    )
}

/// The options and argv: `[opts…, "--", args…]`.
pub fn exec_options(process: &Process, x: &Extras) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut opt = |k: &str, v: String| {
        a.push(k.into());
        a.push(v);
    };
    if let Some(p) = &x.pid_file {
        opt("--pid-file", p.clone());
    }
    for j in &x.joins {
        opt("--join", j.to_string());
    }
    if let Some(c) = x.console {
        opt("--console-fd", c.to_string());
        if let Some(size) = process.console_size() {
            opt(
                "--console-size",
                format!("{}:{}", size.height(), size.width()),
            );
        }
    }
    for rl in process.rlimits().iter().flatten() {
        opt(
            "--rlimit",
            format!("{}:{}:{}", rl.typ() as i32, rl.soft(), rl.hard()),
        );
    }
    if let Some(adj) = process.oom_score_adj() {
        opt("--oom-score-adj", adj.to_string());
    }
    let user = process.user();
    if let Some(mask) = user.umask() {
        opt("--umask", format!("{mask:o}"));
    }
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        opt("--ioprio", ((class << 13) | io.priority()).to_string());
    }
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        opt("--apparmor", p.to_string());
    }
    match &x.seccomp {
        Some(Filter::Path(p)) => opt("--seccomp", p.clone()),
        Some(Filter::Sent(i)) => opt("--seccomp-fd", i.to_string()),
        None => {}
    }
    if x.seccomp.is_some() && x.seccomp_flags != 0 {
        opt("--seccomp-flags", x.seccomp_flags.to_string());
    }
    let groups = user.additional_gids().clone().unwrap_or_default();
    opt(
        "--groups",
        groups
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    opt("--gid", user.gid().to_string());
    opt("--uid", user.uid().to_string());
    if let Some(c) = process.capabilities() {
        opt("--caps", cap_masks(c));
    }
    opt("--cwd", process.cwd().to_string_lossy().into_owned());
    for e in process.env().iter().flatten() {
        opt("--env", e.clone());
    }
    if process.no_new_privileges() == Some(true) {
        a.push("--nnp".into());
    }
    if x.readonly_root {
        a.push("--readonly-root".into());
    }
    a.extend(x.setup.iter().cloned());
    a.push("--".into());
    a.extend(process.args().iter().flatten().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_whole_process_spec_travels() {
        let p = process(
            r#"{"args": ["sh", "-c", "x"], "cwd": "/w", "env": ["A=1 2"], "terminal": true,
                "consoleSize": {"height": 24, "width": 80},
                "user": {"uid": 7, "gid": 8, "additionalGids": [9, 10], "umask": 18},
                "noNewPrivileges": true, "oomScoreAdj": -5, "apparmorProfile": "p1",
                "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
                "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                    "permitted": ["CAP_KILL", "CAP_CHOWN"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}]}"#,
        );
        let x = Extras {
            pid_file: None,
            seccomp: Some(Filter::Sent(4)),
            seccomp_flags: 2,
            readonly_root: true,
            console: Some(3),
            joins: vec![5],
            setup: vec![],
        };
        let a = exec_options(&p, &x);
        let want: Vec<&str> = vec![
            "--join",
            "5",
            "--console-fd",
            "3",
            "--console-size",
            "24:80",
            "--rlimit",
            "7:1024:2048",
            "--oom-score-adj",
            "-5",
            "--umask",
            "22",
            "--ioprio",
            "16388",
            "--apparmor",
            "p1",
            "--seccomp-fd",
            "4",
            "--seccomp-flags",
            "2",
            "--groups",
            "9,10",
            "--gid",
            "8",
            "--uid",
            "7",
            "--caps",
            "21:21:20:0:0",
            "--cwd",
            "/w",
            "--env",
            "A=1 2",
            "--nnp",
            "--readonly-root",
            "--",
            "sh",
            "-c",
            "x",
        ];
        assert_eq!(a, want);
    }

    #[test]
    fn no_capabilities_object_means_no_caps_option() {
        let p = process(r#"{"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#);
        let a = exec_options(&p, &Extras::default());
        assert!(!a.contains(&"--caps".to_string()));
        let p = process(
            r#"{"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": {}}"#,
        );
        let a = exec_options(&p, &Extras::default());
        let i = a.iter().position(|s| s == "--caps").unwrap();
        assert_eq!(
            a[i + 1],
            "0:0:0:0:0",
            "an empty object drops every capability"
        );
    }
}
