//! The four system calls the init needs, per architecture.

use core::arch::asm;

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const WAIT4: usize = 61;
    pub const EXIT_GROUP: usize = 231;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const WAIT4: usize = 260;
    pub const EXIT_GROUP: usize = 94;
}

#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
         lateout("rcx") _, lateout("r11") _, options(nostack));
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
         options(nostack));
    ret
}

const SIG_BLOCK: usize = 0;
const WNOHANG: usize = 1;
const SIGSET_SIZE: usize = 8;

pub fn exit(code: i32) -> ! {
    // exit_group does not return; spin on it rather than fall through if it ever did.
    loop {
        unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}

pub fn block_signals(set: u64) {
    unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            SIG_BLOCK,
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

/// core's prebuilt code carries unwind tables that name this; with panic=abort it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
