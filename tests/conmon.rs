//! Debian's conmon 2.1.6 driven the way CRI-O 1.32 drives it (CRI-O's internal/oci/runtime_oci.go;
//! docs/callers.md):
//! `create` and ExecSync go through conmon, everything else is a direct runtime call.
//! conmon double-forks away from us for `create` and, as a subreaper, reaps the container's
//! processes itself; this test process stays an ordinary parent.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const CONMON: &str = "/usr/bin/conmon";
/// CRI-O's default handler `monitor_env`: the only environment conmon and the runtime get.
const MONITOR_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// CRI-O's `maxExecSyncSize` (16 MiB), passed as `--log-global-size-max` for ExecSync.
const MAX_EXEC_SYNC_SIZE: &str = "16777216";

/// A 64-hex container ID, as CRI-O makes them.
fn crio_id(seed: &str) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    (0..4)
        .map(|i| {
            for b in seed.bytes().chain([i as u8]) {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// A live, non-zombie process.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
        Err(_) => false,
    }
}

fn is_conmon(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).next() == Some(CONMON.as_bytes()))
        .unwrap_or(false)
}

/// SIGKILLs a conmon that is still around when a test ends (on failure), so that nothing
/// outlives the test. Declared before the `Sim`, it drops after it: the `Sim` deletes the CTs
/// first, so that conmon can still reap the container's processes and exit by itself.
#[derive(Default)]
struct ConmonGuard {
    /// The daemonized monitor of `create` (from `-P`).
    daemon_pidfile: Option<PathBuf>,
    /// An ExecSync conmon (`--sync`): our own child.
    child: Option<Child>,
}

impl Drop for ConmonGuard {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let pid = self
            .daemon_pidfile
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            if alive(pid) && is_conmon(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// The two pipes CRI-O hands conmon as fds 3 (`_OCI_SYNCPIPE`, conmon writes) and
/// 4 (`_OCI_STARTPIPE`, conmon reads), plus our ends.
struct Pipes {
    sync_read: File,
    start_write: File,
    child_ends: Option<(OwnedFd, OwnedFd)>,
}

fn pipes() -> Pipes {
    let (sync_r, sync_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let (start_r, start_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    Pipes {
        sync_read: File::from(sync_r),
        start_write: File::from(start_w),
        child_ends: Some((sync_w, start_r)),
    }
}

/// conmon with CRI-O's environment and the sync/start pipes at fds 3 and 4.
/// Returns the command; the child ends are closed in this process when it drops.
fn conmon_command(p: &mut Pipes) -> Command {
    let (sync_w, start_r) = p.child_ends.take().unwrap();
    let mut c = Command::new(CONMON);
    c.env_clear()
        .env("PATH", MONITOR_PATH)
        .env("_OCI_SYNCPIPE", "3")
        .env("_OCI_STARTPIPE", "4");
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            // Move both above the target numbers first, so neither dup2 clobbers the other.
            let hi_sync = libc::fcntl(sync_w.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10);
            let hi_start = libc::fcntl(start_r.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10);
            if hi_sync < 0
                || hi_start < 0
                || libc::dup2(hi_sync, 3) < 0
                || libc::dup2(hi_start, 4) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

/// Read one JSON line from conmon's sync pipe, or panic after `timeout`.
fn read_sync(p: &Pipes, timeout: Duration) -> serde_json::Value {
    let f = p.sync_read.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = BufReader::new(f).read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    let line = rx
        .recv_timeout(timeout)
        .expect("timed out waiting for conmon's sync message")
        .unwrap();
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("sync message {line:?} is not JSON: {e}"))
}

/// In the background: whether a process mentioning `needle` shows up within `timeout`.
fn watch_for(
    state: PathBuf,
    needle: &'static str,
    timeout: Duration,
) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !in_ct_mentioning(&state, needle).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
}

/// The processes in the CT (its init's pid namespace, from the runtime's state) whose command
/// line holds `needle`: other tests, and other checkouts' runs, may run the same command
/// elsewhere on this host.
fn in_ct_mentioning(state: &Path, needle: &str) -> Vec<i32> {
    let ns = |pid: i64| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let state = std::fs::read(state).unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    let init = state["init_pid"]
        .as_i64()
        .expect("the state names the CT's init");
    let want = ns(init).expect("the CT's init is alive");
    processes_mentioning(needle)
        .into_iter()
        .filter(|p| ns(i64::from(*p)).as_ref() == Some(&want))
        .collect()
}

/// Wait for an own child with a deadline.
fn wait_child(c: &mut Child, what: &str, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One CRI-O container: its dirs as CRI-O lays them out, under the sim's temp dir.
struct Crio<'a> {
    sim: &'a Sim,
    id: String,
    bundle: PathBuf,
    exits: PathBuf,
    persist: PathBuf,
    log: PathBuf,
    socks: PathBuf,
    /// conmon's own stdout/stderr (CRI-O passes its own; we keep them for failure messages).
    conmon_out: PathBuf,
    /// The container pid conmon reported on the sync pipe.
    pid: i32,
}

impl<'a> Crio<'a> {
    /// CreateContainer: conmon runs the runtime's `create`; returns once conmon sent the pid.
    fn create(sim: &'a Sim, bundle: &Path, seed: &str, guard: &mut ConmonGuard) -> Crio<'a> {
        let id = crio_id(seed);
        let tmp = sim.dir.path().join(format!("crio-{seed}"));
        let (exits, persist, socks) = (tmp.join("exits"), tmp.join("persist"), tmp.join("sock"));
        for d in [&exits, &persist, &socks] {
            std::fs::create_dir_all(d).unwrap();
        }
        let log = tmp.join("ctr.log");
        let conmon_out = tmp.join("conmon.out");
        guard.daemon_pidfile = Some(bundle.join("conmon-pidfile"));

        let out = File::create(&conmon_out).unwrap();
        let mut p = pipes();
        let mut cmd = conmon_command(&mut p);
        cmd.arg("-b")
            .arg(bundle)
            .args(["-c", &id])
            .arg("--exit-dir")
            .arg(&exits)
            .arg("-l")
            .arg(&log)
            .args(["--log-level", "debug", "-n", "k8s_x"])
            .arg("-P")
            .arg(bundle.join("conmon-pidfile"))
            .arg("-p")
            .arg(bundle.join("pidfile"))
            .arg("--persist-dir")
            .arg(&persist)
            .arg("-r")
            .arg(runtime_bin())
            .arg("--runtime-arg")
            .arg(format!("--root={}", sim.state_root.display()))
            // CRI-O passes only `--root=…`; the runtime would read the node from
            // /etc/proxmox-lxcri/config.toml. The sim's config has to be named explicitly.
            .arg("--runtime-arg")
            .arg(format!("--config={}", sim.config.display()))
            .arg("--socket-dir-path")
            .arg(&socks)
            .arg("--syslog")
            .args(["-u", &id])
            .current_dir(bundle)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let mut child = cmd.spawn().unwrap();
        // Closes our copies of conmon's pipe ends.
        drop(cmd);
        // CRI-O puts conmon into its cgroup, then lets it go on.
        (&p.start_write).write_all(&[0]).unwrap();
        // The first conmon exits as soon as it has forked the monitor.
        let st = wait_child(&mut child, "conmon to daemonize", Duration::from_secs(10));
        assert!(st.success(), "conmon: {st}");

        let msg = read_sync(&p, Duration::from_secs(120));
        let pid = msg["pid"].as_i64().unwrap_or_else(|| {
            panic!(
                "conmon's create answer {msg}; conmon says: {}",
                std::fs::read_to_string(&conmon_out).unwrap_or_default()
            )
        }) as i32;
        assert!(
            pid > 0,
            "create failed: {msg}; conmon says: {}",
            std::fs::read_to_string(&conmon_out).unwrap_or_default()
        );
        Crio {
            sim,
            id,
            bundle: bundle.to_path_buf(),
            exits,
            persist,
            log,
            socks,
            conmon_out,
            pid,
        }
    }

    /// A direct runtime call as CRI-O makes it: `--root R <args…>` (plus our `--config`).
    fn rt(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(runtime_bin());
        c.env_clear()
            .env("PATH", MONITOR_PATH)
            .arg("--root")
            .arg(&self.sim.state_root)
            .arg("--config")
            .arg(&self.sim.config)
            .args(args)
            .stdin(Stdio::null());
        c.output().unwrap()
    }

    fn rt_ok(&self, args: &[&str]) -> String {
        let o = self.rt(args);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            stderr(&o),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.rt_ok(&["state", &self.id])).unwrap()
    }

    fn start(&self) {
        self.rt_ok(&["start", &self.id]);
    }

    fn conmon_says(&self) -> String {
        std::fs::read_to_string(&self.conmon_out).unwrap_or_default()
    }

    /// conmon's exit file, once written.
    fn wait_exit_code(&self, timeout: Duration) -> String {
        let f = self.exits.join(&self.id);
        let deadline = Instant::now() + timeout;
        while !f.exists() {
            assert!(
                Instant::now() < deadline,
                "no exit file {} after {timeout:?}; state: {}; conmon says: {}",
                f.display(),
                String::from_utf8_lossy(&self.rt(&["state", &self.id]).stdout),
                self.conmon_says()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read_to_string(f).unwrap()
    }

    /// After the exit: both exit files say `code`, conmon is gone, `state` is stopped.
    fn expect_exit(&self, code: &str) {
        assert_eq!(self.wait_exit_code(Duration::from_secs(30)), code);
        assert_eq!(
            std::fs::read_to_string(self.persist.join("exit")).unwrap(),
            code
        );
        // CRI-O reads `state` right after the exit file appears.
        let st = self.state();
        assert_eq!(st["status"], "stopped", "{st}");
        assert_eq!(st["pid"], 0, "{st}");
        let conmon: i32 = std::fs::read_to_string(self.bundle.join("conmon-pidfile"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_for("conmon to exit", Duration::from_secs(10), || !alive(conmon));
    }

    /// DeleteContainer, and nothing left of the container.
    fn delete(&self) {
        self.rt_ok(&["delete", "--force", &self.id]);
        assert!(self.sim.no_cts(), "CT left behind: {:?}", self.sim.cts());
        assert!(
            !self.sim.state_root.join(&self.id).exists(),
            "state dir left behind"
        );
        let s = self.rt(&["state", &self.id]);
        assert!(!s.status.success(), "state after delete succeeded");
    }
}

/// k8s-file log lines (`<RFC 3339 time> <stream> <F|P> <text>`) as (stream, tag, text).
fn k8s_log(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.splitn(4, ' ');
            let (t, s, tag, text) = (
                it.next().unwrap(),
                it.next().unwrap_or_default(),
                it.next().unwrap_or_default(),
                it.next().unwrap_or_default(),
            );
            assert!(
                t.contains('T') && t.len() > 20,
                "not a k8s-file line: {l:?}"
            );
            (s.to_string(), tag.to_string(), text.to_string())
        })
        .collect()
}

fn line(stream: &str, text: &str) -> (String, String, String) {
    (stream.into(), "F".into(), text.into())
}

#[test]
fn create_start_exit_delete_through_conmon() {
    let mut guard = ConmonGuard::default();
    let sim = Sim::new("conmon_lifecycle");
    let bundle = sim.bundle("b", "echo hi; exit 42");
    let c = Crio::create(&sim, &bundle, "life", &mut guard);

    let st = c.state();
    assert_eq!(st["status"], "created", "{st}");
    let pidfile: i32 = std::fs::read_to_string(bundle.join("pidfile"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(st["pid"], pidfile, "{st}");
    assert_eq!(c.pid, pidfile, "conmon's pid is the pid file's");
    assert!(alive(pidfile), "container pid {pidfile} not alive");
    assert!(
        !c.exits.join(&c.id).exists(),
        "exit file before start (conmon lost the pid?): {}",
        c.conmon_says()
    );
    assert_eq!(sim.cts().len(), 1);

    c.start();
    c.expect_exit("42");
    let log = k8s_log(&c.log);
    assert!(log.contains(&line("stdout", "hi")), "log: {log:?}");
    assert!(
        log.iter().all(|(s, _, _)| s == "stdout"),
        "runtime chatter in the container log: {log:?}"
    );
    c.delete();
}

fn kill_gives(signal: &str, want: &str) {
    let mut guard = ConmonGuard::default();
    let sim = Sim::new(&format!("conmon_kill_{signal}"));
    // The workload is pid 1, which ignores TERM without a handler (as under runc).
    let bundle = sim.bundle("b", "trap 'exit 143' TERM; while true; do sleep 0.1; done");
    let c = Crio::create(&sim, &bundle, &format!("kill{signal}"), &mut guard);
    c.start();
    assert_eq!(c.state()["status"], "running");
    // conmon 2.1.x writes `-1` at once if it cannot wait for the pid: not the case here.
    assert!(!c.exits.join(&c.id).exists(), "{}", c.conmon_says());
    c.rt_ok(&["kill", &c.id, signal]);
    c.expect_exit(want);
    c.delete();
}

#[test]
fn kill_15_gives_143() {
    kill_gives("15", "143");
}

#[test]
fn kill_kill_gives_137() {
    kill_gives("KILL", "137");
}

/// ExecSync: what conmon reported on the sync pipe, its exit status, and the exec's log.
struct ExecSync {
    sync: serde_json::Value,
    status: ExitStatus,
    elapsed: Duration,
    log: Vec<(String, String, String)>,
    conmon_stderr: String,
}

impl Crio<'_> {
    /// ExecSyncContainer: `conmon … -e --sync … -T timeout --exec-process-spec F`, waited for.
    fn exec_sync(&self, guard: &mut ConmonGuard, args: &[&str], timeout: u32) -> ExecSync {
        let n = {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        };
        let tmp = self.sim.dir.path().join(format!("execsync-{n}"));
        std::fs::create_dir_all(&tmp).unwrap();
        // CRI-O creates both beforehand (os.CreateTemp): they exist and are empty.
        let pid_file = tmp.join("pidfile");
        let log = tmp.join(format!("crio-log-{}", self.id));
        File::create(&pid_file).unwrap();
        File::create(&log).unwrap();
        // The container's process with args replaced.
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.bundle.join("config.json")).unwrap())
                .unwrap();
        let mut process = spec["process"].clone();
        process["args"] = serde_json::json!(args);
        process["terminal"] = false.into();
        let process_file = tmp.join("exec-process-1");
        std::fs::write(&process_file, serde_json::to_vec(&process).unwrap()).unwrap();
        let (out, err) = (tmp.join("conmon.stdout"), tmp.join("conmon.stderr"));

        let mut p = pipes();
        let mut cmd = conmon_command(&mut p);
        cmd.args(["-c", &self.id, "-n", "k8s_x", "-r"])
            .arg(runtime_bin())
            .arg("-p")
            .arg(&pid_file)
            .arg("-e")
            .arg("-l")
            .arg(&log)
            .arg("--socket-dir-path")
            .arg(&self.socks)
            .args(["--log-level", "debug", "--sync"])
            .args(["--log-global-size-max", MAX_EXEC_SYNC_SIZE]);
        if timeout > 0 {
            cmd.args(["-T", &timeout.to_string()]);
        }
        cmd.arg("--exec-process-spec")
            .arg(&process_file)
            .arg("--runtime-arg")
            .arg(format!("--root={}", self.sim.state_root.display()))
            // Not CRI-O's: it has only `--root=…` (the config comes from /etc/proxmox-lxcri).
            .arg("--runtime-arg")
            .arg(format!("--config={}", self.sim.config.display()))
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        let t0 = Instant::now();
        guard.child = Some(cmd.spawn().unwrap());
        drop(cmd);
        (&p.start_write).write_all(&[0]).unwrap();
        let status = wait_child(
            guard.child.as_mut().unwrap(),
            "the ExecSync conmon",
            Duration::from_secs(timeout as u64 + 60),
        );
        let elapsed = t0.elapsed();
        guard.child = None;
        let conmon_stderr = std::fs::read_to_string(&err).unwrap();
        // conmon has exited: every write end of the sync pipe is closed.
        let sync = read_sync(&p, Duration::from_secs(5));
        ExecSync {
            sync,
            status,
            elapsed,
            log: k8s_log(&log),
            conmon_stderr,
        }
    }
}

/// A running CRI-O container whose workload sleeps.
fn running<'a>(sim: &'a Sim, guard: &mut ConmonGuard, seed: &str) -> Crio<'a> {
    let bundle = sim.bundle("b", "echo main > /main-started; exec sleep 1000");
    let c = Crio::create(sim, &bundle, seed, guard);
    c.start();
    wait_for("the workload", Duration::from_secs(10), || {
        bundle.join("rootfs/main-started").exists()
    });
    c
}

/// An ExecSync of `args` with `-T 2` that is still running when the timeout hits: conmon
/// SIGKILLs the process group of the exec pid and reports the timeout; afterwards no process
/// mentioning `needle` may be left, and the container runs on untouched.
fn exec_sync_times_out(c: &Crio, guard: &mut ConmonGuard, args: &[&str], needle: &'static str) {
    let state = c.sim.state_root.join(&c.id).join("state.json");
    let seen = watch_for(state.clone(), needle, Duration::from_secs(10));
    let r = c.exec_sync(guard, args, 2);
    assert!(seen.join().unwrap(), "{args:?} never ran");
    assert_eq!(
        r.sync,
        serde_json::json!({"exit_code": -1, "message": "command timed out"}),
        "{args:?}; conmon: {}",
        r.conmon_stderr
    );
    assert_eq!(r.status.code(), Some(255), "conmon's exit status");
    // conmon arms a whole-second GLib timer: it fires between 1 and 2 s after it was set.
    assert!(
        r.elapsed >= Duration::from_secs(1) && r.elapsed < Duration::from_secs(10),
        "{args:?} timed out after {:?}",
        r.elapsed
    );
    assert!(r.log.is_empty(), "{:?}", r.log);
    wait_for(
        &format!("{args:?} to go after the timeout"),
        Duration::from_secs(5),
        || in_ct_mentioning(&state, needle).is_empty(),
    );

    let st = c.state();
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"], c.pid, "{st}");
    assert!(alive(c.pid));
    assert!(!c.exits.join(&c.id).exists(), "{}", c.conmon_says());
}

#[test]
fn exec_sync_through_conmon_reports_status_output_and_timeout() {
    let mut guard = ConmonGuard::default();
    let sim = Sim::new("conmon_exec_sync");
    let c = running(&sim, &mut guard, "execsync");

    let r = c.exec_sync(
        &mut guard,
        &["sh", "-c", "echo out; echo oops >&2; exit 3"],
        0,
    );
    // CRI-O's legacy API: only the exit code, at the end.
    assert_eq!(
        r.sync,
        serde_json::json!({"exit_code": 3}),
        "conmon: {}",
        r.conmon_stderr
    );
    // conmon exits with the exec's status too (CRI-O only reads the sync pipe).
    assert_eq!(r.status.code(), Some(3), "conmon: {}", r.status);
    assert!(r.log.contains(&line("stdout", "out")), "log: {:?}", r.log);
    assert!(r.log.contains(&line("stderr", "oops")), "log: {:?}", r.log);
    assert_eq!(
        r.log.len(),
        2,
        "only the exec's output in its log: {:?}",
        r.log
    );

    exec_sync_times_out(&c, &mut guard, &["sleep", "30"], "sleep\x0030");

    // The container still takes execs, and ends as usual.
    let r = c.exec_sync(&mut guard, &["true"], 5);
    assert_eq!(r.sync, serde_json::json!({"exit_code": 0}));
    c.rt_ok(&["kill", &c.id, "KILL"]);
    c.expect_exit("137");
    c.delete();
}

/// A probe is often a shell running something (`sh -c 'curl …'`). With runc the exec'd process
/// leads its own process group, which holds its children too, and conmon's group kill ends them
/// all; nothing may stay behind in the container.
#[test]
fn exec_sync_timeout_ends_the_children_of_the_exec_too() {
    let mut guard = ConmonGuard::default();
    let sim = Sim::new("conmon_exec_sync_children");
    let c = running(&sim, &mut guard, "execsynctree");
    exec_sync_times_out(
        &c,
        &mut guard,
        &["sh", "-c", "sleep 31; echo never"],
        "sleep\x0031",
    );
    c.rt_ok(&["kill", &c.id, "KILL"]);
    c.expect_exit("137");
    c.delete();
}
