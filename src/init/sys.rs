//! The system calls the init needs, per architecture.

use core::arch::asm;

#[cfg(target_arch = "x86_64")]
mod nr {
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
}

#[cfg(target_arch = "aarch64")]
mod nr {
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
}

#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // The fifth and sixth argument registers are zeroed: calls like prctl reject garbage there.
    asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
         in("r8") 0usize, in("r9") 0usize, lateout("rcx") _, lateout("r11") _, options(nostack));
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
         in("x4") 0usize, in("x5") 0usize, options(nostack));
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
const PR_SET_NO_NEW_PRIVS: usize = 38;

/// A NUL-terminated string from the kernel (argv, envp).
pub type CStr = *const u8;

pub fn exit(code: i32) -> ! {
    // exit_group does not return; spin on it rather than fall through if it ever did.
    loop {
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
    unsafe { syscall4(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len(), 0) }
}

pub fn close(fd: i32) {
    unsafe { syscall4(nr::CLOSE, fd as usize, 0, 0, 0) };
}

/// `path` must be NUL-terminated.
pub fn open(path: &[u8], flags: usize, mode: u32) -> isize {
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

pub fn mkdir(path: &[u8], mode: u32) -> isize {
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

pub fn rename(from: &[u8], to: &[u8]) -> isize {
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

pub fn chdir(path: CStr) -> isize {
    unsafe { syscall4(nr::CHDIR, path as usize, 0, 0, 0) }
}

pub fn umask(mask: u32) {
    unsafe { syscall4(nr::UMASK, mask as usize, 0, 0, 0) };
}

pub fn getpid() -> isize {
    unsafe { syscall4(nr::GETPID, 0, 0, 0, 0) }
}

pub fn kill(pid: isize, sig: usize) -> isize {
    unsafe { syscall4(nr::KILL, pid as usize, sig, 0, 0) }
}

pub fn setgroups(groups: &[u32]) -> isize {
    unsafe { syscall4(nr::SETGROUPS, groups.len(), groups.as_ptr() as usize, 0, 0) }
}

pub fn setgid(gid: u32) -> isize {
    unsafe { syscall4(nr::SETGID, gid as usize, 0, 0, 0) }
}

pub fn setuid(uid: u32) -> isize {
    unsafe { syscall4(nr::SETUID, uid as usize, 0, 0, 0) }
}

pub fn no_new_privs() -> isize {
    unsafe { syscall4(nr::PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0) }
}

pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> isize {
    let lim = [soft, hard];
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

/// Returns only on failure (the negative errno).
pub fn execve(path: CStr, argv: *const CStr, envp: *const CStr) -> isize {
    unsafe { syscall4(nr::EXECVE, path as usize, argv as usize, envp as usize, 0) }
}

// Without libc the compiler's calls to these must be satisfied here; volatile accesses keep them
// from being turned back into calls to themselves.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        core::ptr::write_volatile(dst.add(i), c as u8);
    }
    dst
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i)));
    }
    dst
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        let (x, y) = (
            core::ptr::read_volatile(a.add(i)),
            core::ptr::read_volatile(b.add(i)),
        );
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) < (src as usize) {
        for i in 0..n {
            core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i)));
        }
    } else {
        for i in (0..n).rev() {
            core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i)));
        }
    }
    dst
}

/// The optimizer turns the C-string scan in `text::bytes` into a call to this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    while core::ptr::read_volatile(s.add(n)) != 0 {
        n += 1;
    }
    n
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}

/// core's prebuilt code carries unwind tables that name this; with panic=abort it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
