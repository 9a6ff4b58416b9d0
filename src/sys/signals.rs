//! The signals the shim and the stand-ins take synchronously.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

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
