//! The signals the shim and the stand-ins take synchronously, and relaying them to a child
//! until it exits.

use std::time::Duration;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals the shim takes synchronously; all but SIGCHLD are relayed to the workload.
pub(crate) const HANDLED: [Signal; 11] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGALRM,
    Signal::SIGPWR,
    Signal::SIGCONT,
];

/// Block the relayed signals and take them through a signalfd.
pub fn signal_fd() -> Option<SignalFd> {
    let mut mask = SigSet::empty();
    HANDLED.iter().for_each(|s| mask.add(*s));
    mask.thread_set_mask().ok()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).ok()
}

/// Running phase: relay signals, return the workload's exit code.
/// What a relay does with a signal it took from its signalfd.
pub enum Taken {
    /// A child changed state: reap.
    Child,
    /// Pass it on to the process relayed for.
    Relay(Signal),
    /// Drop it.
    Ignore,
}

pub fn taken(info: &libc::signalfd_siginfo) -> Taken {
    match Signal::try_from(info.ssi_signo as i32) {
        Ok(Signal::SIGCHLD) => Taken::Child,
        // A signal the kernel generated (a terminal's SIGINT or SIGWINCH) reached the process
        // already when it shares our terminal; relay only what was sent to us.
        Ok(_) if info.ssi_code == libc::SI_KERNEL => Taken::Ignore,
        Ok(sig) => Taken::Relay(sig),
        Err(_) => Taken::Ignore,
    }
}

pub fn relay_until_exit(sfd: &mut SignalFd, workload: Pid) -> i32 {
    loop {
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
        match taken(&info) {
            Taken::Child => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == workload => return code,
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == workload => {
                        return 128 + sig as i32
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
            Taken::Relay(sig) => {
                let _ = kill(workload, sig);
            }
            Taken::Ignore => {}
        }
    }
}

pub fn reap_any() {
    while let Ok(st) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if st == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Exit code of the next child that ends (the failed workload), waiting at most a few seconds.
pub fn wait_any_child_exit() -> Option<i32> {
    for _ in 0..500 {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Some(128 + sig as i32),
            Err(_) => return None,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    None
}
