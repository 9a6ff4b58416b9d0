//! pid 1 of every CT proxmox-lxcri creates: it reaps orphans and otherwise idles, so the CT exists
//! ("created") before `start` runs the workload. It is bind-mounted read-only into the CT and must
//! run in any rootfs, including `FROM scratch` images, so it uses raw system calls and no libc.
//! It exits on SIGTERM (runtime stop) and SIGPWR (LXC's halt signal, `pct shutdown`).

#![no_std]
#![no_main]

mod sys;

const SIGINT: u64 = 2;
const SIGTERM: u64 = 15;
const SIGCHLD: u64 = 17;
const SIGPWR: u64 = 30;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(101)
}

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
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
