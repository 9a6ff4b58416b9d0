//! The static helper proxmox-lxcri puts into every CT. Without arguments it is pid 1: it reaps
//! orphans and waits, so the CT exists ("created") before `start`, which hands it the container's
//! process to become by exec (`serve`); it exits on SIGTERM (runtime stop), SIGPWR (LXC's halt
//! signal, `pct shutdown`) and SIGINT.
//! On a remote node, where the runtime cannot enter the CT itself, `pct exec` runs it with a mode:
//! `exec` (set up the process spec and exec the workload), `kill` and `put` (see `modes`).
//! It must run in any rootfs, including `FROM scratch` images, so it uses raw system calls and no
//! libc.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod apply;
mod modes;
mod rt;
mod serve;
mod sock;
mod sys;
mod text;

use sys::Arg;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(101)
}

/// The kernel's entry: the stack pointer holds argc, then argv. Hand it to `start` on an aligned
/// stack. `no_mangle` is sound: without the C start files (build.rs) this is the only `_start`.
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

/// # Safety
/// `sp` is the initial stack pointer the kernel gave `_start`.
unsafe extern "C" fn start(sp: *const usize) -> ! {
    // With the NULL after argv, so that the list can end an execve's argv as it is.
    // SAFETY: the kernel lays out argc, then argc pointers to NUL-terminated strings that live as
    // long as the process, then NULL; `Option<Arg>` has the layout of such a nullable pointer.
    let args: &[Option<Arg<'static>>] =
        unsafe { core::slice::from_raw_parts(sp.add(1).cast(), *sp + 1) };
    match text::nth(args, 1).map(text::bytes) {
        Some(b"exec") => modes::exec(&args[2..]),
        Some(b"kill") => modes::kill(&args[2..]),
        Some(b"put") => modes::put(&args[2..]),
        _ => serve::idle(),
    }
}
