//! The LXC side of a CT: running state, init pid, and starting/stopping `lxc-start -F` the way
//! Proxmox's `pve-container@<vmid>` unit does (stdin/stdout to /dev/null, stderr to
//! `run/pve/ct-<vmid>.stderr`).

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, ForkResult, Pid};

use crate::sim::Sim;

/// How long `pct start` waits for RUNNING (Proxmox runs `systemctl start` with 60 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long we wait for a stopped CT's monitor to go away.
const GONE_TIMEOUT: Duration = Duration::from_secs(10);

fn lxcpath(sim: &Sim) -> String {
    sim.lxc_path().to_string_lossy().into_owned()
}

/// The monitor's abstract command socket, `@<lxcpath>/<name>/command`, or `None` when LXC
/// would hash the name because it does not fit into `sun_path`.
fn command_socket(sim: &Sim, vmid: u32) -> Option<String> {
    let name = format!("{}/{vmid}/command", lxcpath(sim));
    (name.len() < 100).then(|| format!("@{name}"))
}

/// Proxmox's `check_running`: the CT's monitor socket exists.
pub fn is_running(sim: &Sim, vmid: u32) -> bool {
    match command_socket(sim, vmid) {
        Some(sock) => fs::read_to_string("/proc/net/unix")
            .map(|t| {
                t.lines()
                    .any(|l| l.split_whitespace().nth(7) == Some(sock.as_str()))
            })
            .unwrap_or(false),
        None => state(sim, vmid).is_some_and(|s| s != "STOPPED"),
    }
}

fn lxc_info(sim: &Sim, vmid: u32, flag: &str) -> Option<String> {
    let out = Command::new("lxc-info")
        .args(["-n", &vmid.to_string(), "-P", &lxcpath(sim), flag, "-H"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// LXC state (`RUNNING`, `STOPPED`, ...).
pub fn state(sim: &Sim, vmid: u32) -> Option<String> {
    lxc_info(sim, vmid, "-s")
}

/// Host pid of the CT's init (`lxc-info -p`).
pub fn pid(sim: &Sim, vmid: u32) -> Option<u32> {
    lxc_info(sim, vmid, "-p")?.parse().ok()
}

/// The running CT's cgroup directory for controller `ctrl` (v1 layout of this host), as Proxmox's
/// `get_cgroup_path` with `$limiting` gets it from LXC (pve-container src/PVE/LXC/Command.pm):
/// wherever LXC put the CT (`lxc.cgroup.dir.container`), without its inner `ns`. Here read from
/// the init's `/proc/<pid>/cgroup`; Proxmox's `lxc/<vmid>` when the CT does not run.
pub fn limit_cgroup(sim: &Sim, vmid: u32, ctrl: &str) -> String {
    let dir = pid(sim, vmid)
        .and_then(|p| fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                ctrls
                    .split(',')
                    .any(|c| c == ctrl)
                    .then(|| path.strip_suffix("/ns").unwrap_or(path).to_string())
            })
        })
        .unwrap_or_else(|| format!("/lxc/{vmid}"));
    format!("/sys/fs/cgroup/{ctrl}{dir}")
}

/// Alive and not a zombie.
fn process_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// Closes every fd from `first` up, so nothing of the caller's (pipes it reads to EOF, the
/// config lock) leaks into long-lived processes.
fn close_from(first: u32) {
    // SAFETY: plain syscalls on fd numbers.
    unsafe {
        if libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) != 0 {
            for fd in first as i32..4096 {
                libc::close(fd);
            }
        }
    }
}

/// Set in the supervisor's environment; `main` then runs `supervisor_main`.
pub const SUPERVISOR_ENV: &str = "PVE_SIM_SUPERVISOR";

/// Makes `src` available as `dst` across exec (`dup2`, or clearing close-on-exec when equal).
///
/// # Safety
/// Only between fork and exec, with `src` open.
unsafe fn install_fd(src: RawFd, dst: RawFd) {
    // SAFETY: integer arguments only; between fork and exec (the caller's promise) no owner of
    // `dst` runs again.
    unsafe {
        if src == dst {
            libc::fcntl(dst, libc::F_SETFD, 0);
        } else {
            libc::dup2(src, dst);
        }
    }
}

/// Starts the CT: `lxc-start -F` under a small supervisor in its own session (the stand-in for
/// systemd's `pve-container@<vmid>` unit), then waits until LXC reports RUNNING. On failure
/// nothing is left running and the error is Proxmox's task error with the stderr file's lines.
/// `mounts`: the CT's mounted image volumes (storage/image.rs), which its supervisor unmounts
/// once `lxc-start` has ended, as Proxmox's poststop hook unmounts the CT's volumes.
pub fn launch(sim: &Sim, vmid: u32, mounts: &[PathBuf]) -> Result<(), String> {
    let fail = |msg: String| format!("startup for container '{vmid}' failed\n{msg}");
    // A new file, appended to by lxc-start and by the sim's failing pre-start hook alike.
    let _ = fs::remove_file(sim.stderr_path(vmid));
    let err_file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(sim.stderr_path(vmid))
        .map_err(|e| fail(e.to_string()))?;
    let devnull = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| fail(e.to_string()))?;
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(e.to_string()))?;
    let exit_file = sim.run_dir().join(format!("ct-{vmid}.exit"));
    let _ = fs::remove_file(&exit_file);
    let exit_path = exit_file.to_string_lossy().into_owned();
    let argv: Vec<CString> = [
        format!("pve-sim-ct-{vmid}"),
        vmid.to_string(),
        lxcpath(sim),
        exit_path,
    ]
    .into_iter()
    .chain(mounts.iter().map(|m| m.to_string_lossy().into_owned()))
    .map(|a| CString::new(a).map_err(|e| fail(e.to_string())))
    .collect::<Result<_, _>>()?;
    let exe = CString::new("/proc/self/exe").expect("static path");
    std::env::set_var(SUPERVISOR_ENV, "1");

    // SAFETY: pct is single-threaded; the child only sets up fds and execs.
    match unsafe { fork() } {
        // SAFETY: in the child only raw syscalls on fds, then exec or _exit; the argv pointers
        // point into `argv`, alive until exec.
        Ok(ForkResult::Child) => unsafe {
            libc::setsid();
            // Park the sources above the targets first, so no dup2 clobbers another source.
            let srcs = [
                devnull.as_raw_fd(),
                devnull.as_raw_fd(),
                err_file.as_raw_fd(),
                wr.as_raw_fd(),
            ];
            let high: Vec<RawFd> = srcs
                .iter()
                .map(|fd| libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10))
                .collect();
            for (dst, src) in high.iter().enumerate() {
                install_fd(*src, dst as RawFd);
            }
            close_from(4);
            let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            libc::execv(exe.as_ptr(), ptrs.as_ptr());
            libc::_exit(127);
        },
        Ok(ForkResult::Parent { .. }) => std::env::remove_var(SUPERVISOR_ENV),
        Err(e) => return Err(fail(format!("fork failed: {e}"))),
    }
    drop(wr);
    let mut buf = [0u8; 4];
    let mut rd = File::from(rd);
    let monitor = match rd.read_exact(&mut buf) {
        Ok(()) => i32::from_le_bytes(buf),
        Err(e) => return Err(fail(format!("unable to start lxc-start: {e}"))),
    };

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if is_running(sim, vmid) && state(sim, vmid).as_deref() == Some("RUNNING") {
            return Ok(());
        }
        if !process_alive(monitor) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // A short-lived init can come and go between two polls. lxc-start -F exits 0 once the
    // CT ran (whatever the init's status) and non-zero when it failed to start, so its exit
    // status tells whether Proxmox would have seen RUNNING.
    if !process_alive(monitor) {
        let until = Instant::now() + Duration::from_secs(2);
        while !exit_file.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if fs::read_to_string(&exit_file).is_ok_and(|c| c.trim() == "0") {
            return Ok(());
        }
    }
    // Failed: leave nothing behind.
    if is_running(sim, vmid) {
        let _ = lxc_stop(sim, vmid, &["--kill"]);
    }
    if process_alive(monitor) {
        let _ = kill(Pid::from_raw(monitor), Signal::SIGKILL);
    }
    let until = Instant::now() + GONE_TIMEOUT;
    while (process_alive(monitor) || is_running(sim, vmid)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stderr = fs::read_to_string(sim.stderr_path(vmid)).unwrap_or_default();
    Err(fail(stderr))
}

/// The supervisor (`pve-sim-ct-<vmid> <vmid> <lxcpath> <exit file> [<mounted volume dir>...]`,
/// started by `launch` with
/// stdin/stdout on /dev/null, stderr on the CT's stderr file and the pid pipe on fd 3): runs
/// `lxc-start -F`, reports its pid, waits for it and records its exit status in the exit file
/// (what `systemctl show -p ExecMainStatus pve-container@<vmid>` tells on a node).
pub fn supervisor_main(args: &[String]) -> ! {
    std::env::remove_var(SUPERVISOR_ENV);
    // systemd's unit, not the session that started it: off the node's freezer.
    crate::power::leave();
    let [vmid, lxcpath, exit_path, mounts @ ..] = args else {
        std::process::exit(2);
    };
    let argv: Vec<CString> = ["lxc-start", "-F", "-n", vmid, "-P", lxcpath]
        .iter()
        .map(|a| CString::new(*a).unwrap_or_default())
        .collect();
    // SAFETY: single-threaded process; raw fork/exec/wait.
    unsafe {
        let monitor = libc::fork();
        if monitor == 0 {
            libc::close(3);
            let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let msg = b"pve-sim: cannot execute lxc-start\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(127);
        }
        let bytes = monitor.to_le_bytes();
        libc::write(3, bytes.as_ptr().cast(), bytes.len());
        libc::close(3);
        if monitor < 0 {
            libc::_exit(1);
        }
        let mut status = 0;
        while libc::waitpid(monitor, &mut status, 0) < 0 && *libc::__errno_location() == libc::EINTR
        {
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        // Volumes first, so whoever waits for the exit file finds them released.
        for m in mounts {
            crate::storage::image::umount(std::path::Path::new(m));
        }
        let _ = fs::write(exit_path, format!("{code}\n"));
        libc::_exit(0);
    }
}

/// A handle on pct's stdout for a child's stdout or stderr (falls back to /dev/null).
fn task_output() -> Stdio {
    use std::os::unix::io::AsFd;
    std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_or(Stdio::null(), Stdio::from)
}

/// Runs `lxc-stop -n <vmid> -P <path> <extra>`; `Err` is Proxmox's `run_command` error.
fn lxc_stop(sim: &Sim, vmid: u32, extra: &[&str]) -> Result<(), String> {
    let status = Command::new("lxc-stop")
        .args(["-n", &vmid.to_string(), "-P", &lxcpath(sim)])
        .args(extra)
        .stdin(Stdio::null())
        // Inside a task both streams are task output, which pct copies to its stdout.
        .stdout(task_output())
        .stderr(task_output())
        .status()
        .map_err(|e| {
            format!(
                "command 'lxc-stop -n {vmid} {}' failed: {e}",
                extra.join(" ")
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "command 'lxc-stop -n {vmid} {}' failed: exit code {}",
            extra.join(" "),
            status.code().unwrap_or(-1)
        ))
    }
}

/// Waits until the monitor socket is gone (LXC finished its stop hooks and cgroup cleanup)
/// and the supervisor has exited (systemd's unit is inactive).
fn wait_gone(sim: &Sim, vmid: u32) -> bool {
    let until = Instant::now() + GONE_TIMEOUT;
    while is_running(sim, vmid) {
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_supervisor_gone(sim, vmid)
}

/// Waits until no supervisor of this CT runs: a CT whose init exited on its own is `stopped`
/// as soon as its monitor socket is gone, while `lxc-start` and the supervisor still finish.
pub fn wait_supervisor_gone(sim: &Sim, vmid: u32) -> bool {
    let want = format!("pve-sim-ct-{vmid}\0{vmid}\0{}\0", lxcpath(sim));
    let until = Instant::now() + GONE_TIMEOUT;
    loop {
        let alive = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                fs::read(e.path().join("cmdline")).is_ok_and(|c| c.starts_with(want.as_bytes()))
            });
        if !alive {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `pct stop`: `lxc-stop --kill`, then wait until the CT is gone. A failed `lxc-stop` (a CT
/// already on its way down, whose init exited) is only a warning: Proxmox then waits for the
/// command socket to close (pve-container src/PVE/LXC.pm, `vm_stop`).
pub fn hard_stop(sim: &Sim, vmid: u32) -> Result<(), String> {
    if let Err(e) = lxc_stop(sim, vmid, &["--kill"]) {
        println!("{e}");
    }
    if !wait_gone(sim, vmid) {
        return Err(format!("CT {vmid} did not stop"));
    }
    Ok(())
}

/// `pct shutdown`: `lxc.signal.halt` to init, `--nokill` unless forced.
pub fn shutdown(sim: &Sim, vmid: u32, timeout: u64, force: bool) -> Result<(), String> {
    let t = timeout.to_string();
    let mut args = vec!["--timeout", t.as_str()];
    if !force {
        args.push("--nokill");
    }
    // A CT that went down by itself meanwhile is stopped all the same.
    if lxc_stop(sim, vmid, &args).is_err() && is_running(sim, vmid) {
        return Err("container did not stop".into());
    }
    if !wait_gone(sim, vmid) {
        return Err("container did not stop".into());
    }
    Ok(())
}
