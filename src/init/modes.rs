//! What the init does when `pct exec` runs it in a CT on a remote node, where the runtime cannot
//! enter the CT's namespaces itself:
//!
//! * `exec [--rlimit RES:SOFT:HARD]… [--umask OCTAL] [--pid-file P] [--groups G,G…] [--gid G]
//!   [--uid U] [--nnp] [--cwd DIR] [--env K=V]… [--caps BND:PRM:EFF:INH:AMB] [--seccomp PATH]
//!   [--seccomp-flags N] [--oom-score-adj N] [--ioprio N] [--apparmor PROFILE] [--readonly-root]
//!   [--join K]… [--mount TYPE:DEST:FLAGS:DATA]… [--sysctl KEY=VALUE]…
//!   -- PROG ARG…`: apply the process spec and exec the workload with exactly the given
//!   environment. PROG without `/` is looked up in the environment's PATH. Exit 127 (not found)
//!   or 126 (not executable), as runc and lxc-attach do. Capability sets are hex masks; the
//!   seccomp filter is a compiled classic BPF program (the runtime compiles it with libseccomp).
//!   The same options, sent over the init's socket, launch the container's own process as pid 1
//!   (`serve`), where `--console-fd K` and `--seccomp-fd K` name descriptors that came with them.
//! * `kill SIG PIDFILE|all`: signal the process whose pid `exec --pid-file` wrote, or every
//!   process of the CT but pid 1.
//! * `put PATH MODE`: write stdin to PATH (parents made 0755), replacing it atomically.

use crate::apply;
use crate::sys::{self, Arg};
use crate::text::{self, bytes, die, eq, fmt_u64, nth, parse_u64, PathBuf};

const MAX_ENV: usize = 1024;
const MAX_GROUPS: usize = 64;
const MAX_RLIMITS: usize = 16;
const MAX_MOUNTS: usize = 32;
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Spec<'a> {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: [u32; MAX_GROUPS],
    ngroups: Option<usize>,
    cwd: Option<Arg<'a>>,
    /// Ends in None after the last one, for execve.
    env: [Option<Arg<'a>>; MAX_ENV + 1],
    nenv: usize,
    rlimits: [(u32, u64, u64); MAX_RLIMITS],
    nrlimits: usize,
    nnp: bool,
    umask: Option<u32>,
    pid_file: Option<Arg<'a>>,
    /// bounding, permitted, effective, inheritable, ambient
    caps: Option<[u64; 5]>,
    seccomp: Option<Source<'a>>,
    seccomp_flags: usize,
    oom_score_adj: Option<Arg<'a>>,
    ioprio: Option<usize>,
    apparmor: Option<Arg<'a>>,
    readonly_root: bool,
    console: Option<usize>,
    console_size: Option<(u16, u16)>,
    /// Sent namespace descriptors to join first (a pod's net, ipc, uts).
    joins: [usize; 3],
    njoins: usize,
    /// `TYPE:DEST:FLAGS:DATA` mounts to make first.
    mounts: [Option<Arg<'a>>; MAX_MOUNTS],
    nmounts: usize,
    /// `KEY=VALUE` namespaced sysctls to write first.
    sysctls: [Option<Arg<'a>>; MAX_MOUNTS],
    nsysctls: usize,
}

/// A file given by path (the `exec` mode) or by the index of a descriptor sent with a launch.
#[derive(Clone, Copy)]
enum Source<'a> {
    Path(Arg<'a>),
    Sent(usize),
}

fn num(s: Arg, radix: u64, what: &[u8]) -> u64 {
    parse_u64(bytes(s), radix).unwrap_or_else(|| die(1, what, bytes(s), 0))
}

/// `unlimited` or a number.
fn limit(s: &[u8]) -> Option<u64> {
    if eq(s, b"unlimited") {
        Some(u64::MAX)
    } else {
        parse_u64(s, 10)
    }
}

fn parse_rlimit(s: Arg) -> (u32, u64, u64) {
    let b = bytes(s);
    let mut parts = b.split(|c| *c == b':');
    let (Some(res), Some(soft), Some(hard), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        die(1, b"bad --rlimit", b, 0)
    };
    match (parse_u64(res, 10), limit(soft), limit(hard)) {
        (Some(r), Some(s), Some(h)) => (r as u32, s, h),
        _ => die(1, b"bad --rlimit", b, 0),
    }
}

fn parse_caps(s: Arg) -> [u64; 5] {
    let b = bytes(s);
    let mut out = [0u64; 5];
    let mut n = 0;
    for part in b.split(|c| *c == b':') {
        if n == 5 {
            die(1, b"bad --caps", b, 0);
        }
        out[n] = parse_u64(part, 16).unwrap_or_else(|| die(1, b"bad --caps", b, 0));
        n += 1;
    }
    if n != 5 {
        die(1, b"bad --caps", b, 0);
    }
    out
}

/// `args` and the argv returned (what follows `--`) end in None.
fn parse<'a>(args: &'a [Option<Arg<'a>>]) -> (Spec<'a>, &'a [Option<Arg<'a>>]) {
    let mut spec = Spec {
        uid: None,
        gid: None,
        groups: [0; MAX_GROUPS],
        ngroups: None,
        cwd: None,
        env: [None; MAX_ENV + 1],
        nenv: 0,
        rlimits: [(0, 0, 0); MAX_RLIMITS],
        nrlimits: 0,
        nnp: false,
        umask: None,
        pid_file: None,
        caps: None,
        seccomp: None,
        seccomp_flags: 0,
        oom_score_adj: None,
        ioprio: None,
        apparmor: None,
        readonly_root: false,
        console: None,
        console_size: None,
        joins: [0; 3],
        njoins: 0,
        mounts: [None; MAX_MOUNTS],
        nmounts: 0,
        sysctls: [None; MAX_MOUNTS],
        nsysctls: 0,
    };
    let mut i = 0;
    while let Some(opt) = nth(args, i) {
        let opt = bytes(opt);
        if eq(opt, b"--") {
            return (spec, &args[i + 1..]);
        }
        if eq(opt, b"--nnp") || eq(opt, b"--readonly-root") {
            spec.nnp |= eq(opt, b"--nnp");
            spec.readonly_root |= eq(opt, b"--readonly-root");
            i += 1;
            continue;
        }
        let Some(val) = nth(args, i + 1) else {
            die(1, b"missing value for", opt, 0)
        };
        match opt {
            b"--uid" => spec.uid = Some(num(val, 10, b"bad --uid") as u32),
            b"--gid" => spec.gid = Some(num(val, 10, b"bad --gid") as u32),
            b"--cwd" => spec.cwd = Some(val),
            b"--pid-file" => spec.pid_file = Some(val),
            b"--umask" => spec.umask = Some(num(val, 8, b"bad --umask") as u32),
            b"--groups" => {
                let mut n = 0;
                for g in bytes(val).split(|c| *c == b',').filter(|g| !g.is_empty()) {
                    if n == MAX_GROUPS {
                        die(1, b"too many groups", b"", 0);
                    }
                    spec.groups[n] =
                        parse_u64(g, 10).unwrap_or_else(|| die(1, b"bad --groups", g, 0)) as u32;
                    n += 1;
                }
                spec.ngroups = Some(n);
            }
            b"--env" => {
                if spec.nenv == MAX_ENV {
                    die(1, b"too many --env", b"", 0);
                }
                spec.env[spec.nenv] = Some(val);
                spec.nenv += 1;
            }
            b"--caps" => spec.caps = Some(parse_caps(val)),
            b"--seccomp" => spec.seccomp = Some(Source::Path(val)),
            b"--seccomp-fd" => {
                spec.seccomp = Some(Source::Sent(num(val, 10, b"bad --seccomp-fd") as usize))
            }
            b"--seccomp-flags" => {
                spec.seccomp_flags = num(val, 10, b"bad --seccomp-flags") as usize
            }
            b"--oom-score-adj" => spec.oom_score_adj = Some(val),
            b"--ioprio" => spec.ioprio = Some(num(val, 10, b"bad --ioprio") as usize),
            b"--apparmor" => spec.apparmor = Some(val),
            b"--mount" => {
                if spec.nmounts == MAX_MOUNTS {
                    die(1, b"too many --mount", b"", 0);
                }
                spec.mounts[spec.nmounts] = Some(val);
                spec.nmounts += 1;
            }
            b"--sysctl" => {
                if spec.nsysctls == MAX_MOUNTS {
                    die(1, b"too many --sysctl", b"", 0);
                }
                spec.sysctls[spec.nsysctls] = Some(val);
                spec.nsysctls += 1;
            }
            b"--join" => {
                if spec.njoins == spec.joins.len() {
                    die(1, b"too many --join", b"", 0);
                }
                spec.joins[spec.njoins] = num(val, 10, b"bad --join") as usize;
                spec.njoins += 1;
            }
            b"--console-fd" => spec.console = Some(num(val, 10, b"bad --console-fd") as usize),
            b"--console-size" => {
                let b = bytes(val);
                let mut it = b.split(|c| *c == b':').map(|p| parse_u64(p, 10));
                match (it.next(), it.next(), it.next()) {
                    (Some(Some(r)), Some(Some(c)), None) => {
                        spec.console_size = Some((r as u16, c as u16))
                    }
                    _ => die(1, b"bad --console-size", b, 0),
                }
            }
            b"--rlimit" => {
                if spec.nrlimits == MAX_RLIMITS {
                    die(1, b"too many --rlimit", b"", 0);
                }
                spec.rlimits[spec.nrlimits] = parse_rlimit(val);
                spec.nrlimits += 1;
            }
            _ => die(1, b"unknown option", opt, 0),
        }
        i += 2;
    }
    die(1, b"exec: missing", b"-- PROG", 0)
}

/// `mkdir -p` of every parent of `path` (or of `path` itself when `with_last`).
pub fn make_parents(path: &[u8], with_last: bool) {
    let mut p = PathBuf::new();
    for (i, &c) in path.iter().enumerate() {
        if c == b'/' && i > 0 {
            p.truncate(0);
            p.push(&path[..i]);
            let r = sys::mkdir(p.c(), 0o755);
            if r < 0 && r != -sys::EEXIST {
                die(1, b"mkdir", p.as_bytes(), r);
            }
        }
    }
    if with_last {
        p.truncate(0);
        if !p.push(path) {
            die(1, b"path too long", b"", 0);
        }
        let r = sys::mkdir(p.c(), 0o755);
        if r < 0 && r != -sys::EEXIST {
            die(1, b"mkdir", path, r);
        }
    }
}

fn write_all(fd: i32, mut buf: &[u8]) -> isize {
    while !buf.is_empty() {
        let n = sys::write(fd, buf);
        if n == -sys::EINTR {
            continue;
        }
        if n <= 0 {
            return if n < 0 { n } else { -5 };
        }
        buf = &buf[n as usize..];
    }
    0
}

fn write_pid_file(path: Arg) {
    let mut num = [0u8; 20];
    let pid = fmt_u64(sys::getpid() as u64, &mut num);
    let mut p = PathBuf::new();
    p.push(bytes(path));
    let fd = sys::open(
        p.c(),
        sys::O_WRONLY | sys::O_CREAT | sys::O_TRUNC | sys::O_CLOEXEC,
        0o600,
    );
    if fd < 0 {
        die(1, b"pid file", p.as_bytes(), fd);
    }
    let r = write_all(fd as i32, pid);
    sys::close(fd as i32);
    if r < 0 {
        die(1, b"pid file", p.as_bytes(), r);
    }
}

fn path_of_env<'a>(spec: &Spec<'a>) -> &'a [u8] {
    for &e in spec.env[..spec.nenv].iter().flatten() {
        if let Some(v) = bytes(e).strip_prefix(b"PATH=") {
            return v;
        }
    }
    DEFAULT_PATH
}

pub fn exec(args: &[Option<Arg>]) -> ! {
    let (spec, argv) = parse(args);
    run(&spec, argv, &[])
}

/// The launch of the container's process over the init's socket (`serve`): the same options,
/// with descriptors; the first `nfds` of them become 0 .. nfds-1.
pub fn launch(args: &[Option<Arg>], sent: &[i32], nfds: usize) -> ! {
    let (spec, argv) = parse(args);
    for (i, &fd) in sent.iter().enumerate().take(nfds) {
        if sys::dup3(fd, i as i32, 0) < 0 {
            die(1, b"placing the container's descriptors", b"", 0);
        }
    }
    // Only stdio and preserved fds may reach the workload.
    sys::cloexec_from(nfds as u32);
    run(&spec, argv, sent)
}

fn sent_fd(src: usize, sent: &[i32], what: &[u8]) -> i32 {
    *sent
        .get(src)
        .unwrap_or_else(|| die(1, what, b"names no sent descriptor", 0))
}

/// Apply the process spec, in runc's order, and exec the program.
fn run(spec: &Spec, argv: &[Option<Arg>], sent: &[i32]) -> ! {
    let Some(prog) = nth(argv, 0) else {
        die(1, b"exec: missing", b"PROG", 0)
    };
    for &j in &spec.joins[..spec.njoins] {
        let r = sys::setns(sent_fd(j, sent, b"--join"));
        if r < 0 {
            die(1, b"joining a namespace named by path:", b"setns", r);
        }
    }
    for &m in spec.mounts[..spec.nmounts].iter().flatten() {
        apply::mount(bytes(m));
    }
    for &k in spec.sysctls[..spec.nsysctls].iter().flatten() {
        apply::sysctl(bytes(k));
    }
    if let Some(c) = spec.console {
        apply::console(sent_fd(c, sent, b"--console-fd"), spec.console_size);
    }
    if spec.readonly_root {
        apply::readonly_root();
    }
    // As root first: raising a hard limit and writing the pid file need it.
    for &(res, soft, hard) in &spec.rlimits[..spec.nrlimits] {
        apply::rlimit(res, soft, hard);
    }
    if let Some(adj) = spec.oom_score_adj {
        apply::oom_score_adj(bytes(adj));
    }
    if let Some(cwd) = spec.cwd {
        // runc makes a missing cwd: as root, before the user switch and the process's umask.
        make_parents(bytes(cwd), true);
    }
    if let Some(mask) = spec.umask {
        sys::umask(mask);
    }
    if let Some(prio) = spec.ioprio {
        let r = sys::ioprio_set(prio);
        if r < 0 {
            die(1, b"process.ioPriority:", b"ioprio_set", r);
        }
    }
    if let Some(profile) = spec.apparmor {
        apply::apparmor(bytes(profile));
    }
    if let Some(p) = spec.pid_file {
        write_pid_file(p);
    }
    let filter = spec.seccomp.map(|src| match src {
        Source::Path(p) => apply::read_filter_path(p),
        Source::Sent(i) => apply::read_filter_fd(sent_fd(i, sent, b"--seccomp-fd")),
    });
    if let (Some(f), false) = (&filter, spec.nnp) {
        // Without no_new_privs, loading needs CAP_SYS_ADMIN: load before capabilities drop.
        apply::seccomp(f, spec.seccomp_flags);
    }
    if let Some(n) = spec.ngroups {
        let r = sys::setgroups(&spec.groups[..n]);
        if r < 0 {
            die(1, b"setgroups", b"", r);
        }
    }
    if let Some(gid) = spec.gid {
        let r = sys::setgid(gid);
        if r < 0 {
            die(1, b"setgid", b"", r);
        }
    }
    if let Some(caps) = spec.caps {
        apply::drop_bounding(caps[0]);
        // Keep the permitted set across setuid so the spec's sets can be given to any user.
        sys::prctl(sys::Prctl::SetKeepCaps, 1, 0);
    }
    if let Some(uid) = spec.uid {
        let r = sys::setuid(uid);
        if r < 0 {
            die(1, b"setuid", b"", r);
        }
    }
    if let Some(caps) = spec.caps {
        sys::prctl(sys::Prctl::SetKeepCaps, 0, 0);
        apply::capabilities(caps);
    }
    if spec.nnp && sys::no_new_privs() < 0 {
        die(1, b"no_new_privs", b"", 0);
    }
    if let Some(cwd) = spec.cwd {
        let r = sys::chdir(cwd.get());
        if r < 0 {
            die(1, b"chdir", bytes(cwd), r);
        }
    }
    if let (Some(f), true) = (&filter, spec.nnp) {
        // Last, so the filter sees only the exec and what the workload does.
        apply::seccomp(f, spec.seccomp_flags);
    }
    // Signals sent while the init waited (a console's SIGHUP) are not the workload's.
    sys::default_signals();
    sys::drain_signals(!0);
    sys::unblock_all();
    let name = bytes(prog);
    // Failures in runc's words: podman and CRI-O map them to 126 and 127.
    if name.contains(&b'/') {
        let r = sys::execve(prog.get(), argv, &spec.env);
        exec_failed(name, r, false);
    }
    let mut denied = 0;
    let mut buf = PathBuf::new();
    for dir in path_of_env(spec).split(|c| *c == b':') {
        buf.truncate(0);
        let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
        if !(buf.push(dir) && buf.push(b"/") && buf.push(name)) {
            continue;
        }
        let r = sys::execve(buf.c(), argv, &spec.env);
        if r == -sys::EACCES {
            denied = r;
        }
    }
    exec_failed(name, denied, true)
}

fn exec_failed(name: &[u8], errno: isize, searched: bool) -> ! {
    let (code, why): (i32, &[u8]) = match errno {
        0 if searched => (127, b"executable file not found in $PATH"),
        e if e == -sys::ENOENT => (127, b"no such file or directory"),
        e if e == -sys::EACCES => (126, b"permission denied"),
        _ => (126, b"cannot execute"),
    };
    let mut num = [0u8; 20];
    let n = fmt_u64(errno.unsigned_abs() as u64, &mut num);
    if errno != 0 && errno != -sys::ENOENT && errno != -sys::EACCES {
        text::report(
            b"error",
            &[b"exec: \"", name, b"\": ", why, b" (errno ", n, b")"],
        );
    } else {
        text::report(b"error", &[b"exec: \"", name, b"\": ", why]);
    }
    sys::exit(code)
}

pub fn kill(args: &[Option<Arg>]) -> ! {
    let (Some(sig), Some(target)) = (nth(args, 0), nth(args, 1)) else {
        die(1, b"usage: kill SIG PIDFILE|all", b"", 0)
    };
    let sig = num(sig, 10, b"bad signal");
    let pid = if eq(bytes(target), b"all") {
        -1
    } else {
        let mut p = PathBuf::new();
        p.push(bytes(target));
        let fd = sys::open(p.c(), sys::O_RDONLY | sys::O_CLOEXEC, 0);
        if fd < 0 {
            die(1, b"pid file", p.as_bytes(), fd);
        }
        let mut buf = [0u8; 24];
        let n = sys::read(fd as i32, &mut buf);
        sys::close(fd as i32);
        let text = if n > 0 {
            &buf[..n as usize]
        } else {
            &[] as &[u8]
        };
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        parse_u64(text, 10).unwrap_or_else(|| die(1, b"bad pid file", p.as_bytes(), 0)) as isize
    };
    let r = sys::kill(pid, sig as usize);
    if r < 0 {
        die(1, b"kill", bytes(target), r);
    }
    sys::exit(0)
}

pub fn put(args: &[Option<Arg>]) -> ! {
    let (Some(path), Some(mode)) = (nth(args, 0), nth(args, 1)) else {
        die(1, b"usage: put PATH MODE", b"", 0)
    };
    let mode = num(mode, 8, b"bad mode") as u32;
    let path = bytes(path);
    make_parents(path, false);
    let mut tmp = PathBuf::new();
    if !(tmp.push(path) && tmp.push(b".proxmox-lxcri-put")) {
        die(1, b"path too long", b"", 0);
    }
    let fd = sys::open(
        tmp.c(),
        sys::O_WRONLY | sys::O_CREAT | sys::O_TRUNC | sys::O_CLOEXEC,
        mode,
    );
    if fd < 0 {
        die(1, b"open", tmp.as_bytes(), fd);
    }
    let mut buf = [0u8; 16384];
    loop {
        let n = sys::read(0, &mut buf);
        if n == -sys::EINTR || n == -sys::EAGAIN {
            continue;
        }
        if n < 0 {
            die(1, b"read stdin for", path, n);
        }
        if n == 0 {
            break;
        }
        let r = write_all(fd as i32, &buf[..n as usize]);
        if r < 0 {
            die(1, b"write", tmp.as_bytes(), r);
        }
    }
    sys::close(fd as i32);
    let mut dst = PathBuf::new();
    dst.push(path);
    let r = sys::rename(tmp.c(), dst.c());
    if r < 0 {
        die(1, b"rename to", path, r);
    }
    sys::exit(0)
}
