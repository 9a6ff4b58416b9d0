//! `create --console-socket` with `process.terminal`: the runtime sends a pty master over the
//! socket the way conmon receives it, and the workload runs on the matching slave.

mod common;

use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use common::cases;
use common::console::{create_with_console, read_until, receive_fd};
use common::*;

#[test]
fn console_socket_gets_a_pty_and_the_workload_runs_on_it() {
    cases::terminal(&Sim::new("terminal"));
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let sim = Sim::new("terminal_refused");
    let bundle = sim.bundle("b", "true");
    edit_spec(&bundle, |spec| spec["process"]["terminal"] = true.into());
    let out = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("t2")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("process.terminal needs --console-socket"),
        "{}",
        stderr(&out)
    );
    assert!(sim.no_cts());
}

#[test]
fn detached_exec_with_a_terminal() {
    let sim = Sim::new("terminal_exec");
    let c = create(&sim, &sim.bundle("b", "exec sleep 1000"), "te1");
    c.start();
    let sock = sim.dir.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let pfile = sim.dir.path().join("p.json");
    std::fs::write(&pfile, r#"{"terminal": true, "args": ["sh", "-c", "tty; echo exec-done"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#).unwrap();
    let mut exec = sim
        .runtime()
        .args(["exec", "--detach", "--tty", "--process"])
        .arg(&pfile)
        .arg("--console-socket")
        .arg(&sock)
        .arg("te1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let master = receive_fd(&listener);
    assert!(exec.wait().unwrap().success());
    let text = read_until(master, "exec-done");
    assert!(text.starts_with("/dev/pts/"), "{text:?}");
    assert!(text.contains("exec-done"));
    assert!(sim.run(&["delete", "--force", "te1"]).status.success());
    assert_eq!(c.wait(), 137);
}

#[test]
fn an_unprivileged_ct_owns_its_terminal() {
    let sim = Sim::with_config("terminal_unpriv", "unprivileged = true");
    let bundle = sim.bundle("b", "stat -c owner:%u $(tty); echo done");
    edit_spec(&bundle, |spec| spec["process"]["terminal"] = true.into());
    let master = create_with_console(&sim, &bundle, "tu1");
    assert!(sim.run(&["start", "tu1"]).status.success());
    let text = read_until(master, "done");
    assert!(
        text.contains("owner:0"),
        "the pty belongs to the CT's root, not to nobody: {text:?}"
    );
    wait_for("stopped", Duration::from_secs(10), || {
        sim.state_json("tu1")["status"] == "stopped"
    });
    assert!(sim.run(&["delete", "tu1"]).status.success());
}

/// `exec --process F [flags] ID` in the foreground for the process `script` with
/// `terminal: true`; without flags as CRI-O's `exec -it` runs it; stdio as given.
fn exec_tty(sim: &Sim, id: &str, script: &str, flags: &[&str]) -> std::process::Command {
    let pfile = sim.dir.path().join(format!("{id}-process.json"));
    std::fs::write(
        &pfile,
        serde_json::to_vec(&serde_json::json!({
            "terminal": true,
            "args": ["sh", "-c", script],
            "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        }))
        .unwrap(),
    )
    .unwrap();
    let mut cmd = sim.runtime();
    cmd.args(["exec", "--process"])
        .arg(&pfile)
        .args(flags)
        .arg(id);
    cmd
}

/// With pipes for stdio: the process still gets a terminal of the CT's, input reaches it, EOF on
/// stdin does not end it, and all of its output and its exit status come back.
fn fg_exec_over_pipes(sim: &Sim, id: &str) {
    use std::io::{Read, Write};
    let script = "tty; [ -t 0 ] && echo stdin-is-a-tty; echo ready; read line; echo got:$line; \
                  sleep 1; echo after-eof; seq 1 20000; exit 3";
    let mut child = exec_tty(sim, id, script, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Typed once the process is there (lxc-attach flushes what its terminal got before), then
    // EOF right after the line: the session goes on.
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("ready") {
        match stdout.read(&mut buf).unwrap() {
            0 => break,
            n => seen.extend_from_slice(&buf[..n]),
        }
    }
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    let out = child.wait_with_output().unwrap();
    let raw = String::from_utf8_lossy(&seen);
    let head = &raw[..raw.len().min(200)];
    // Typed input is echoed once, by the process's terminal (a terminal of ours on the way,
    // as the stand-in of a remote exec has, carries bytes only).
    assert_eq!(
        raw.matches("hello").count(),
        2,
        "echo and got:hello: {head:?}"
    );
    let text = raw.replace('\r', "");
    let head = &text[..text.len().min(200)];
    assert_eq!(out.status.code(), Some(3), "{}\n{head}", stderr(&out));
    assert!(head.starts_with("/dev/pts/"), "tty printed {head:?}");
    assert!(head.contains("stdin-is-a-tty\n"), "{head:?}");
    assert!(head.contains("got:hello\n"), "{head:?}");
    assert!(head.contains("after-eof\n1\n2\n"), "{head:?}");
    let tail = &text[text.len().saturating_sub(80)..];
    assert!(
        text.ends_with("\n19999\n20000\n"),
        "output complete: {tail:?}"
    );
}

/// From a terminal of the test's (as CRI-O's pty): the process gets a terminal of the CT's of the
/// caller's size, follows its resizes, and the caller's terminal is left as it was.
fn fg_exec_from_a_pty(sim: &Sim, id: &str) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let size = |rows, cols| libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size(33, 111)), None).unwrap();
    let (master, slave) = (pty.master, pty.slave);
    let echo = |fd: &std::os::fd::OwnedFd| {
        nix::sys::termios::tcgetattr(fd)
            .unwrap()
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ECHO)
    };
    assert!(echo(&slave));
    let script = "tty; [ -t 0 ] && echo stdin-is-a-tty; \
                  trap 'stty size; echo winch-seen; exit 3' WINCH; \
                  stty size; echo ready; while :; do sleep 1; done";
    let mut cmd = exec_tty(sim, id, script, &[]);
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // The runtime leads the terminal's session, as under CRI-O's pty: resizes signal it.
    // SAFETY: between fork and exec the hook makes only async-signal-safe syscalls.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let text = read_until(master.try_clone().unwrap(), "ready");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "tty printed {text:?}");
    assert!(text.contains("stdin-is-a-tty\n33 111\nready"), "{text:?}");
    assert!(
        !echo(&slave),
        "the caller's terminal is raw during the session"
    );
    assert_eq!(
        // SAFETY: TIOCSWINSZ reads the winsize passed.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size(50, 150)) },
        0
    );
    let text = read_until(master.try_clone().unwrap(), "winch-seen");
    assert!(text.contains("50 150\nwinch-seen"), "{text:?}");
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert!(echo(&slave), "the caller's terminal mode is back");
}

fn terminal_exec_ct<'a>(sim: &'a Sim, id: &str) -> common::Ctr<'a> {
    let c = create(sim, &sim.bundle(id, "exec sleep 1000"), id);
    c.start();
    c
}

#[test]
fn foreground_exec_with_a_terminal_over_pipes() {
    let sim = Sim::new("terminal_fg_pipes");
    let c = terminal_exec_ct(&sim, "tp1");
    fg_exec_over_pipes(&sim, "tp1");
    assert!(sim.run(&["delete", "--force", "tp1"]).status.success());
    assert_eq!(c.wait(), 137);
}

#[test]
fn foreground_exec_with_a_terminal_from_a_pty() {
    let sim = Sim::new("terminal_fg_pty");
    let c = terminal_exec_ct(&sim, "tq1");
    fg_exec_from_a_pty(&sim, "tq1");
    assert!(sim.run(&["delete", "--force", "tq1"]).status.success());
    assert_eq!(c.wait(), 137);
}

#[test]
fn foreground_exec_with_a_terminal_over_ssh() {
    let r = common::remote::Remote::ssh("terminal_fg_ssh", "");
    let c = terminal_exec_ct(&r.sim, "ts1");
    fg_exec_over_pipes(&r.sim, "ts1");
    fg_exec_from_a_pty(&r.sim, "ts1");
    assert!(r.sim.run(&["delete", "--force", "ts1"]).status.success());
    let _ = c.wait();
    assert!(r.sim.no_cts());
}

#[test]
fn foreground_exec_with_a_console_socket() {
    let sim = Sim::new("terminal_fg_socket");
    let c = terminal_exec_ct(&sim, "tc1");
    let sock = sim.dir.path().join("fg-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let flags = ["--console-socket", sock.to_str().unwrap()];
    let mut exec = exec_tty(&sim, "tc1", "tty; echo exec-done; exit 4", &flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(_) => {
                assert!(
                    exec.try_wait().unwrap().is_none(),
                    "exec ended without using the console socket"
                );
                assert!(std::time::Instant::now() < deadline, "exec hangs");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    conn.set_nonblocking(false).unwrap();
    drop(listener);
    let master = common::console::fd_from(&conn);
    drop(conn);
    // Held until the process exits: a closed master hangs its terminal up (SIGHUP, 129).
    let text = read_until(master.try_clone().unwrap(), "exec-done");
    assert!(text.starts_with("/dev/pts/"), "{text:?}");
    assert_eq!(exec.wait().unwrap().code(), Some(4));
    drop(master);
    assert!(sim.run(&["delete", "--force", "tc1"]).status.success());
    assert_eq!(c.wait(), 137);
}

#[test]
fn foreground_exec_with_a_terminal_over_the_api() {
    let r = common::remote::ApiRemote::new("terminal_fg_api", "sim", "sim", "");
    let c = terminal_exec_ct(&r.sim, "ta1");
    fg_exec_from_a_pty(&r.sim, "ta1");
    assert!(r.sim.run(&["delete", "--force", "ta1"]).status.success());
    let _ = c.wait();
    assert!(r.cts_on("sim").is_empty());
}
