//! The parts of the process spec that need more than one system call: terminal, read-only root,
//! rlimits, oom score, AppArmor, capabilities and the seccomp filter.

use crate::sys::{self, Arg, Prctl};
use crate::text::{self, bytes, die, fmt_u64, parse_u64, PathBuf};

const PR_CAP_AMBIENT_RAISE: usize = 2;
/// BPF_MAXINSNS instructions of 8 bytes.
const MAX_FILTER: usize = 4096 * 8;

/// `TYPE:DEST:FLAGS:DATA` (flags in hex): a tmpfs or mqueue the CT config could not carry.
pub fn mount(spec: &[u8]) {
    let mut it = spec.splitn(4, |c| *c == b':');
    let (Some(typ), Some(dest), Some(flags), Some(data)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        die(1, b"bad --mount", spec, 0)
    };
    let flags = parse_u64(flags, 16).unwrap_or_else(|| die(1, b"bad --mount", spec, 0));
    crate::modes::make_parents(dest, true);
    let (mut t, mut d, mut o) = (PathBuf::new(), PathBuf::new(), PathBuf::new());
    if !(t.push(typ) && d.push(dest) && o.push(data)) {
        die(1, b"--mount too long", spec, 0);
    }
    let r = sys::mount_fs(t.c(), d.c(), t.c(), flags as usize, o.c());
    if r < 0 {
        die(1, b"mounts:", dest, r);
    }
}

/// `KEY=VALUE`: a namespaced sysctl (net.*, IPC), written in the CT's own namespaces.
pub fn sysctl(kv: &[u8]) {
    let Some(eq) = kv.iter().position(|c| *c == b'=') else {
        die(1, b"bad --sysctl", kv, 0)
    };
    let mut path = PathBuf::new();
    path.push(b"/proc/sys/");
    for &c in &kv[..eq] {
        path.push(if c == b'.' {
            b"/"
        } else {
            core::slice::from_ref(&c)
        });
    }
    let fd = sys::open(path.c(), sys::O_WRONLY | sys::O_CLOEXEC, 0);
    let r = if fd < 0 {
        fd
    } else {
        sys::write(fd as i32, &kv[eq + 1..])
    };
    if fd >= 0 {
        sys::close(fd as i32);
    }
    if r < 0 {
        die(1, b"linux.sysctl", &kv[..eq], r);
    }
}

/// The pty slave becomes the controlling terminal and stdio.
pub fn console(fd: i32, size: Option<(u16, u16)>) {
    // The container's process leads its own session (LXC's init already does; lxc-attach'ed
    // ones do not).
    sys::setsid();
    let r = sys::set_ctty(fd);
    if r < 0 {
        die(1, b"terminal:", b"TIOCSCTTY", r);
    }
    if let Some((rows, cols)) = size {
        sys::set_winsize(fd, rows, cols);
    }
    for target in 0..3 {
        if sys::dup3(fd, target, 0) < 0 {
            die(1, b"terminal:", b"dup3", 0);
        }
    }
}

/// `root.readonly`: remount `/` read-only, keeping the flags it has (a remount would drop
/// nosuid/nodev/noexec, and locked ones may not be dropped at all).
pub fn readonly_root() {
    const MS_RDONLY: u64 = 1;
    const MS_REMOUNT: u64 = 32;
    const MS_BIND: u64 = 4096;
    const MS_RELATIME: u64 = 1 << 21;
    // statfs's ST_* flags equal the MS_* ones below bit 10; ST_RELATIME (4096) is MS_RELATIME.
    const KEEP: u64 = 2 | 4 | 8 | 1024 | 2048;
    let have = sys::mount_flags(c"/").unwrap_or_else(|e| die(1, b"root.readonly:", b"statfs /", e));
    let mut flags = MS_REMOUNT | MS_BIND | MS_RDONLY | (have & KEEP);
    if have & 4096 != 0 {
        flags |= MS_RELATIME;
    }
    let r = sys::mount_fs(c"", c"/", c"", flags as usize, c"");
    if r < 0 {
        die(1, b"root.readonly:", b"remount /", r);
    }
}

/// Set a limit; above what this process may raise, cap it and warn, as runc callers expect on
/// hosts without CAP_SYS_RESOURCE.
pub fn rlimit(res: u32, soft: u64, hard: u64) {
    if sys::setrlimit(res, soft, hard) >= 0 {
        return;
    }
    let (_, max) = sys::getrlimit(res);
    let r = sys::setrlimit(res, soft.min(max), hard.min(max));
    let mut a = [0u8; 20];
    let mut b = [0u8; 20];
    if r < 0 {
        die(1, b"setrlimit", fmt_u64(res as u64, &mut a), r);
    }
    text::report(
        b"warn",
        &[
            b"process.rlimits: resource ",
            fmt_u64(res as u64, &mut a),
            b" above the hard limit, capped to ",
            fmt_u64(max, &mut b),
        ],
    );
}

/// Negative values need CAP_SYS_RESOURCE (a Proxmox node as root has it): warn, do not fail.
pub fn oom_score_adj(value: &[u8]) {
    let fd = sys::open(
        c"/proc/self/oom_score_adj",
        sys::O_WRONLY | sys::O_CLOEXEC,
        0,
    );
    let r = if fd < 0 {
        fd
    } else {
        sys::write(fd as i32, value)
    };
    if fd >= 0 {
        sys::close(fd as i32);
    }
    if r < 0 {
        let mut n = [0u8; 20];
        text::report(
            b"warn",
            &[
                b"process.oomScoreAdj ",
                value,
                b" not applied: errno ",
                fmt_u64(r.unsigned_abs() as u64, &mut n),
            ],
        );
    }
}

/// The profile the kernel applies at exec (checked by `create`).
pub fn apparmor(profile: &[u8]) {
    let mut fd = sys::open(
        c"/proc/thread-self/attr/apparmor/exec",
        sys::O_WRONLY | sys::O_CLOEXEC,
        0,
    );
    if fd == -sys::ENOENT {
        fd = sys::open(
            c"/proc/thread-self/attr/exec",
            sys::O_WRONLY | sys::O_CLOEXEC,
            0,
        );
    }
    if fd < 0 {
        die(1, b"process.apparmorProfile", profile, fd);
    }
    let mut buf = PathBuf::new();
    if !(buf.push(b"exec ") && buf.push(profile)) {
        die(1, b"process.apparmorProfile", b"too long", 0);
    }
    let r = sys::write(fd as i32, buf.as_bytes());
    sys::close(fd as i32);
    if r < 0 {
        die(1, b"process.apparmorProfile", profile, r);
    }
}

/// A compiled filter, read whole.
pub struct Filter {
    prog: [u8; MAX_FILTER],
    len: usize,
}

pub fn read_filter_path(path: Arg) -> Filter {
    let mut p = PathBuf::new();
    p.push(bytes(path));
    let fd = sys::open(p.c(), sys::O_RDONLY | sys::O_CLOEXEC, 0);
    if fd < 0 {
        die(1, b"linux.seccomp: open", p.as_bytes(), fd);
    }
    let f = read_filter_fd(fd as i32);
    sys::close(fd as i32);
    f
}

pub fn read_filter_fd(fd: i32) -> Filter {
    let mut f = Filter {
        prog: [0; MAX_FILTER],
        len: 0,
    };
    loop {
        if f.len == MAX_FILTER {
            die(
                1,
                b"linux.seccomp:",
                b"filter longer than 4096 instructions",
                0,
            );
        }
        let n = sys::read(fd, &mut f.prog[f.len..]);
        if n == -sys::EINTR {
            continue;
        }
        if n < 0 {
            die(1, b"linux.seccomp:", b"read filter", n);
        }
        if n == 0 {
            break;
        }
        f.len += n as usize;
    }
    if f.len == 0 || !f.len.is_multiple_of(8) {
        die(1, b"linux.seccomp:", b"not a BPF program", 0);
    }
    f
}

pub fn seccomp(f: &Filter, flags: usize) {
    let r = sys::seccomp_filter(&f.prog[..f.len], flags);
    if r < 0 {
        die(1, b"linux.seccomp:", b"load", r);
    }
}

/// Drop every capability not in `keep` from the bounding set.
pub fn drop_bounding(keep: u64) {
    for cap in 0..64usize {
        let r = sys::prctl(Prctl::CapBsetRead, cap, 0);
        if r < 0 {
            break; // past the kernel's last capability
        }
        if r == 1 && keep & (1 << cap) == 0 {
            let r = sys::prctl(Prctl::CapBsetDrop, cap, 0);
            if r < 0 {
                let mut n = [0u8; 20];
                die(
                    1,
                    b"process.capabilities.bounding: drop",
                    fmt_u64(cap as u64, &mut n),
                    r,
                );
            }
        }
    }
}

/// `[bounding, permitted, effective, inheritable, ambient]`: the three sets at once, then
/// ambient (which needs each capability in permitted and inheritable; like runc, a spec that asks
/// for more gets what the kernel allows).
pub fn capabilities(c: [u64; 5]) {
    let r = sys::capset(c[2], c[1], c[3]);
    if r < 0 {
        die(1, b"process.capabilities:", b"capset", r);
    }
    for cap in 0..64usize {
        if c[4] & (1 << cap) != 0 {
            sys::prctl(Prctl::CapAmbient, PR_CAP_AMBIENT_RAISE, cap);
        }
    }
}
