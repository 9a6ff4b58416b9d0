//! Processes: pidfds and what /proc says of a pid.

use std::fs;

/// A pidfd for `pid` (close-on-exec), or None if it is gone.
pub fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: pidfd_open returns a new fd nothing else owns, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: as above: fd >= 0 is that new descriptor.
    (fd >= 0).then(|| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as std::os::fd::RawFd) })
}

/// State letter and start time from `/proc/<pid>/stat` (fields 3 and 22; the name may hold spaces).
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let st = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((st, start))
}

/// The parent pid `/proc/<pid>/status` names.
pub fn ppid(pid: i32) -> Option<i32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}
