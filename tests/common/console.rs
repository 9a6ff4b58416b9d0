//! A console socket as conmon runs one: accept the runtime's connection and take the pty master
//! it sends; read the terminal.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use super::Sim;

/// Accept one connection and take the fd it carries, as conmon's console socket does.
pub fn receive_fd(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    fd_from(&conn)
}

/// The fd one connection carries.
pub fn fd_from(conn: &std::os::unix::net::UnixStream) -> OwnedFd {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("one fd with SCM_RIGHTS");
    // SAFETY: a descriptor just received is a new one that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `create ID` with a console socket, acting as conmon: returns the pty master it received.
pub fn create_with_console(sim: &Sim, bundle: &std::path::Path, id: &str) -> OwnedFd {
    let sock = sim.dir.path().join(format!("{id}.sock"));
    let listener = UnixListener::bind(&sock).unwrap();
    let err_path = sim.dir.path().join(format!("{id}.create-err"));
    let mut create = sim
        .runtime()
        .args(["create", "--bundle"])
        .arg(bundle)
        .arg("--console-socket")
        .arg(&sock)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // A create that fails never connects: stop waiting when it exits.
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = create.try_wait().unwrap() {
                    panic!(
                        "create exited ({status}) without using the console socket: {}",
                        std::fs::read_to_string(&err_path).unwrap()
                    );
                }
                assert!(std::time::Instant::now() < deadline, "create hangs");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    let master = fd_from(&conn);
    assert!(
        create.wait().unwrap().success(),
        "create: {}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    master
}

/// Read the terminal until `needle` shows up or the slave side is closed (EIO); without `\r`.
pub fn read_until(master: OwnedFd, needle: &str) -> String {
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&out).contains(needle) {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}
