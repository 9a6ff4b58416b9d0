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
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
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
