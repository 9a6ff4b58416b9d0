//! Facts about the host and its processes that `pct status` and the API server report: CPUs,
//! memory, uptime, process start times, file system usage.

use std::fs;
use std::path::Path;

pub const MIB: u64 = 1024 * 1024;

/// A file holding one number (cgroup and sysfs counters).
pub fn read_u64(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// `(used, total)` bytes of host memory.
pub fn mem() -> (u64, u64) {
    let info = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        info.lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024
    };
    let total = kib("MemTotal:");
    (total.saturating_sub(kib("MemAvailable:")), total)
}

/// Seconds since boot.
pub fn uptime() -> u64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split('.').next()?.parse().ok())
        .unwrap_or(0)
}

/// Process start time in clock ticks (`/proc/<pid>/stat` field 22); 0 when gone.
pub fn pstart(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let (_, rest) = s.rsplit_once(')')?;
            rest.split_whitespace().nth(19)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Seconds since process `pid` started.
pub fn uptime_of(pid: u32) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    uptime().saturating_sub(pstart(pid) / hz)
}

/// `(used, total)` bytes of the file system holding `path`.
pub fn fs_usage(path: &Path) -> Option<(u64, u64)> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let f = st.fragment_size();
    Some(((st.blocks() - st.blocks_free()) * f, st.blocks() * f))
}
