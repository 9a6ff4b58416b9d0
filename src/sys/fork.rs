//! Forking detached processes and the descriptors they keep.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::RawFd;

use nix::sys::signal::SigSet;
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

/// What a detached process runs after its body, before it exits (the operation counts merge
/// their numbers then, src/opstats); set once per process.
static AT_EXIT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Run `f` in every detached process when its body returned.
pub fn at_detached_exit(f: fn()) {
    let _ = AT_EXIT.set(f);
}

/// Run `body` in a double-forked, setsid'd grandchild and return its pid; the grandchild exits
/// with what `body` returns. Whatever `body` owns is dropped (closed) in the caller.
pub fn daemonize(body: impl FnOnce() -> i32) -> std::io::Result<i32> {
    // Signals that arrive before the shim has its signalfd must wait for it, not kill it.
    let mut handled = SigSet::empty();
    super::signals::HANDLED.iter().for_each(|s| handled.add(*s));
    let old = handled
        .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
        .ok();
    let res = fork_twice(body);
    if let Some(old) = old {
        let _ = old.thread_set_mask();
    }
    res
}

fn fork_twice(body: impl FnOnce() -> i32) -> std::io::Result<i32> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the runtime is single-threaded at this point (helper threads of earlier commands
    // were joined), so the children may allocate.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => {
            drop(w);
            let _ = waitpid(child, None);
            let mut buf = [0u8; 4];
            std::io::Read::read_exact(&mut std::fs::File::from(r), &mut buf)
                .map_err(|_| std::io::Error::other("the detached process did not start"))?;
            Ok(i32::from_ne_bytes(buf))
        }
        ForkResult::Child => {
            drop(r);
            let _ = nix::unistd::setsid();
            // SAFETY: this child of a single-threaded process is single-threaded too.
            match unsafe { nix::unistd::fork() } {
                Ok(ForkResult::Parent { child }) => {
                    let _ = std::fs::File::from(w).write_all(&child.as_raw().to_ne_bytes());
                    // SAFETY: _exit ends this middle child at once, without the parent's atexit.
                    unsafe { libc::_exit(0) }
                }
                Ok(ForkResult::Child) => {
                    drop(w);
                    let code = body();
                    if let Some(f) = AT_EXIT.get() {
                        f();
                    }
                    // SAFETY: _exit ends the detached process at once, without the parent's
                    // atexit.
                    unsafe { libc::_exit(code) }
                }
                // SAFETY: as above.
                Err(_) => unsafe { libc::_exit(1) },
            }
        }
    }
}

/// Close every descriptor from `from` up but those in `keep`.
pub fn close_other_fds(from: RawFd, keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd >= from && !keep.contains(&fd) {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// Close-on-exec for every fd from `from` up, so only stdio and preserved fds reach the workload.
pub fn cloexec_from(from: u32) {
    // CLOSE_RANGE_CLOEXEC (4): keeps the exec-error pipe usable until exec succeeds.
    // SAFETY: integer arguments only; descriptors are marked, none is closed under an owner.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 4u32) };
}

pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).expect("no NUL left")
}
