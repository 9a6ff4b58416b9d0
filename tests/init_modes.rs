//! The in-container helper's modes, which the remote backends run through `pct exec`: run in a
//! chroot holding only busybox, as in a minimal image.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Copies are written under the write lock, processes spawned under the read lock: a child
/// forked while a copy is open for writing holds that descriptor until its exec, and an exec of
/// the copy then fails with ETXTBSY ("Text file busy"). `spawn` returns once the child has
/// exec'd, so its inherited descriptors are gone when the lock is released.
static FILES: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn rootfs() -> tempfile::TempDir {
    common::require_root();
    let _writing = FILES.write().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    for a in ["sh", "id", "sleep", "cat", "env", "grep", "sort"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    std::fs::copy(common::sibling_bin("proxmox-lxcri-init"), r.join("init")).unwrap();
    dir
}

fn init(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root).arg("/init").args(args);
    c
}

fn spawn(c: &mut Command) -> std::process::Child {
    let _spawning = FILES.read().unwrap();
    c.spawn().unwrap()
}

fn run(root: &Path, args: &[&str]) -> Output {
    let mut c = init(root, args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    spawn(&mut c).wait_with_output().unwrap()
}

#[test]
fn exec_applies_user_cwd_env_rlimits_and_umask() {
    let r = rootfs();
    let out = run(
        r.path(),
        &[
            "exec",
            "--uid",
            "1000",
            "--gid",
            "1001",
            "--groups",
            "5,6",
            "--cwd",
            "/home/u",
            "--env",
            "PATH=/bin",
            "--env",
            "FOO=a b",
            "--rlimit",
            "7:100:200",
            "--umask",
            "027",
            "--pid-file",
            "/pid",
            "--nnp",
            "--",
            "sh",
            "-c",
            "id; env | grep -v SHLVL | sort; pwd; ulimit -n; ulimit -Hn; umask; echo $$",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "uid=1000 gid=1001 groups=5,6");
    assert_eq!(&lines[1..4], ["FOO=a b", "PATH=/bin", "PWD=/home/u"]);
    assert_eq!(&lines[4..8], ["/home/u", "100", "200", "0027"]);
    let pid = std::fs::read_to_string(r.path().join("pid")).unwrap();
    assert_eq!(
        lines.last().unwrap(),
        &pid.trim(),
        "pid file names the workload"
    );
}

#[test]
fn exec_failures_are_126_and_127() {
    let r = rootfs();
    let out = run(r.path(), &["exec", "--env", "PATH=/bin", "--", "nosuch"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
    std::fs::write(r.path().join("bin/noexec"), "x").unwrap();
    let out = run(r.path(), &["exec", "--", "/bin/noexec"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let out = run(r.path(), &["exec", "--bogus", "1", "--", "sh"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

#[test]
fn kill_signals_the_pid_file_process() {
    let r = rootfs();
    let mut child = spawn(&mut init(
        r.path(),
        &["exec", "--pid-file", "/w.pid", "--", "sleep", "100"],
    ));
    let pid_file = r.path().join("w.pid");
    for _ in 0..100 {
        if pid_file.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = run(r.path(), &["kill", "15", "/w.pid"]);
    assert!(out.status.success(), "{out:?}");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15));
    let out = run(r.path(), &["kill", "15", "/w.pid"]);
    assert!(!out.status.success(), "the process is gone");
}

#[test]
fn put_writes_stdin_atomically_with_parents() {
    let r = rootfs();
    let mut child = spawn(init(r.path(), &["put", "/etc/deep/hosts", "640"]).stdin(Stdio::piped()));
    use std::io::Write;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    assert!(child.wait().unwrap().success());
    let path = r.path().join("etc/deep/hosts");
    assert_eq!(std::fs::read(&path).unwrap(), data);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let left: Vec<_> = std::fs::read_dir(r.path().join("etc/deep"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "no temporary file left");
}

#[test]
fn rlimits_above_the_hard_limit_are_capped() {
    let r = rootfs();
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    let out = run(
        r.path(),
        &[
            "exec",
            "--rlimit",
            "7:unlimited:unlimited",
            "--",
            "/bin/sh",
            "-c",
            "ulimit -Hn",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        hard.to_string()
    );
}

#[test]
fn no_new_privs_is_set() {
    let r = rootfs();
    let proc_dir = r.path().join("proc");
    std::fs::create_dir_all(&proc_dir).unwrap();
    let st = spawn(
        Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&proc_dir),
    )
    .wait()
    .unwrap();
    assert!(st.success(), "mount proc");
    let out = run(
        r.path(),
        &[
            "exec",
            "--nnp",
            "--",
            "/bin/grep",
            "NoNewPrivs",
            "/proc/self/status",
        ],
    );
    let _ = spawn(Command::new("umount").arg(&proc_dir)).wait();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
}
