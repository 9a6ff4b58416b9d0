//! OCI hooks (runtime-spec config.md, "POSIX-platform Hooks"; docs/architecture.md, "Hooks").
//!
//! [`run`] runs the hooks of one [`Point`] in the order config.json lists them and stops at the
//! first failure. Each hook gets exactly its `args` (argv[0] included) and `env`, the state
//! document ([`state_json`]) on stdin, and pipes for stdout and stderr: the runtime's own stdio
//! belongs to the container during `create`, so hook output never reaches it. The output is
//! logged at debug level, and the last line of stderr (else of stdout) ends the error message.
//!
//! Every hook runs in a process group of its own. When `timeout` expires the whole group is
//! killed with SIGKILL, so a shell's children do not outlive it and keep its pipes open.
//!
//! `prestart`, `createRuntime`, `poststart` and `poststop` run in the runtime's namespaces.
//! `createContainer` and `startContainer` run in the CT's when the caller passes the host pid of
//! its init: [`crate::nsenter::command`] opens that pid's namespace files (or the ones config.json
//! names by path) before the fork; the forked child `setns`es into them in
//! [`crate::nsenter::ORDER`] (user last, skipped when it is ours), forks once more so that the
//! hook is a member of the CT's pid namespace, and execs it.
//!
//! Where the path resolves: for `startContainer` inside the CT (after joining its mount
//! namespace), as the spec says. For `createContainer` the spec wants the runtime's namespace:
//! the file is opened on the host before any `setns` and run with `execveat(fd, "",
//! AT_EMPTY_PATH)`. What the kernel loads *after* that comes from the CT's root, because the CT
//! is already pivoted: the ELF interpreter of a dynamically linked hook and the `#!` interpreter
//! of a script. So such a hook must be static, or its interpreter and libraries must exist in the
//! CT too. (runc runs these hooks before `pivot_root`, a point our CTs are already past.)

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use oci_spec::runtime::{Hook, Spec};
use serde::Serialize;

use crate::nsenter::command::{self, PrepareError, Program, Step};
use crate::state::Status;
use crate::sys::supervise::supervise;

/// How much of a hook's stdout and of its stderr is kept (the tail).
const OUTPUT_CAP: usize = 64 * 1024;
/// How long the last line quoted in an error may be.
const LINE_CAP: usize = 512;

/// The six hook points, named as in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Point {
    pub const ALL: [Point; 6] = [
        Point::Prestart,
        Point::CreateRuntime,
        Point::CreateContainer,
        Point::StartContainer,
        Point::Poststart,
        Point::Poststop,
    ];

    /// The key in config.json's `hooks`.
    pub fn name(self) -> &'static str {
        match self {
            Point::Prestart => "prestart",
            Point::CreateRuntime => "createRuntime",
            Point::CreateContainer => "createContainer",
            Point::StartContainer => "startContainer",
            Point::Poststart => "poststart",
            Point::Poststop => "poststop",
        }
    }

    /// The `status` of the state the hooks of this point get on stdin.
    pub fn status(self) -> Status {
        match self {
            Point::Prestart | Point::CreateRuntime | Point::CreateContainer => Status::Creating,
            Point::StartContainer => Status::Created,
            Point::Poststart => Status::Running,
            Point::Poststop => Status::Stopped,
        }
    }

    /// Whether the hooks run in the container's namespaces (given its init's pid).
    pub fn in_container(self) -> bool {
        matches!(self, Point::CreateContainer | Point::StartContainer)
    }

    /// The hooks config.json lists for this point, in order.
    pub fn hooks(self, spec: &Spec) -> &[Hook] {
        let Some(h) = spec.hooks() else { return &[] };
        let list = match self {
            Point::Prestart => h.prestart(),
            Point::CreateRuntime => h.create_runtime(),
            Point::CreateContainer => h.create_container(),
            Point::StartContainer => h.start_container(),
            Point::Poststart => h.poststart(),
            Point::Poststop => h.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook entry itself is unusable (relative path, timeout ≤ 0, bad env entry, NUL byte).
    #[error("{point} hook {path}: {reason}")]
    Invalid {
        point: Point,
        path: String,
        reason: String,
    },
    /// The hook could not be started: missing file, no permission, namespace not joinable.
    #[error("{point} hook {path}: {what}: {source}")]
    Sys {
        point: Point,
        path: String,
        what: String,
        source: std::io::Error,
    },
    /// It ran and exited non-zero or was killed by a signal.
    #[error("{point} hook {path} failed: {status}{}", colon(.last_line))]
    Failed {
        point: Point,
        path: String,
        /// `exit status N` or `killed by signal SIGX`.
        status: String,
        last_line: String,
    },
    /// Its timeout expired; it was killed with its process group.
    #[error("{point} hook {path} timed out after {secs} s{}", colon(.last_line))]
    TimedOut {
        point: Point,
        path: String,
        secs: i64,
        last_line: String,
    },
}

impl HookError {
    pub fn point(&self) -> Point {
        match self {
            HookError::Invalid { point, .. }
            | HookError::Sys { point, .. }
            | HookError::Failed { point, .. }
            | HookError::TimedOut { point, .. } => *point,
        }
    }
}

fn colon(line: &str) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HookState<'a> {
    oci_version: &'a str,
    id: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "no_pid")]
    pid: i32,
    bundle: &'a Path,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

fn no_pid(pid: &i32) -> bool {
    *pid <= 0
}

/// The state document hooks read on stdin (runtime.md "State"). `status` is normally
/// [`Point::status`]; `pid` (the CT init's host pid) is left out when ≤ 0, `annotations` when
/// empty.
pub fn state_json(
    oci_version: &str,
    id: &str,
    status: Status,
    pid: i32,
    bundle: &Path,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&HookState {
        oci_version,
        id,
        status,
        pid,
        bundle,
        annotations,
    })
    .expect("a state document always serializes")
}

/// Run the hooks of `point` in order; the first failure stops the rest and is returned.
/// `ns_pid` (the host pid of the CT's init) is used by `createContainer` and `startContainer`
/// only; without it they run in the runtime's namespaces.
pub fn run(
    spec: &Spec,
    point: Point,
    state_json: &[u8],
    ns_pid: Option<i32>,
) -> Result<(), HookError> {
    run_with_paths(spec, point, state_json, ns_pid, &BTreeMap::new())
}

/// [`run`], with namespace files that replace the CT's own (keyed by the names in
/// [`crate::nsenter::ORDER`], as `process::Target::ns_paths`: a pod's net, ipc and uts).
pub fn run_with_paths(
    spec: &Spec,
    point: Point,
    state_json: &[u8],
    ns_pid: Option<i32>,
    ns_paths: &BTreeMap<String, PathBuf>,
) -> Result<(), HookError> {
    let ns = ns_pid.filter(|_| point.in_container());
    for hook in point.hooks(spec) {
        run_one(hook, point, state_json, ns.map(|pid| (pid, ns_paths)))?;
    }
    Ok(())
}

fn run_one(
    hook: &Hook,
    point: Point,
    input: &[u8],
    ns: Option<(i32, &BTreeMap<String, PathBuf>)>,
) -> Result<(), HookError> {
    let path = hook.path();
    let shown = path.display().to_string();
    let invalid = |reason: String| HookError::Invalid {
        point,
        path: shown.clone(),
        reason,
    };
    let sys = |what: String, source: std::io::Error| HookError::Sys {
        point,
        path: shown.clone(),
        what,
        source,
    };
    if !path.is_absolute() {
        return Err(invalid("path is not absolute".into()));
    }
    let timeout = match hook.timeout() {
        None => None,
        Some(t) if t > 0 => Some(t),
        Some(t) => return Err(invalid(format!("timeout must be greater than 0, not {t}"))),
    };
    let argv = match hook.args() {
        Some(a) if !a.is_empty() => a.clone(),
        _ => vec![shown.clone()],
    };
    let mut env = Vec::new();
    for e in hook.env().iter().flatten() {
        let Some((k, v)) = e.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(invalid(format!("env entry {e:?} is not KEY=VALUE")));
        };
        env.push((k.to_string(), v.to_string()));
    }
    let has_nul = |s: &str| s.contains('\0');
    if path.as_os_str().as_bytes().contains(&0)
        || argv.iter().any(|a| has_nul(a))
        || hook.env().iter().flatten().any(|e| has_nul(e))
    {
        return Err(invalid("NUL byte in path, args or env".into()));
    }

    let mut cmd = Command::new(path);
    cmd.arg0(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A hook gets stdio only: not the container's preserved fds nor our own (runc's rule).
    // Marked close-on-exec rather than closed, so the namespace fds and pipes set up for the
    // hook still serve until its exec.
    // SAFETY: close_range is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 4u32);
            Ok(())
        })
    };
    let mut report = None;
    if let Some((pid, paths)) = ns {
        // createContainer's path resolves in the runtime's namespace, startContainer's in the CT.
        let program = if point == Point::CreateContainer {
            Program::OpenedOnHost
        } else {
            Program::InCt
        };
        let env = hook.env().as_deref().unwrap_or(&[]);
        let r = command::in_namespaces(&mut cmd, program, path, &argv, env, pid, paths).map_err(
            |e| match e {
                PrepareError::Namespace(e) => {
                    sys(format!("opening {}", e.path.display()), e.source)
                }
                PrepareError::Program(e) => sys("open".into(), e),
                PrepareError::Pipe(e) => sys("pipe".into(), e),
            },
        )?;
        report = Some((r, pid));
    }

    log::debug!("running {point} hook {shown}");
    let child = spawn(&mut cmd).map_err(|e| {
        let step = report.as_ref().map(|(r, pid)| (r.failed_step(), pid));
        match step {
            Some((Some(Step::Join { name, path }), pid)) => sys(
                format!(
                    "joining the {name} namespace {} of pid {pid}",
                    path.display()
                ),
                e,
            ),
            Some((Some(Step::UserIds), _)) => {
                sys("becoming root in the CT's user namespace".into(), e)
            }
            Some((Some(Step::Fork), _)) => sys("fork".into(), e),
            _ => sys("exec".into(), e),
        }
    })?;
    drop(cmd); // closes the namespace and program fds the pre-exec closure held

    let limit = timeout.map(|t| Duration::from_secs(t as u64));
    let out = supervise(child, input, limit, OUTPUT_CAP).map_err(|e| sys("waiting".into(), e))?;
    let last_line = last_line(&[&out.stderr, &out.stdout]);
    for (name, buf) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if !buf.is_empty() {
            log::debug!(
                "{point} hook {shown} {name}: {}",
                String::from_utf8_lossy(buf).trim_end()
            );
        }
    }
    match (out.status, timeout) {
        (Some(st), _) if st.success() => Ok(()),
        (Some(st), _) => Err(HookError::Failed {
            point,
            path: shown,
            status: describe(st),
            last_line,
        }),
        (None, secs) => Err(HookError::TimedOut {
            point,
            path: shown,
            secs: secs.unwrap_or_default(),
            last_line,
        }),
    }
}

/// `Command::spawn`, retried briefly on ETXTBSY: a hook file just written by another process (or
/// by a thread of ours whose write fd a concurrent fork briefly duplicated) is busy for a moment.
fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

fn describe(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => match Signal::try_from(s) {
            Ok(sig) => format!("killed by signal {}", sig.as_str()),
            Err(_) => format!("killed by signal {s}"),
        },
        _ => st.to_string(),
    }
}

/// The last non-empty line of the first buffer that has one, shortened to `LINE_CAP` bytes.
fn last_line(bufs: &[&[u8]]) -> String {
    for b in bufs {
        let text = String::from_utf8_lossy(b);
        if let Some(line) = text.lines().map(str::trim).rev().find(|l| !l.is_empty()) {
            let mut end = line.len().min(LINE_CAP);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            return line[..end].to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests;
