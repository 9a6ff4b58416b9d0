//! C strings, numbers and messages without an allocator.

use core::ffi::CStr;
use core::sync::atomic::{AtomicI32, Ordering};

use crate::sys::{self, Arg};

/// The bytes of a NUL-terminated string, without the NUL.
pub fn bytes(s: Arg<'_>) -> &[u8] {
    s.get().to_bytes()
}

/// The `i`th string of a list that ends in None (argv), or None at or past its end.
pub fn nth<'a>(list: &[Option<Arg<'a>>], i: usize) -> Option<Arg<'a>> {
    list.get(i).copied().flatten()
}

pub fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

pub fn parse_u64(s: &[u8], radix: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = (c as char).to_digit(radix as u32)? as u64;
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    Some(v)
}

/// Decimal digits of `v` into `buf`; returns the used tail.
pub fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

/// A fixed buffer to join path pieces into a NUL-terminated string.
pub struct PathBuf {
    buf: [u8; 4096],
    len: usize,
}

impl PathBuf {
    pub fn new() -> PathBuf {
        PathBuf {
            buf: [0; 4096],
            len: 0,
        }
    }

    /// False when it does not fit.
    pub fn push(&mut self, s: &[u8]) -> bool {
        if self.len + s.len() >= self.buf.len() {
            return false;
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
        self.buf[self.len] = 0;
        true
    }

    pub fn truncate(&mut self, len: usize) {
        self.len = len;
        self.buf[len] = 0;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// As a C string, for system calls.
    pub fn c(&self) -> &CStr {
        // Never the default: buf[len] is NUL.
        CStr::from_bytes_until_nul(&self.buf[..=self.len]).unwrap_or_default()
    }
}

/// Where failures go: stderr, or the runtime's connection once the init serves a launch.
static REPORT_FD: AtomicI32 = AtomicI32::new(2);

/// Send failures (`error <text>`) and warnings (`warn <text>`) to the runtime over `fd`.
pub fn report_to(fd: i32) {
    REPORT_FD.store(fd, Ordering::Relaxed);
}

/// One line on the report channel: `<kind> <parts…>` to the runtime, or
/// `proxmox-lxcri-init: <parts…>` on stderr.
pub fn report(kind: &[u8], parts: &[&[u8]]) {
    let fd = REPORT_FD.load(Ordering::Relaxed);
    if fd == 2 {
        sys::write(2, b"proxmox-lxcri-init: ");
    } else {
        sys::write(fd, kind);
        sys::write(fd, b" ");
    }
    for p in parts {
        sys::write(fd, p);
    }
    sys::write(fd, b"\n");
}

/// Report `<what> <arg>[: errno <n>]`, then exit.
pub fn die(code: i32, what: &[u8], arg: &[u8], errno: isize) -> ! {
    let mut num = [0u8; 20];
    let n = fmt_u64(errno.unsigned_abs() as u64, &mut num);
    if errno != 0 {
        report(b"error", &[what, b" ", arg, b": errno ", n]);
    } else {
        report(b"error", &[what, b" ", arg]);
    }
    sys::exit(code)
}
