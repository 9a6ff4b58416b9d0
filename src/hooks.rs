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
mod tests {
    use super::*;
    use nix::unistd::Pid;
    use oci_spec::runtime::Hooks;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    /// `/bin/sh -c SCRIPT` as a hook: no file to write, so no ETXTBSY.
    fn sh(script: &str) -> Hook {
        hook(json!({"path": "/bin/sh", "args": ["sh", "-c", script]}))
    }

    fn spec_with(point: Point, list: Vec<Hook>) -> Spec {
        let mut h = Hooks::default();
        let list = Some(list);
        match point {
            Point::Prestart => h.set_prestart(list),
            Point::CreateRuntime => h.set_create_runtime(list),
            Point::CreateContainer => h.set_create_container(list),
            Point::StartContainer => h.set_start_container(list),
            Point::Poststart => h.set_poststart(list),
            Point::Poststop => h.set_poststop(list),
        };
        let mut s = Spec::default();
        s.set_hooks(Some(h));
        s
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    const STATE: &[u8] =
        br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;

    #[test]
    fn runs_in_order_and_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let l = log.display();
        let spec = spec_with(
            Point::Poststart,
            vec![
                sh(&format!("echo one >> {l}")),
                sh(&format!("echo two >> {l}")),
                sh(&format!("echo three >> {l}; exit 1")),
                sh(&format!("echo four >> {l}")),
            ],
        );
        run(&spec, Point::Prestart, STATE, None).unwrap(); // no prestart hooks: nothing runs
        assert!(!log.exists());
        let e = run(&spec, Point::Poststart, STATE, None).unwrap_err();
        assert_eq!(e.point(), Point::Poststart);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\nthree\n");
    }

    #[test]
    fn gets_exactly_its_env_and_args() {
        let dir = tempfile::tempdir().unwrap();
        let (env_out, argv_out) = (dir.path().join("env"), dir.path().join("argv"));
        let cmd = format!(
            "cat /proc/$$/environ > {}; cat /proc/$$/cmdline > {}",
            env_out.display(),
            argv_out.display()
        );
        let spec = spec_with(
            Point::CreateRuntime,
            vec![hook(json!({
                "path": "/bin/sh",
                "args": ["my-hook", "-c", cmd, "x y", "z"],
                "env": ["A=1", "B=two words", "C=x=y", "PATH=/usr/bin:/bin"],
            }))],
        );
        run(&spec, Point::CreateRuntime, STATE, None).unwrap();
        let env = std::fs::read(&env_out).unwrap();
        assert_eq!(env, b"A=1\0B=two words\0C=x=y\0PATH=/usr/bin:/bin\0");
        let argv = std::fs::read(&argv_out).unwrap();
        let want = format!("my-hook\0-c\0{cmd}\0x y\0z\0");
        assert_eq!(String::from_utf8_lossy(&argv), want);

        // No env at all: an empty environment, not ours.
        let spec = spec_with(
            Point::CreateRuntime,
            vec![sh(&format!("cat /proc/$$/environ > {}", env_out.display()))],
        );
        run(&spec, Point::CreateRuntime, STATE, None).unwrap();
        assert_eq!(std::fs::read(&env_out).unwrap(), b"");
    }

    #[test]
    fn stdin_carries_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stdin");
        let spec = spec_with(
            Point::StartContainer,
            vec![sh(&format!("cat > {}", out.display()))],
        );
        // No ns_pid: runs in our namespaces.
        run(&spec, Point::StartContainer, STATE, None).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), STATE);

        // A state larger than a pipe buffer, to a hook that reads it slowly.
        let big = vec![b'x'; 300 * 1024];
        let spec = spec_with(
            Point::Poststop,
            vec![sh(&format!("sleep 0.2; cat > {}", out.display()))],
        );
        run(&spec, Point::Poststop, &big, None).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), big);

        // A hook that ignores stdin is fine too.
        let spec = spec_with(Point::Poststop, vec![sh("exit 0")]);
        run(&spec, Point::Poststop, &big, None).unwrap();
    }

    #[test]
    fn script_files_run_with_argv0_from_args() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let p = script(
            dir.path(),
            "hook.sh",
            &format!("echo \"$1 $2\" > {}", out.display()),
        );
        let spec = spec_with(
            Point::Prestart,
            vec![hook(json!({"path": p, "args": ["hook.sh", "a", "b"]}))],
        );
        run(&spec, Point::Prestart, STATE, None).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a b\n");
    }

    #[test]
    fn failure_names_point_path_status_and_last_stderr_line() {
        let spec = spec_with(
            Point::CreateRuntime,
            vec![sh(
                "echo noise; echo first >&2; echo '  last words  ' >&2; echo >&2; exit 3",
            )],
        );
        let e = run(&spec, Point::CreateRuntime, STATE, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "createRuntime hook /bin/sh failed: exit status 3: last words"
        );

        // Without stderr the last stdout line is quoted; without either, nothing.
        let spec = spec_with(Point::Poststop, vec![sh("echo out; exit 1")]);
        let e = run(&spec, Point::Poststop, STATE, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "poststop hook /bin/sh failed: exit status 1: out"
        );
        let spec = spec_with(Point::Poststop, vec![sh("exit 2")]);
        let e = run(&spec, Point::Poststop, STATE, None).unwrap_err();
        assert_eq!(e.to_string(), "poststop hook /bin/sh failed: exit status 2");

        let spec = spec_with(Point::Poststart, vec![sh("kill -USR1 $$")]);
        let e = run(&spec, Point::Poststart, STATE, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "poststart hook /bin/sh failed: killed by signal SIGUSR1"
        );
    }

    #[test]
    fn timeout_kills_the_hook_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let spec = spec_with(
            Point::CreateRuntime,
            vec![hook(json!({
                "path": "/bin/sh",
                "args": ["sh", "-c", format!(
                    "sleep 60 & echo $! > {}; echo waiting >&2; wait", pidfile.display())],
                "timeout": 1,
            }))],
        );
        let t = Instant::now();
        let e = run(&spec, Point::CreateRuntime, STATE, None).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(t.elapsed() >= Duration::from_secs(1));
        assert_eq!(
            e.to_string(),
            "createRuntime hook /bin/sh timed out after 1 s: waiting"
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(pid), "the hook's child {pid} survived");
    }

    /// Dead (absent or a zombie waiting for whoever inherited it), within a few seconds.
    fn gone(pid: i32) -> bool {
        for _ in 0..300 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return true,
                Ok(s) if s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')) => return true,
                Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        false
    }

    #[test]
    fn a_finished_hook_does_not_wait_for_its_background_children() {
        // The background sleep keeps stdout and stderr open; the hook itself is done at once.
        let spec = spec_with(Point::Poststart, vec![sh("sleep 5 & echo started")]);
        let t = Instant::now();
        run(&spec, Point::Poststart, STATE, None).unwrap();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn unusable_entries_are_errors() {
        let cases = [
            (
                json!({"path": "/nonexistent/hook"}),
                "prestart hook /nonexistent/hook: exec: No such file or directory (os error 2)",
            ),
            (
                json!({"path": "bin/true"}),
                "prestart hook bin/true: path is not absolute",
            ),
            (
                json!({"path": "/bin/true", "timeout": 0}),
                "prestart hook /bin/true: timeout must be greater than 0, not 0",
            ),
            (
                json!({"path": "/bin/true", "env": ["NOEQUALS"]}),
                "prestart hook /bin/true: env entry \"NOEQUALS\" is not KEY=VALUE",
            ),
        ];
        for (h, want) in cases {
            let spec = spec_with(Point::Prestart, vec![hook(h)]);
            let e = run(&spec, Point::Prestart, STATE, None).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        // createContainer with a pid opens the file on the host first.
        let spec = spec_with(
            Point::CreateContainer,
            vec![hook(json!({"path": "/nonexistent/hook"}))],
        );
        let me = std::process::id() as i32;
        let e = run(&spec, Point::CreateContainer, STATE, Some(me)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "createContainer hook /nonexistent/hook: open: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn state_document() {
        let mut ann = BTreeMap::new();
        let doc = state_json(
            "1.2.0",
            "c1",
            Point::CreateRuntime.status(),
            42,
            Path::new("/b"),
            &ann,
        );
        assert_eq!(
            String::from_utf8(doc).unwrap(),
            r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#
        );
        ann.insert("k".to_string(), "v".to_string());
        let doc = state_json(
            "1.2.0",
            "c1",
            Point::Poststop.status(),
            0,
            Path::new("/b"),
            &ann,
        );
        assert_eq!(
            String::from_utf8(doc).unwrap(),
            r#"{"ociVersion":"1.2.0","id":"c1","status":"stopped","bundle":"/b","annotations":{"k":"v"}}"#
        );
        let statuses: Vec<String> = Point::ALL.iter().map(|p| p.status().to_string()).collect();
        assert_eq!(
            statuses,
            ["creating", "creating", "creating", "created", "running", "stopped"]
        );
    }

    /// A process in its own mount, uts and pid namespaces (with its own /proc and a tmpfs only
    /// it sees), standing in for a CT's init.
    struct FakeCt {
        unshare: Child,
        init: i32,
    }

    impl FakeCt {
        fn start(dir: &Path) -> Option<FakeCt> {
            let d = dir.display();
            let setup = format!(
                "hostname hookns && mkdir -p {d}/inner && mount -t tmpfs t {d}/inner && \
                 printf '#!/bin/sh\\nhostname > {d}/out-start\\n' > {d}/inner/hook && \
                 chmod 755 {d}/inner/hook && touch {d}/ready && exec sleep 60"
            );
            let unshare = Command::new("unshare")
                .args([
                    "--mount",
                    "--uts",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "sh",
                    "-c",
                ])
                .arg(setup)
                .spawn()
                .ok()?;
            let mut ct = FakeCt { unshare, init: 0 };
            let uid = ct.unshare.id();
            for _ in 0..500 {
                let children = std::fs::read_to_string(format!("/proc/{uid}/task/{uid}/children"))
                    .unwrap_or_default();
                if let Some(pid) = children.split_whitespace().next() {
                    let pid: i32 = pid.parse().unwrap();
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    if dir.join("ready").exists() && comm.trim() == "sleep" {
                        ct.init = pid;
                        return Some(ct);
                    }
                }
                if ct.unshare.try_wait().ok().flatten().is_some() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            None
        }
    }

    impl Drop for FakeCt {
        fn drop(&mut self) {
            if self.init > 0 {
                let _ = nix::sys::signal::kill(Pid::from_raw(self.init), Signal::SIGKILL);
            }
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
        }
    }

    #[test]
    fn container_hooks_run_in_the_containers_namespaces() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let Some(ct) = FakeCt::start(d) else {
            eprintln!("skipped: cannot create namespaces here");
            return;
        };

        // createContainer: the path resolves on the host; the hook sees the CT's hostname and
        // is a member of its pid namespace (whose pid 1 is the sleep).
        let host_hook = script(
            d,
            "host-hook",
            &format!("{{ hostname; echo $$; cat; }} > {}/out-create", d.display()),
        );
        let spec = spec_with(
            Point::CreateContainer,
            vec![hook(json!({"path": host_hook, "args": ["host-hook"]}))],
        );
        run(&spec, Point::CreateContainer, STATE, Some(ct.init)).unwrap();
        let out = std::fs::read_to_string(d.join("out-create")).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("hookns"));
        let pid: i32 = lines.next().unwrap().parse().unwrap();
        assert!(
            pid > 1 && pid < 10,
            "pid {pid} is not in the new pid namespace"
        );
        assert_eq!(lines.next().unwrap().as_bytes(), STATE);

        // startContainer: the path resolves in the CT (this file exists only there).
        let inner = d.join("inner/hook");
        assert!(!inner.exists());
        let spec = spec_with(Point::StartContainer, vec![hook(json!({"path": inner}))]);
        run(&spec, Point::StartContainer, STATE, Some(ct.init)).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("out-start")).unwrap(),
            "hookns\n"
        );
        // ... and so does not exist for createContainer, nor without a pid.
        let spec = spec_with(Point::CreateContainer, vec![hook(json!({"path": inner}))]);
        assert!(run(&spec, Point::CreateContainer, STATE, Some(ct.init)).is_err());
        let spec = spec_with(Point::StartContainer, vec![hook(json!({"path": inner}))]);
        assert!(run(&spec, Point::StartContainer, STATE, None).is_err());

        // Runtime points ignore the pid: our own hostname.
        let spec = spec_with(
            Point::CreateRuntime,
            vec![sh(&format!("hostname > {}/out-runtime", d.display()))],
        );
        run(&spec, Point::CreateRuntime, STATE, Some(ct.init)).unwrap();
        assert_ne!(
            std::fs::read_to_string(d.join("out-runtime")).unwrap(),
            "hookns\n"
        );

        // A failing container hook reports its status through the waiter, and times out too.
        let spec = spec_with(
            Point::StartContainer,
            vec![hook(
                json!({"path": "/bin/sh", "args": ["sh", "-c", "echo bad >&2; exit 7"]}),
            )],
        );
        let e = run(&spec, Point::StartContainer, STATE, Some(ct.init)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "startContainer hook /bin/sh failed: exit status 7: bad"
        );
        let spec = spec_with(
            Point::StartContainer,
            vec![hook(
                json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 60"], "timeout": 1}),
            )],
        );
        let e = run(&spec, Point::StartContainer, STATE, Some(ct.init)).unwrap_err();
        assert!(e.to_string().contains("timed out after 1 s"), "{e}");

        // A pid whose namespaces cannot be opened.
        let e = run(&spec, Point::StartContainer, STATE, Some(i32::MAX)).unwrap_err();
        assert!(e.to_string().contains("opening /proc/"), "{e}");
        drop(ct);
    }
}
