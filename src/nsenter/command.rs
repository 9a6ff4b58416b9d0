//! Running a `std::process::Command` in a CT's namespaces (the container hooks): everything is
//! prepared before `spawn` forks — the namespace files opened with [`join`](super::join), the
//! program, argv and envp as C arrays — and the forked child joins the namespaces, becomes root
//! in the CT's user namespace (as `nsenter` does), forks once more so that the program is a
//! member of the CT's pid namespace, and execs it. The first child stays behind as a waiter that
//! exits as the program did, so the caller sees its status.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;

use super::join::{self, Namespaces, OpenError};
use crate::sys::supervise::set_nonblocking;

/// Where the program comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// Opened on the host before any `setns` and run from that descriptor (`execveat` with
    /// `AT_EMPTY_PATH`); what the kernel loads after it (an ELF or `#!` interpreter) still
    /// comes from the CT's root.
    OpenedOnHost,
    /// Resolved inside the CT, after its mount namespace was joined.
    InCt,
}

/// What could not be prepared before the fork.
#[derive(Debug)]
pub enum PrepareError {
    Namespace(OpenError),
    Program(std::io::Error),
    Pipe(std::io::Error),
}

/// The step of the forked child that failed, when `spawn` failed.
#[derive(Debug)]
pub enum Step {
    /// Joining a namespace, named as in [`super::ORDER`], opened from `path`.
    Join {
        name: &'static str,
        path: PathBuf,
    },
    /// Becoming root in the CT's user namespace.
    UserIds,
    Fork,
}

/// Read end of the pipe on which the child says which step failed.
pub struct Report {
    pipe: OwnedFd,
    /// (name, path) of each namespace, by position.
    namespaces: Vec<(&'static str, PathBuf)>,
}

impl Report {
    /// The step that failed; None when none was reported (the exec failed, or `spawn` itself).
    pub fn failed_step(&self) -> Option<Step> {
        let mut b = [0u8; 1];
        File::from(self.pipe.try_clone().ok()?)
            .read(&mut b)
            .ok()
            .filter(|n| *n == 1)?;
        Some(match b[0] {
            STEP_USER_IDS => Step::UserIds,
            s => match self.namespaces.get(s as usize) {
                Some((name, path)) => Step::Join {
                    name,
                    path: path.clone(),
                },
                None => Step::Fork,
            },
        })
    }
}

/// Make `cmd` run `path` in the namespaces of `pid` (the CT's init), or in those `paths` names
/// instead (keyed by the names in [`super::ORDER`]). `argv` (argv[0] included) and `env`
/// (`KEY=VALUE`) are what `cmd` was given, free of NUL bytes. Call it after any other
/// `pre_exec` of `cmd`: this one does not return when it succeeds. After a failed `spawn`, the
/// returned [`Report`] tells which step failed.
pub fn in_namespaces(
    cmd: &mut Command,
    program: Program,
    path: &Path,
    argv: &[String],
    env: &[String],
    pid: i32,
    paths: &BTreeMap<String, PathBuf>,
) -> Result<Report, PrepareError> {
    let ns = Namespaces::open(pid, paths).map_err(PrepareError::Namespace)?;
    let namespaces = ns.iter().map(|n| (n.name, n.path.clone())).collect();
    let exe = if program == Program::OpenedOnHost {
        let f = File::open(path).map_err(PrepareError::Program)?;
        let mut magic = [0u8; 2];
        let script = f.read_at(&mut magic, 0).ok() == Some(2) && &magic == b"#!";
        Some((OwnedFd::from(f), script))
    } else {
        None
    };
    let (report_r, report_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| PrepareError::Pipe(e.into()))?;
    set_nonblocking(report_r.as_raw_fd()).map_err(PrepareError::Pipe)?;
    let child = NsChild {
        ns,
        exe,
        path: CString::new(path.as_os_str().as_bytes()).expect("NUL bytes were rejected"),
        argv: CVec::new(argv),
        envp: CVec::new(env),
        report: report_w,
    };
    // SAFETY: `enter_and_exec` only makes raw syscalls on memory prepared here and never
    // allocates, so it is safe in the child of a multi-threaded fork (see its comment).
    unsafe { cmd.pre_exec(move || child.enter_and_exec()) };
    Ok(Report {
        pipe: report_r,
        namespaces,
    })
}

/// Report codes the child writes before failing (besides positions of namespaces).
const STEP_FORK: u8 = 100;
const STEP_USER_IDS: u8 = 101;

/// A NUL-terminated array of C strings and the strings it points into.
struct CVec {
    _owned: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into `_owned`, which moves with them and is never mutated.
unsafe impl Send for CVec {}
// SAFETY: as for Send; nothing is written through the pointers, so sharing them is sound.
unsafe impl Sync for CVec {}

impl CVec {
    fn new<S: AsRef<str>>(items: &[S]) -> CVec {
        let owned: Vec<CString> = items
            .iter()
            .map(|s| CString::new(s.as_ref()).expect("NUL bytes were rejected"))
            .collect();
        let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CVec {
            _owned: owned,
            ptrs,
        }
    }
}

/// Everything the forked child needs to enter the CT and exec the program, prepared beforehand.
struct NsChild {
    /// The CT's namespaces, all of `ORDER` (so a position is an index into it).
    ns: Namespaces,
    /// [`Program::OpenedOnHost`]: the program's fd, and whether it is a `#!` script.
    exe: Option<(OwnedFd, bool)>,
    /// [`Program::InCt`]: the path, resolved in the CT.
    path: CString,
    argv: CVec,
    envp: CVec,
    /// Write end of the pipe that says which step failed.
    report: OwnedFd,
}

impl NsChild {
    /// Runs in the child `Command` forked, after it set up stdio and the process group. Only raw
    /// syscalls on memory prepared before the fork: no allocation, no locks.
    ///
    /// It joins the namespaces, then forks the program (a `setns` into a pid namespace applies
    /// to children only) and stays behind as a plain waiter with every fd closed, so `spawn`
    /// returns as soon as the program has exec'd. It exits as the program did, so the parent
    /// sees the program's status. An error returned here is reported by `spawn` (from this
    /// process before the fork, from the program's process after it).
    fn enter_and_exec(&self) -> std::io::Result<()> {
        for (step, ns) in self.ns.iter().enumerate() {
            if let Err(e) = ns.join() {
                return Err(self.fail(step as u8, e.into()));
            }
            if ns.flag == CloneFlags::CLONE_NEWUSER && ns.is_new() {
                // As the CT's root where the CT maps it (nsenter does the same). setgroups may
                // be denied in an unprivileged CT; then the supplementary groups stay.
                // SAFETY: plain credential syscalls.
                unsafe { libc::setgroups(0, std::ptr::null()) };
                // SAFETY: plain credential syscalls with integer arguments.
                let gid = unsafe { libc::setresgid(0, 0, 0) };
                // SAFETY: as above.
                if gid != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0 {
                    return Err(self.fail(STEP_USER_IDS, std::io::Error::last_os_error()));
                }
            }
        }
        // Both sides only make raw syscalls.
        match join::fork(false) {
            Err(e) => Err(self.fail(STEP_FORK, e.into())),
            Ok(0) => {
                // The program. Dies with the waiter (which a caller's timeout kills).
                // SAFETY: prctl with integer arguments.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
                Err(self.exec())
            }
            Ok(program) => {
                // SAFETY: closing our own fds (stdio and spawn's error pipe included), waiting,
                // and exiting without running any destructor or atexit handler.
                unsafe {
                    libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
                    libc::_exit(mirror(program))
                }
            }
        }
    }

    /// Say which step failed, and return its error for `spawn` to report.
    fn fail(&self, step: u8, e: std::io::Error) -> std::io::Error {
        // SAFETY: write of one byte from the stack to an fd we own.
        unsafe { libc::write(self.report.as_raw_fd(), [step].as_ptr().cast(), 1) };
        e
    }

    /// Exec the program; returns only on failure.
    fn exec(&self) -> std::io::Error {
        let argv = self.argv.ptrs.as_ptr();
        let envp = self.envp.ptrs.as_ptr();
        match &self.exe {
            Some((fd, script)) => {
                if *script {
                    // The interpreter opens the script as /dev/fd/N: keep N open across exec.
                    // SAFETY: fcntl on an fd we own.
                    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
                }
                // SAFETY: NUL-terminated arrays of C strings that live as long as `self`.
                unsafe {
                    libc::syscall(
                        libc::SYS_execveat,
                        fd.as_raw_fd(),
                        c"".as_ptr(),
                        argv,
                        envp,
                        libc::AT_EMPTY_PATH,
                    )
                };
            }
            // SAFETY: as above.
            None => unsafe {
                libc::execve(self.path.as_ptr(), argv, envp);
            },
        }
        std::io::Error::last_os_error()
    }
}

/// Wait for `pid` and return an exit code that reproduces its status: its own code, or, when a
/// signal killed it, the same signal raised against ourselves (core dumps off).
fn mirror(pid: libc::pid_t) -> libc::c_int {
    let mut st = 0;
    loop {
        // SAFETY: waitpid into a local.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid {
            break;
        }
        if r == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 127;
        }
    }
    if libc::WIFEXITED(st) {
        return libc::WEXITSTATUS(st);
    }
    let sig = libc::WTERMSIG(st);
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls; the default action of `sig` ends this process.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
    128 + sig
}
