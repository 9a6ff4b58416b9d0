//! What the compiler calls without a libc: memory functions and the unwind personality.

// Without libc the compiler's calls to these must be satisfied here; volatile accesses keep them
// from being turned back into calls to themselves. Their contracts are C's. `no_mangle` is sound:
// with no libc linked, these are the only definitions of the symbols.

/// # Safety
/// `dst` is valid for writes of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: i < n, within `dst` as the caller promised.
        unsafe { core::ptr::write_volatile(dst.add(i), c as u8) };
    }
    dst
}

/// # Safety
/// `src` is valid for reads and `dst` for writes of `n` bytes; they do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: i < n, within both buffers as the caller promised.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

/// # Safety
/// `a` and `b` are valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, within both buffers as the caller promised.
        let (x, y) = unsafe {
            (
                core::ptr::read_volatile(a.add(i)),
                core::ptr::read_volatile(b.add(i)),
            )
        };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// # Safety
/// `src` is valid for reads and `dst` for writes of `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Copy away from the overlap: forwards when `dst` is below `src`, else backwards.
    if (dst as usize) < (src as usize) {
        for i in 0..n {
            // SAFETY: i < n, within both buffers; byte i of `src` is read before any write
            // reaches it.
            unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: as above, from the end.
            unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        }
    }
    dst
}

/// `CStr::from_ptr` (in `Arg::get`) calls this.
///
/// # Safety
/// `s` points to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: every byte up to and including the NUL is part of the string.
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}

/// # Safety
/// As for `memcmp`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's promise is memcmp's.
    unsafe { memcmp(a, b, n) }
}

/// core's prebuilt code carries unwind tables that name this; with panic=abort it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
