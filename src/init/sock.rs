//! The init's socket: listening, accepting only the node's runtime, receiving a message with
//! descriptors.

use core::ffi::CStr;

use crate::sys::{close, nr, syscall4, syscall6, O_CLOEXEC};

/// A listening unix stream socket bound at `path` (shorter than 108 bytes).
pub fn listen_unix(path: &CStr) -> isize {
    const AF_UNIX: usize = 1;
    const SOCK_STREAM: usize = 1;
    // SAFETY: integer arguments only.
    let fd = unsafe { syscall4(nr::SOCKET, AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0, 0) };
    if fd < 0 {
        return fd;
    }
    // struct sockaddr_un: a u16 family, then the path.
    let mut addr = [0u8; 110];
    addr[..2].copy_from_slice(&(AF_UNIX as u16).to_ne_bytes());
    let path = path.to_bytes();
    let n = path.len().min(107);
    addr[2..2 + n].copy_from_slice(&path[..n]);
    // SAFETY: the kernel reads the 110 bytes of `addr`, the length given.
    let r = unsafe { syscall4(nr::BIND, fd as usize, addr.as_ptr() as usize, 110, 0) };
    let r = if r < 0 {
        r
    } else {
        // SAFETY: integer arguments only.
        unsafe { syscall4(nr::LISTEN, fd as usize, 4, 0, 0) }
    };
    if r < 0 {
        close(fd as i32);
        return r;
    }
    fd
}

pub fn accept(fd: i32) -> isize {
    // SAFETY: integers, and null for the peer address the kernel then does not write.
    unsafe { syscall4(nr::ACCEPT4, fd as usize, 0, 0, O_CLOEXEC) }
}

/// The peer's pid as this pid namespace sees it (`SO_PEERCRED`): 0 for a process outside it.
pub fn peer_pid(fd: i32) -> isize {
    const SOL_SOCKET: usize = 1;
    const SO_PEERCRED: usize = 17;
    let mut cred = [0u32; 3];
    let mut len: u32 = 12;
    // SAFETY: the kernel writes at most `len` (12) bytes of struct ucred into `cred` and the
    // length it wrote into `len`.
    let r = unsafe {
        syscall6(
            nr::GETSOCKOPT,
            [
                fd as usize,
                SOL_SOCKET,
                SO_PEERCRED,
                cred.as_mut_ptr() as usize,
                &mut len as *mut u32 as usize,
                0,
            ],
        )
    };
    if r < 0 {
        r
    } else {
        cred[0] as isize
    }
}

/// One `recvmsg` into `buf`; the descriptors that came with it (`SCM_RIGHTS`, close-on-exec)
/// are stored in `fds`. Returns (bytes, descriptors) or the negative errno.
pub fn recv_with_fds(fd: i32, buf: &mut [u8], fds: &mut [i32]) -> Result<(usize, usize), isize> {
    const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
    const SCM_RIGHTS: i32 = 1;
    const SOL_SOCKET: i32 = 1;
    // cmsghdr: len (usize), level (i32), type (i32), then the fds.
    let mut control = [0u64; 2 + 128];
    let iov = [buf.as_mut_ptr() as usize, buf.len()];
    // struct msghdr: name, namelen, iov, iovlen, control, controllen, flags.
    let mut msg = [
        0usize,
        0,
        iov.as_ptr() as usize,
        1,
        control.as_mut_ptr() as usize,
        core::mem::size_of_val(&control),
        0,
    ];
    // SAFETY: `msg` is a struct msghdr (seven words on 64-bit targets) that the kernel reads and
    // updates; its one iovec covers `buf` and its control buffer is `control`, both with their
    // true lengths, so the kernel writes only within them.
    let n = unsafe {
        syscall4(
            nr::RECVMSG,
            fd as usize,
            msg.as_mut_ptr() as usize,
            MSG_CMSG_CLOEXEC,
            0,
        )
    };
    if n < 0 {
        return Err(n);
    }
    let mut count = 0;
    let clen = msg[5];
    let mut off = 0usize;
    let bytes = control.as_ptr() as *const u8;
    while off + 16 <= clen {
        // SAFETY: off + 16 is within the control buffer the kernel filled (clen bytes).
        let (len, level, typ) = unsafe {
            (
                core::ptr::read_unaligned(bytes.add(off) as *const usize),
                core::ptr::read_unaligned(bytes.add(off + 8) as *const i32),
                core::ptr::read_unaligned(bytes.add(off + 12) as *const i32),
            )
        };
        if len < 16 || off + len > clen {
            break;
        }
        if level == SOL_SOCKET && typ == SCM_RIGHTS {
            for i in 0..(len - 16) / 4 {
                // SAFETY: within this cmsg's data, checked against its length above.
                let f =
                    unsafe { core::ptr::read_unaligned(bytes.add(off + 16 + 4 * i) as *const i32) };
                if count < fds.len() {
                    fds[count] = f;
                    count += 1;
                } else {
                    close(f);
                }
            }
        }
        off += (len + 7) & !7;
    }
    Ok((n as usize, count))
}
