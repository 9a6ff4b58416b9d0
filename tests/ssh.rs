//! The SSH transport against a real sshd on loopback: quoting, stream separation, exit status,
//! host key and identity checks, attached stdio, connection reuse, upload and timeouts.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use common::sshd::{keygen, Sshd};
use proxmox_lxcri::transport::ssh::{AttachedIo, RemoteExit, SshError, SshSession};
use sha2::{Digest, Sha256};

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn connect(sshd: &Sshd) -> SshSession {
    SshSession::connect(&sshd.target()).unwrap_or_else(|e| panic!("{e}"))
}

const T: Duration = Duration::from_secs(30);

#[test]
fn argv_round_trips_byte_for_byte() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let pwned = sshd.dir().join("pwned");
    let injection = format!("$(touch {})", pwned.display());
    let backticks = format!("`touch {}`", pwned.display());
    let hard = [
        "",
        "two words",
        "it's",
        "'",
        "\"double\"",
        &injection,
        &backticks,
        "a; touch x",
        "true && false",
        "*",
        "new\nline",
        "tab\there",
        "ü€",
        "-n",
        "--flag=a b",
        "back\\slash",
    ];
    let mut args = vec!["printf", "%s\\0"];
    args.extend_from_slice(&hard);
    let out = s.run(&argv(&args), b"", T).unwrap();
    assert_eq!(out.exit, RemoteExit::Code(0), "{:?}", out.stderr);
    let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    let want: Vec<&[u8]> = hard
        .iter()
        .map(|s| s.as_bytes())
        .chain([&b""[..]])
        .collect();
    assert_eq!(got, want);
    assert!(!pwned.exists(), "an argument ran as a command");
}

#[test]
fn streams_stay_apart_and_exit_status_comes_back() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let cmd = argv(&["sh", "-c", "cat; echo err >&2; exit 3"]);
    let out = s.run(&cmd, b"in\x00put\n", T).unwrap();
    assert_eq!(out.exit, RemoteExit::Code(3));
    assert_eq!(out.exit.code(), 3);
    assert_eq!(out.stdout, b"in\x00put\n");
    assert_eq!(out.stderr, b"err\n");

    // input the command never reads is dropped, not waited on
    let big = vec![b'x'; 8 << 20];
    let out = s.run(&argv(&["true"]), &big, T).unwrap();
    assert_eq!(out.exit, RemoteExit::Code(0));
}

#[test]
fn large_streams_both_ways_do_not_deadlock() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    const N: usize = 4 << 20;
    let script = format!("head -c {N} /dev/zero; head -c {N} /dev/zero >&2");
    let out = s.run(&argv(&["sh", "-c", &script]), b"", T).unwrap();
    assert_eq!(out.exit, RemoteExit::Code(0));
    assert_eq!((out.stdout.len(), out.stderr.len()), (N, N));
    assert!(out.stdout.iter().chain(&out.stderr).all(|b| *b == 0));

    // stdin flowing in while both streams flow out
    let input: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    let script = format!("head -c {N} /dev/zero >&2 & cat; wait");
    let out = s.run(&argv(&["sh", "-c", &script]), &input, T).unwrap();
    assert_eq!(out.exit, RemoteExit::Code(0));
    assert!(out.stdout == input, "stdout differs from stdin");
    assert_eq!(out.stderr.len(), N);
}

#[test]
fn death_by_signal_reports_the_signal() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let out = s
        .run(&argv(&["sh", "-c", "kill -TERM $$"]), b"", T)
        .unwrap();
    assert_eq!(out.exit, RemoteExit::Signal("TERM".into()));
    assert_eq!(out.exit.code(), 143);
}

fn refusal(t: &proxmox_lxcri::transport::ssh::SshTarget) -> String {
    match SshSession::connect(t) {
        Ok(_) => panic!("connected despite a bad host key or identity"),
        Err(e) => {
            eprintln!("refused: {e}");
            e.to_string()
        }
    }
}

#[test]
fn unknown_host_key_is_refused() {
    let sshd = Sshd::start(&[]);
    let mut t = sshd.target();
    // a file that knows the key, but for another port
    t.known_hosts = sshd.dir().join("other_hosts");
    fs::write(
        &t.known_hosts,
        format!("[127.0.0.1]:1 {}\n", sshd.host_key_pub),
    )
    .unwrap();
    let msg = refusal(&t);
    let port = sshd.port.to_string();
    for part in ["127.0.0.1", &port, "SHA256:", "ssh-ed25519", "other_hosts"] {
        assert!(msg.contains(part), "{part:?} missing in: {msg}");
    }
    // the fingerprint is OpenSSH's
    let kg = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(sshd.dir().join("host_ed25519.pub"))
        .output()
        .unwrap();
    let want = String::from_utf8(kg.stdout).unwrap();
    let fp = want.split_whitespace().nth(1).unwrap();
    assert!(msg.contains(fp), "{fp} missing in: {msg}");
}

#[test]
fn changed_host_key_is_refused() {
    let sshd = Sshd::start(&[]);
    let mut t = sshd.target();
    let other = sshd.dir().join("other_key");
    keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    t.known_hosts = sshd.dir().join("changed_hosts");
    fs::write(
        &t.known_hosts,
        format!("[127.0.0.1]:{} {other_pub}", sshd.port),
    )
    .unwrap();
    let msg = refusal(&t);
    assert!(msg.contains("does not match"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{}", sshd.port)), "{msg}");
    assert!(msg.contains("changed_hosts"), "{msg}");
}

#[test]
fn missing_known_hosts_is_refused() {
    let sshd = Sshd::start(&[]);
    let mut t = sshd.target();
    t.known_hosts = sshd.dir().join("no_such_file");
    let msg = refusal(&t);
    assert!(msg.contains("no_such_file"), "{msg}");
}

#[test]
fn wrong_identity_is_refused() {
    let sshd = Sshd::start(&[]);
    let mut t = sshd.target();
    t.identity = sshd.dir().join("stranger");
    keygen(&t.identity);
    let msg = refusal(&t);
    assert!(msg.contains(&format!("{}@127.0.0.1", t.user)), "{msg}");
    assert!(msg.contains("stranger"), "{msg}");
}

/// A pipe's read end drained by a thread, as a local terminal or log would be.
fn collector() -> (OwnedFd, thread::JoinHandle<Vec<u8>>) {
    let (r, w) = nix::unistd::pipe().unwrap();
    let h = thread::spawn(move || {
        let mut buf = Vec::new();
        fs::File::from(r).read_to_end(&mut buf).unwrap();
        buf
    });
    (w, h)
}

#[test]
fn attached_pipes_carry_all_three_streams() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let (in_r, in_w) = nix::unistd::pipe().unwrap();
    let input: Vec<u8> = (0..(1 << 20)).map(|i| (i % 253) as u8).collect();
    let feeder = {
        let input = input.clone();
        thread::spawn(move || fs::File::from(in_w).write_all(&input).unwrap())
    };
    let (out_w, out) = collector();
    let (err_w, err) = collector();
    let io = AttachedIo {
        stdin: Some(in_r.as_raw_fd()),
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
        pty: None,
        resize: None,
        silence: None,
    };
    let cmd = argv(&["sh", "-c", "cat; echo err >&2; exit 5"]);
    let exit = s.run_attached(&cmd, io).unwrap();
    drop((out_w, err_w));
    feeder.join().unwrap();
    assert_eq!(exit, RemoteExit::Code(5));
    assert!(out.join().unwrap() == input, "stdout differs from stdin");
    assert_eq!(err.join().unwrap(), b"err\n");
}

#[test]
fn attached_command_ends_while_stdin_stays_open() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let (in_r, _in_w_kept_open) = nix::unistd::pipe().unwrap();
    let (out_w, out) = collector();
    let (err_w, err) = collector();
    let io = AttachedIo {
        stdin: Some(in_r.as_raw_fd()),
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
        pty: None,
        resize: None,
        silence: None,
    };
    let exit = s.run_attached(&argv(&["echo", "done"]), io).unwrap();
    drop((out_w, err_w));
    assert_eq!(exit, RemoteExit::Code(0));
    assert_eq!(out.join().unwrap(), b"done\n");
    assert!(err.join().unwrap().is_empty());

    // no stdin at all: EOF at once
    let (out_w, out) = collector();
    let io = AttachedIo {
        stdin: None,
        stdout: out_w.as_raw_fd(),
        stderr: out_w.as_raw_fd(),
        pty: None,
        resize: None,
        silence: None,
    };
    let exit = s.run_attached(&argv(&["wc", "-c"]), io).unwrap();
    drop(out_w);
    assert_eq!(exit, RemoteExit::Code(0));
    assert_eq!(String::from_utf8(out.join().unwrap()).unwrap().trim(), "0");
}

#[test]
fn attached_with_a_terminal_of_the_given_size() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let (out_w, out) = collector();
    let io = AttachedIo {
        stdin: None,
        stdout: out_w.as_raw_fd(),
        stderr: out_w.as_raw_fd(),
        pty: Some((100, 30)),
        resize: None,
        silence: None,
    };
    let script = "test -t 0 && test -t 1 && echo tty; stty size; echo err >&2";
    let exit = s.run_attached(&argv(&["sh", "-c", script]), io).unwrap();
    drop(out_w);
    assert_eq!(exit, RemoteExit::Code(0));
    let text = String::from_utf8(out.join().unwrap()).unwrap();
    assert_eq!(
        text.replace('\r', ""),
        "tty\n30 100\nerr\n",
        "stderr comes on the terminal too"
    );
}

#[test]
fn one_connection_serves_fifty_calls() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    // SSH_CONNECTION names the client's port: one port, one TCP connection
    let mut conns = std::collections::HashSet::new();
    for i in 0..50 {
        let n = i.to_string();
        let out = s
            .run(
                &argv(&["sh", "-c", "echo $1 $SSH_CONNECTION", "sh", &n]),
                b"",
                T,
            )
            .unwrap();
        assert_eq!(out.exit, RemoteExit::Code(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let (first, conn) = text.trim().split_once(' ').unwrap();
        assert_eq!(first, n);
        conns.insert(conn.to_string());
    }
    assert_eq!(conns.len(), 1, "{conns:?}");
}

#[test]
fn upload_arrives_whole_with_its_mode() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i * 7 % 256) as u8).collect();
    let dest = sshd.dir().join("uploaded.conf");
    let dest = dest.to_str().unwrap();
    // twice: the second replaces the first
    for mode in [0o600, 0o640] {
        s.upload(dest, &mut &data[..], data.len() as u64, mode)
            .unwrap();
        let out = s.run(&argv(&["sha256sum", dest]), b"", T).unwrap();
        let sum = String::from_utf8(out.stdout).unwrap();
        let want = format!("{:x}", Sha256::digest(&data));
        assert_eq!(sum.split_whitespace().next(), Some(want.as_str()));
        let out = s.run(&argv(&["stat", "-c", "%a", dest]), b"", T).unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            format!("{mode:o}")
        );
    }
    let leftovers: Vec<_> = fs::read_dir(sshd.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // a source shorter than promised fails and leaves nothing behind
    let short = sshd.dir().join("short");
    let err = s
        .upload(short.to_str().unwrap(), &mut &data[..10], 20, 0o644)
        .unwrap_err();
    assert!(err.to_string().contains("short"), "{err}");
    assert!(!short.exists());
}

#[test]
fn remote_locale_is_c_utf8() {
    let sshd = Sshd::start(&[("LC_ALL", "C")]);
    let s = connect(&sshd);
    let out = s.run(&argv(&["sh", "-c", "echo $LC_ALL"]), b"", T).unwrap();
    assert_eq!(out.stdout, b"C.UTF-8\n");
}

#[test]
fn timeout_gives_up_quickly() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let pidfile = sshd.dir().join("sleep.pid");
    let script = format!("echo $$ > {}; exec sleep 10", pidfile.display());
    let start = Instant::now();
    let err = s
        .run(&argv(&["sh", "-c", &script]), b"", Duration::from_secs(1))
        .err()
        .expect("sleep 10 finished within 1 s");
    let took = start.elapsed();
    // the sleep is ours to end
    if let Ok(pid) = fs::read_to_string(&pidfile) {
        let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    assert!(matches!(err, SshError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("sleep 10"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // and the connection still works
    let out = s.run(&argv(&["echo", "again"]), b"", T).unwrap();
    assert_eq!(out.stdout, b"again\n");
}

/// The sshd listening for `sshd` and the sessions it forked (by parent pid).
fn sshd_and_sessions(sshd: &Sshd) -> Vec<i32> {
    let dir = sshd.dir().to_string_lossy().into_owned();
    let stat = |pid: i32| fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ppid = |pid: i32| -> i32 {
        let s = stat(pid);
        let after = s.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
        after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    };
    let all: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let mut found: Vec<i32> = all
        .iter()
        .copied()
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&dir))
        })
        .collect();
    loop {
        let more: Vec<i32> = all
            .iter()
            .copied()
            .filter(|p| !found.contains(p) && found.contains(&ppid(*p)))
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// A node that stops answering (its sshd and session stopped, the TCP connection open) ends
/// an attached command with `Silent` once keepalives have gone unanswered for the allowed
/// silence; without `silence` the same command would wait for ever.
#[test]
fn a_silent_node_ends_an_attached_command_after_the_allowed_silence() {
    let sshd = Sshd::start(&[]);
    let s = connect(&sshd);
    let (out_w, out) = collector();
    let io = AttachedIo {
        stdin: None,
        stdout: out_w.as_raw_fd(),
        stderr: out_w.as_raw_fd(),
        pty: None,
        resize: None,
        silence: Some(Duration::from_secs(5)),
    };
    let stopped = std::sync::Mutex::new(Vec::new());
    let to_stop = &stopped;
    let sshd_ref = &sshd;
    let started = Instant::now();
    let res = thread::scope(|sc| {
        sc.spawn(|| {
            // Idle for longer than the allowed silence first: answered keepalives keep it on.
            thread::sleep(Duration::from_millis(8000));
            let pids = sshd_and_sessions(sshd_ref);
            for p in &pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*p),
                    nix::sys::signal::Signal::SIGSTOP,
                );
            }
            *to_stop.lock().unwrap() = pids;
        });
        s.run_attached(&argv(&["sh", "-c", "echo up; exec sleep 60"]), io)
    });
    let took = started.elapsed();
    for p in stopped.lock().unwrap().iter() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
    drop(out_w);
    match res {
        Err(SshError::Silent { after, .. }) => assert!(after >= Duration::from_secs(5)),
        other => panic!("expected Silent, got {other:?}"),
    }
    // Stopped at 8 s; the last answer came at most a keepalive interval (2 s) before.
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_millis(13_500),
        "ended after {took:?}"
    );
    assert_eq!(out.join().unwrap(), b"up\n");
    // The connection is abandoned, not closed: forgetting it skips the goodbye.
    std::mem::forget(s);
}
