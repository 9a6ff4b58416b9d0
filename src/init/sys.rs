//! The system calls the init needs, per architecture. The wrappers are safe: every address they
//! hand the kernel comes from a reference of the right size, and paths are `&CStr`.

use core::arch::asm;
use core::ffi::CStr;
use core::marker::PhantomData;
use core::ptr::NonNull;

#[cfg(target_arch = "x86_64")]
pub(crate) mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const GETPID: usize = 39;
    pub const EXECVE: usize = 59;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const CHDIR: usize = 80;
    pub const UMASK: usize = 95;
    pub const SETUID: usize = 105;
    pub const SETGID: usize = 106;
    pub const SETGROUPS: usize = 116;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const PRCTL: usize = 157;
    pub const EXIT_GROUP: usize = 231;
    pub const OPENAT: usize = 257;
    pub const MKDIRAT: usize = 258;
    pub const RENAMEAT: usize = 264;
    pub const PRLIMIT64: usize = 302;
    pub const DUP3: usize = 292;
    pub const FCNTL: usize = 72;
    pub const IOCTL: usize = 16;
    pub const SOCKET: usize = 41;
    pub const ACCEPT4: usize = 288;
    pub const BIND: usize = 49;
    pub const LISTEN: usize = 50;
    pub const RECVMSG: usize = 47;
    pub const GETSOCKOPT: usize = 55;
    pub const UNLINKAT: usize = 263;
    pub const SIGNALFD4: usize = 289;
    pub const PPOLL: usize = 271;
    pub const RT_SIGACTION: usize = 13;
    pub const SETSID: usize = 112;
    pub const CAPSET: usize = 126;
    pub const SECCOMP: usize = 317;
    pub const MOUNT: usize = 165;
    pub const STATFS: usize = 137;
    pub const IOPRIO_SET: usize = 251;
    pub const CLOSE_RANGE: usize = 436;
    pub const SETNS: usize = 308;
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const GETPID: usize = 172;
    pub const EXECVE: usize = 221;
    pub const WAIT4: usize = 260;
    pub const KILL: usize = 129;
    pub const CHDIR: usize = 49;
    pub const UMASK: usize = 166;
    pub const SETUID: usize = 146;
    pub const SETGID: usize = 144;
    pub const SETGROUPS: usize = 159;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const PRCTL: usize = 167;
    pub const EXIT_GROUP: usize = 94;
    pub const OPENAT: usize = 56;
    pub const MKDIRAT: usize = 34;
    pub const RENAMEAT: usize = 38;
    pub const PRLIMIT64: usize = 261;
    pub const DUP3: usize = 24;
    pub const FCNTL: usize = 25;
    pub const IOCTL: usize = 29;
    pub const SOCKET: usize = 198;
    pub const ACCEPT4: usize = 242;
    pub const BIND: usize = 200;
    pub const LISTEN: usize = 201;
    pub const RECVMSG: usize = 212;
    pub const GETSOCKOPT: usize = 209;
    pub const UNLINKAT: usize = 35;
    pub const SIGNALFD4: usize = 74;
    pub const PPOLL: usize = 73;
    pub const RT_SIGACTION: usize = 134;
    pub const SETSID: usize = 157;
    pub const CAPSET: usize = 91;
    pub const SECCOMP: usize = 277;
    pub const MOUNT: usize = 40;
    pub const STATFS: usize = 43;
    pub const IOPRIO_SET: usize = 30;
    pub const CLOSE_RANGE: usize = 436;
    pub const SETNS: usize = 268;
}

/// System call `n`; the fifth and sixth arguments are 0.
///
/// # Safety
/// Each argument that the call takes as an address must point to memory that is valid for what
/// it does there (reads or writes, of the size it uses) for the call's duration, and the call must
/// not change memory or threads behind Rust's back (no munmap, clone and the like).
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // The fifth and sixth argument registers are zeroed: calls like prctl reject garbage there.
    // SAFETY: the caller vouches for the call; syscall clobbers only rcx and r11, declared here.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
             in("r8") 0usize, in("r9") 0usize, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call `n` with six arguments.
///
/// # Safety
/// As for `syscall4`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: as in syscall4.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
             in("r10") a[3], in("r8") a[4], in("r9") a[5], lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call `n` with six arguments.
///
/// # Safety
/// As for `syscall4`.
#[cfg(target_arch = "aarch64")]
pub(crate) unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call; svc clobbers no register but x0, the result.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a[0] as isize => ret, in("x1") a[1], in("x2") a[2],
             in("x3") a[3], in("x4") a[4], in("x5") a[5], options(nostack));
    }
    ret
}

/// System call `n`; the fifth and sixth arguments are 0.
///
/// # Safety
/// As for the x86_64 `syscall4`: every address valid for the call's use of it.
#[cfg(target_arch = "aarch64")]
pub(crate) unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: as in syscall6.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
             in("x4") 0usize, in("x5") 0usize, options(nostack));
    }
    ret
}

const SIG_BLOCK: usize = 0;
const SIG_SETMASK: usize = 2;
const WNOHANG: usize = 1;
const SIGSET_SIZE: usize = 8;
const AT_FDCWD: isize = -100;
pub const O_WRONLY: usize = 1;
pub const O_CREAT: usize = 0o100;
pub const O_TRUNC: usize = 0o1000;
pub const O_RDONLY: usize = 0;
pub const O_CLOEXEC: usize = 0o2000000;
pub const EAGAIN: isize = 11;
pub const EINTR: isize = 4;
pub const EEXIST: isize = 17;
pub const ENOENT: isize = 2;
pub const EACCES: isize = 13;
pub const EINVAL: isize = 22;
const PR_SET_NO_NEW_PRIVS: usize = 38;

/// A NUL-terminated string that lives for `'a`, as one pointer: the element of execve's argv
/// and envp arrays, where `Option<Arg>` is a nullable `char *` (a `&CStr` is two words wide).
/// Made from a `&CStr`, or viewed in place over the kernel's argv (`main::start`).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Arg<'a>(NonNull<u8>, PhantomData<&'a CStr>);

impl<'a> Arg<'a> {
    pub fn new(s: &'a CStr) -> Arg<'a> {
        Arg(NonNull::from(s).cast(), PhantomData)
    }

    pub fn get(self) -> &'a CStr {
        // SAFETY: an Arg is made from a `&'a CStr` or is one of the kernel's argv strings, which
        // are NUL-terminated and live as long as the process.
        unsafe { CStr::from_ptr(self.0.as_ptr().cast()) }
    }
}

pub fn exit(code: i32) -> ! {
    // exit_group does not return; spin on it rather than fall through if it ever did.
    loop {
        // SAFETY: integer arguments only.
        unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}

pub fn block_signals(set: u64) {
    sigprocmask(SIG_BLOCK, set);
}

/// Unblock everything: a workload must not inherit pid 1's or lxc-attach's mask.
pub fn unblock_all() {
    sigprocmask(SIG_SETMASK, 0);
}

fn sigprocmask(how: usize, set: u64) {
    // SAFETY: the kernel reads one sigset (8 bytes) from `set`; the old mask is not asked for.
    unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            how,
            &set as *const u64 as usize,
            0,
            SIGSET_SIZE,
        )
    };
}

/// The next pending signal of `set` (blocking); 0 if interrupted.
pub fn wait_signal(set: u64) -> u64 {
    // siginfo_t is 128 bytes; only the signal number (first int) is used.
    let mut info = core::mem::MaybeUninit::<[u64; 16]>::uninit();
    // SAFETY: reads the sigset `set`, writes at most 128 bytes of siginfo into `info`.
    let r = unsafe {
        syscall4(
            nr::RT_SIGTIMEDWAIT,
            &set as *const u64 as usize,
            info.as_mut_ptr() as usize,
            0,
            SIGSET_SIZE,
        )
    };
    if r > 0 {
        r as u64
    } else {
        0
    }
}

/// Reap one exited child; > 0 while there was one.
pub fn reap_one() -> isize {
    let mut status: i32 = 0;
    // SAFETY: writes one int to `status`; no rusage is asked for.
    unsafe {
        syscall4(
            nr::WAIT4,
            usize::MAX,
            &mut status as *mut i32 as usize,
            WNOHANG,
            0,
        )
    }
}

pub fn read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`.
    unsafe {
        syscall4(
            nr::READ,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
        )
    }
}

pub fn write(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: the kernel reads at most buf.len() bytes from `buf`.
    unsafe { syscall4(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len(), 0) }
}

pub fn close(fd: i32) {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::CLOSE, fd as usize, 0, 0, 0) };
}

pub fn open(path: &CStr, flags: usize, mode: u32) -> isize {
    // SAFETY: `path` is NUL-terminated; the rest are integers.
    unsafe {
        syscall4(
            nr::OPENAT,
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            flags,
            mode as usize,
        )
    }
}

pub fn mkdir(path: &CStr, mode: u32) -> isize {
    // SAFETY: `path` is NUL-terminated; the rest are integers.
    unsafe {
        syscall4(
            nr::MKDIRAT,
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            mode as usize,
            0,
        )
    }
}

pub fn rename(from: &CStr, to: &CStr) -> isize {
    // SAFETY: both paths are NUL-terminated; the rest are integers.
    unsafe {
        syscall4(
            nr::RENAMEAT,
            AT_FDCWD as usize,
            from.as_ptr() as usize,
            AT_FDCWD as usize,
            to.as_ptr() as usize,
        )
    }
}

pub fn chdir(path: &CStr) -> isize {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall4(nr::CHDIR, path.as_ptr() as usize, 0, 0, 0) }
}

pub fn umask(mask: u32) {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::UMASK, mask as usize, 0, 0, 0) };
}

pub fn getpid() -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::GETPID, 0, 0, 0, 0) }
}

pub fn kill(pid: isize, sig: usize) -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::KILL, pid as usize, sig, 0, 0) }
}

pub fn setgroups(groups: &[u32]) -> isize {
    // SAFETY: the kernel reads groups.len() gids from `groups`.
    unsafe { syscall4(nr::SETGROUPS, groups.len(), groups.as_ptr() as usize, 0, 0) }
}

pub fn setgid(gid: u32) -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::SETGID, gid as usize, 0, 0, 0) }
}

pub fn setuid(uid: u32) -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::SETUID, uid as usize, 0, 0, 0) }
}

pub fn no_new_privs() -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0) }
}

pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> isize {
    let lim = [soft, hard];
    // SAFETY: the kernel reads one struct rlimit (two u64) from `lim`; the old one is not asked
    // for.
    unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            resource as usize,
            lim.as_ptr() as usize,
            0,
        )
    }
}

/// The current (soft, hard) limit of `resource`.
pub fn getrlimit(resource: u32) -> (u64, u64) {
    let mut old = [0u64; 2];
    // SAFETY: the kernel writes one struct rlimit (two u64) into `old`; no new one is given.
    unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            resource as usize,
            0,
            old.as_mut_ptr() as usize,
        )
    };
    (old[0], old[1])
}

/// Returns only on failure (the negative errno); EINVAL unless `argv` and `envp` end in None.
pub fn execve(path: &CStr, argv: &[Option<Arg>], envp: &[Option<Arg>]) -> isize {
    if !matches!(argv.last(), Some(None)) || !matches!(envp.last(), Some(None)) {
        return -EINVAL;
    }
    // SAFETY: `path` is NUL-terminated; argv and envp are arrays of pointers to NUL-terminated
    // strings that end in a null pointer (checked above; `Option<Arg>` is a nullable pointer).
    unsafe {
        syscall4(
            nr::EXECVE,
            path.as_ptr() as usize,
            argv.as_ptr() as usize,
            envp.as_ptr() as usize,
            0,
        )
    }
}

pub fn setsid() -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::SETSID, 0, 0, 0, 0) }
}

pub fn dup3(old: i32, new: i32, flags: usize) -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::DUP3, old as usize, new as usize, flags, 0) }
}

/// `F_DUPFD_CLOEXEC`: a close-on-exec copy of `fd` at `min` or above.
pub fn dup_above(fd: i32, min: i32) -> isize {
    const F_DUPFD_CLOEXEC: usize = 1030;
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::FCNTL, fd as usize, F_DUPFD_CLOEXEC, min as usize, 0) }
}

/// Close-on-exec for every fd from `from` up (`CLOSE_RANGE_CLOEXEC`).
pub fn cloexec_from(from: u32) -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::CLOSE_RANGE, from as usize, u32::MAX as usize, 4, 0) }
}

/// `TIOCSCTTY`: `fd`, a terminal, becomes the controlling terminal of this session.
pub fn set_ctty(fd: i32) -> isize {
    const TIOCSCTTY: usize = 0x540E;
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal it from another session).
    unsafe { syscall4(nr::IOCTL, fd as usize, TIOCSCTTY, 0, 0) }
}

/// `TIOCSWINSZ`: the terminal `fd`'s size in rows and columns.
pub fn set_winsize(fd: i32, rows: u16, cols: u16) -> isize {
    const TIOCSWINSZ: usize = 0x5414;
    // struct winsize: rows, columns, then pixel sizes the kernel only stores.
    let ws = [rows, cols, 0, 0];
    // SAFETY: the kernel reads one struct winsize (four u16) from `ws`.
    unsafe { syscall4(nr::IOCTL, fd as usize, TIOCSWINSZ, ws.as_ptr() as usize, 0) }
}

pub fn unlink(path: &CStr) -> isize {
    // SAFETY: `path` is NUL-terminated; the rest are integers.
    unsafe {
        syscall4(
            nr::UNLINKAT,
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            0,
            0,
        )
    }
}

/// A signalfd for `set` (which must be blocked).
pub fn signalfd(set: u64) -> isize {
    // SAFETY: the kernel reads one sigset (8 bytes) from `set`.
    unsafe {
        syscall4(
            nr::SIGNALFD4,
            usize::MAX,
            &set as *const u64 as usize,
            SIGSET_SIZE,
            O_CLOEXEC,
        )
    }
}

/// Wait until one of `fds` is readable; returns a bit per readable fd.
pub fn poll_in(fds: &[i32]) -> u32 {
    /// struct pollfd.
    #[derive(Clone, Copy)]
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: u16,
        revents: u16,
    }
    const POLLIN: u16 = 1;
    let mut pfd = [PollFd {
        fd: 0,
        events: 0,
        revents: 0,
    }; 4];
    for (i, fd) in fds.iter().enumerate().take(4) {
        pfd[i] = PollFd {
            fd: *fd,
            events: POLLIN,
            revents: 0,
        };
    }
    // SAFETY: the kernel reads and updates at most 4 struct pollfd, all in `pfd`; no timeout and
    // no signal mask are given.
    let r = unsafe { syscall4(nr::PPOLL, pfd.as_mut_ptr() as usize, fds.len().min(4), 0, 0) };
    if r <= 0 {
        return 0;
    }
    let mut bits = 0;
    for (i, p) in pfd.iter().enumerate().take(fds.len().min(4)) {
        if p.revents != 0 {
            bits |= 1 << i;
        }
    }
    bits
}

/// Default dispositions for every signal: ignored ones survive exec, and LXC ignores SIGPIPE.
pub fn default_signals() {
    let act = [0usize; 4]; // handler SIG_DFL, flags, restorer, mask
    for sig in 1..=64usize {
        if sig != 9 && sig != 19 {
            // SAFETY: the kernel reads one struct sigaction (four words) from `act`; the old
            // one is not asked for.
            unsafe { syscall4(nr::RT_SIGACTION, sig, act.as_ptr() as usize, 0, SIGSET_SIZE) };
        }
    }
}

/// Take every pending signal of `set` without acting on it.
pub fn drain_signals(set: u64) {
    let zero = [0usize; 2];
    let mut info = core::mem::MaybeUninit::<[u64; 16]>::uninit();
    // SAFETY: reads the sigset `set` and the zero timeout in `zero`, writes at most 128 bytes of
    // siginfo into `info`.
    while unsafe {
        syscall4(
            nr::RT_SIGTIMEDWAIT,
            &set as *const u64 as usize,
            info.as_mut_ptr() as usize,
            zero.as_ptr() as usize,
            SIGSET_SIZE,
        )
    } > 0
    {}
}

/// The prctl(2) operations the init makes. Each takes integers only, so `prctl` cannot hand the
/// kernel an address.
#[derive(Clone, Copy)]
pub enum Prctl {
    SetKeepCaps = 8,
    CapBsetRead = 23,
    CapBsetDrop = 24,
    CapAmbient = 47,
}

pub fn prctl(op: Prctl, a: usize, b: usize) -> isize {
    // SAFETY: every `Prctl` takes integer arguments only.
    unsafe { syscall4(nr::PRCTL, op as usize, a, b, 0) }
}

/// capset(2), version 3: (effective, permitted, inheritable) as 64-bit masks.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> isize {
    const V3: u32 = 0x2008_0522;
    // Mutable: for a version it does not know, the kernel writes its own into the header.
    let mut header = [V3, 0u32];
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        lo(effective),
        lo(permitted),
        lo(inheritable),
        hi(effective),
        hi(permitted),
        hi(inheritable),
    ];
    // SAFETY: the kernel reads (and may update) the two-u32 `header` and reads the two 3-u32
    // structs of version 3 from `data`.
    unsafe {
        syscall4(
            nr::CAPSET,
            header.as_mut_ptr() as usize,
            data.as_ptr() as usize,
            0,
            0,
        )
    }
}

/// Load a classic BPF program (`len` instructions of 8 bytes at `prog`) as this thread's filter.
pub fn seccomp_filter(prog: &[u8], flags: usize) -> isize {
    const SECCOMP_SET_MODE_FILTER: usize = 1;
    // struct sock_fprog: u16 length, then (padded) a pointer to the instructions.
    let fprog = [(prog.len() / 8), prog.as_ptr() as usize];
    // SAFETY: the kernel reads `fprog`, then as many 8-byte instructions from `prog` as its u16
    // length says: at most prog.len() / 8, so within `prog`.
    unsafe {
        syscall4(
            nr::SECCOMP,
            SECCOMP_SET_MODE_FILTER,
            flags,
            fprog.as_ptr() as usize,
            0,
        )
    }
}

/// mount(2); an empty `src`, `fstype` or `data` is passed as NULL.
pub fn mount_fs(src: &CStr, target: &CStr, fstype: &CStr, flags: usize, data: &CStr) -> isize {
    let ptr = |s: &CStr| {
        if s.is_empty() {
            0
        } else {
            s.as_ptr() as usize
        }
    };
    // SAFETY: each string is NUL-terminated or NULL, and mount(2) only reads them.
    unsafe {
        syscall6(
            nr::MOUNT,
            [
                ptr(src),
                target.as_ptr() as usize,
                ptr(fstype),
                flags,
                ptr(data),
                0,
            ],
        )
    }
}

/// statfs(2)'s `f_flags` of `path` (the 11th word of struct statfs on 64-bit targets).
pub fn mount_flags(path: &CStr) -> Result<u64, isize> {
    let mut st = [0u64; 15];
    // SAFETY: `path` is NUL-terminated; the kernel writes one struct statfs (15 words on 64-bit
    // targets) into `st`.
    let r = unsafe {
        syscall4(
            nr::STATFS,
            path.as_ptr() as usize,
            st.as_mut_ptr() as usize,
            0,
            0,
        )
    };
    if r < 0 {
        Err(r)
    } else {
        Ok(st[10])
    }
}

pub fn setns(fd: i32) -> isize {
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::SETNS, fd as usize, 0, 0, 0) }
}

pub fn ioprio_set(prio: usize) -> isize {
    const IOPRIO_WHO_PROCESS: usize = 1;
    // SAFETY: integer arguments only.
    unsafe { syscall4(nr::IOPRIO_SET, IOPRIO_WHO_PROCESS, 0, prio, 0) }
}
