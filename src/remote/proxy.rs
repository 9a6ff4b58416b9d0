//! The local stand-in for a process in a CT on another node: a child of the shim (or of `exec`)
//! that runs it through `pct exec` over its own SSH connection, with this process's stdio, and
//! exits with its status. Signals sent to the stand-in are passed on through the init's `kill`
//! mode, so the shim's relay, `kill` and conmon treat it like a local workload.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::ForkResult;

use crate::backend::{self, BackendError};
use crate::config::Config;
use crate::mapping::remote::INIT_SHIPPED;
use crate::pve::Vmid;
use crate::transport::ssh::AttachedIo;

/// Signals passed on to the remote process: what the shim relays, but SIGCHLD (ours) and
/// SIGWINCH (no terminal on a remote CT yet).
fn passed() -> SigSet {
    let mut mask = SigSet::empty();
    crate::sys::signals::HANDLED
        .iter()
        .filter(|s| !matches!(s, Signal::SIGCHLD | Signal::SIGWINCH))
        .for_each(|s| mask.add(*s));
    mask
}

/// Fork the stand-in for `argv` (the init's `exec` command line, `mapping::remote::exec_argv`);
/// returns its pid. `pid_file` is where, inside the CT, the init records the process's pid for
/// `kill`. With `console` (a local pty slave) the stand-in's stdio is that
/// terminal and the remote process gets one of the same size.
pub fn spawn(
    cfg: &Config,
    vmid: Vmid,
    argv: Vec<String>,
    pid_file: &str,
    console: Option<RawFd>,
) -> nix::Result<i32> {
    let mask = passed();
    // Blocked before the fork, so that none kills the stand-in before its relay runs.
    let old = mask.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)?;
    // SAFETY: the caller is single-threaded; the child only builds and uses fresh objects.
    let res = unsafe { nix::unistd::fork() };
    match res {
        Ok(ForkResult::Parent { child }) => {
            let _ = old.thread_set_mask();
            Ok(child.as_raw())
        }
        Ok(ForkResult::Child) => {
            let code = stand_in(cfg, vmid, &argv, pid_file, &mask, console);
            crate::opstats::flush();
            log::logger().flush();
            // SAFETY: _exit ends this forked child at once; nothing of the parent runs in it again.
            unsafe { libc::_exit(code) }
        }
        Err(e) => {
            let _ = old.thread_set_mask();
            Err(e)
        }
    }
}

fn stand_in(
    cfg: &Config,
    vmid: Vmid,
    argv: &[String],
    pid_file: &str,
    mask: &SigSet,
    console: Option<RawFd>,
) -> i32 {
    // A stand-in whose shim died must not keep a remote process alive.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let pty = match console {
        Some(fd) => {
            let _ = nix::unistd::setsid();
            if let Err(e) = crate::console::become_ctty(fd) {
                log::error!("CT {vmid}: {e}");
                return 255;
            }
            // The remote terminal echoes and translates; ours only carries bytes.
            crate::sys::tty::make_raw(0);
            Some(crate::sys::tty::size_of(0))
        }
        None => None,
    };
    // The local terminal's resizes reach us as SIGWINCH (we lead its session); the pump sends
    // them on to the remote terminal.
    let winch = pty.and_then(|_| {
        let mut w = SigSet::empty();
        w.add(Signal::SIGWINCH);
        w.thread_block().ok()?;
        SignalFd::with_flags(&w, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok()
    });
    if let Ok(sfd) = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC) {
        let cfg = cfg.clone();
        let pid_file = pid_file.to_string();
        std::thread::spawn(move || pass_signals(sfd, &cfg, vmid, &pid_file));
    }
    let backend = backend::from_config(cfg);
    let io = AttachedIo {
        stdin: Some(std::io::stdin().as_raw_fd()),
        stdout: std::io::stdout().as_raw_fd(),
        stderr: std::io::stderr().as_raw_fd(),
        pty,
        resize: winch.as_ref().map(|w| w.as_raw_fd()),
        silence: crate::remote::failover::silence(cfg),
    };
    match backend.attach_in_ct(vmid, argv, io) {
        Ok(exit) => exit.code(),
        Err(BackendError::NodeLost { node, after }) => {
            // No goodbye to a node that does not answer: it would wait `ssh.timeout`.
            std::mem::forget(backend);
            crate::remote::failover::stand_in_lost(vmid, &node, after)
        }
        Err(e) => {
            log::error!("CT {vmid}: {e}");
            255
        }
    }
}

/// Pass each signal on through a connection of its own (the main one is busy with the I/O).
fn pass_signals(sfd: SignalFd, cfg: &Config, vmid: Vmid, pid_file: &str) {
    let backend = backend::from_config(cfg);
    while let Ok(Some(info)) = sfd.read_signal() {
        let argv = [INIT_SHIPPED, "kill", &info.ssi_signo.to_string(), pid_file].map(String::from);
        // Right after start the init may not have written the pid file yet.
        let mut last: Option<BackendError> = None;
        for _ in 0..20 {
            match backend.run_in_ct(vmid, &argv, b"") {
                Ok(_) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(e) = last {
            log::warn!("CT {vmid}: passing signal {}: {e}", info.ssi_signo);
        }
    }
}
