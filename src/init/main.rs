//! The static helper proxmox-lxcri puts into every CT. Without arguments it is pid 1: it reaps
//! orphans and otherwise idles, so the CT exists ("created") before `start` runs the workload, and
//! it exits on SIGTERM (runtime stop), SIGPWR (LXC's halt signal, `pct shutdown`) and SIGINT.
//! On a remote node, where the runtime cannot enter the CT itself, `pct exec` runs it with a mode:
//! `exec` (set up the process spec and exec the workload), `kill` and `put` (see `modes`).
//! It must run in any rootfs, including `FROM scratch` images, so it uses raw system calls and no
//! libc.

#![no_std]
#![no_main]

mod modes;
mod sys;
mod text;

use sys::CStr;

const SIGINT: u64 = 2;
const SIGTERM: u64 = 15;
const SIGCHLD: u64 = 17;
const SIGPWR: u64 = 30;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(101)
}

/// The kernel's entry: the stack pointer holds argc, then argv. Hand it to `start` on an aligned
/// stack.
///
/// # Safety
/// Only the kernel calls it, once, as the program's entry point.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!("mov rdi, rsp", "and rsp, -16", "call {start}", "ud2", start = sym start)
}

/// # Safety
/// Only the kernel calls it, once, as the program's entry point.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!("mov x0, sp", "bl {start}", "brk #0", start = sym start)
}

unsafe extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: the kernel lays out argc followed by argc argv pointers and a NULL.
    let args: &[CStr] = unsafe { core::slice::from_raw_parts(sp.add(1) as *const CStr, *sp) };
    match args.get(1).map(|a| text::bytes(*a)) {
        Some(b"exec") => modes::exec(&args[2..]),
        Some(b"kill") => modes::kill(&args[2..]),
        Some(b"put") => modes::put(&args[2..]),
        _ => idle(),
    }
}

fn idle() -> ! {
    // Every signal is taken synchronously; none can interrupt or kill pid 1 unexpectedly.
    let all: u64 = !0;
    sys::block_signals(all);
    loop {
        match sys::wait_signal(all) {
            SIGCHLD => while sys::reap_one() > 0 {},
            SIGTERM | SIGPWR | SIGINT => sys::exit(0),
            _ => {}
        }
    }
}
