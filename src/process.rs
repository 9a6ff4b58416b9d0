//! Turning the forked workload into `config.json`'s `process`: rlimits, oom score, session,
//! groups, user, capabilities, no_new_privs, cwd, environment, then exec. Runs after the CT's
//! namespaces were joined, so paths resolve inside the CT.

use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, Process};

use crate::sys::fork::{cloexec_from, cstring};

/// What the shim needs to run a process inside a CT.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host pid of the CT's init.
    pub init_pid: i32,
    /// Namespace files that replace the CT's own, keyed by the names in `ORDER`.
    pub ns_paths: BTreeMap<String, PathBuf>,
    /// Extra fds (3 ..) the workload inherits.
    pub preserve_fds: u32,
    /// Remount the CT's `/` read-only before the workload runs (`root.readonly`).
    pub readonly_root: bool,
    /// Sysctls no CT key carries, written in the joined namespaces (`linux.sysctl`).
    pub sysctls: BTreeMap<String, String>,
    /// The workload's filter (`linux.seccomp`).
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The pty slave that becomes the workload's terminal (`process.terminal`).
    pub console: Option<std::os::fd::RawFd>,
    /// Start a new session (the container's process). An exec'd process stays in its shim's
    /// process group instead, so that conmon's group kill on an exec timeout reaches all of it.
    pub new_session: bool,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Apply `process` to the calling process and exec it. Returns only on failure, with the message
/// the caller reports (runc's wording where callers match on it).
pub fn exec_workload(process: &Process, target: &Target) -> String {
    match prepare(process, target) {
        Ok((prog, argv, envp)) => {
            let err = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
            let name = argv
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            match err {
                nix::Error::ENOENT => format!("exec: \"{name}\": no such file or directory"),
                nix::Error::EACCES => format!("exec: \"{name}\": permission denied"),
                e => format!("exec: \"{name}\": {}", e.desc()),
            }
        }
        Err(msg) => msg,
    }
}

type Exec = (CString, Vec<CString>, Vec<CString>);

fn prepare(process: &Process, target: &Target) -> Result<Exec, String> {
    reset_signals();
    if target.new_session || target.console.is_some() {
        let _ = nix::unistd::setsid();
    }
    if let Some(fd) = target.console {
        if let Some(size) = process.console_size() {
            crate::sys::tty::set_size(fd, size.height() as u16, size.width() as u16);
        }
        crate::console::become_ctty(fd)?;
    }
    if target.readonly_root {
        use nix::mount::{mount, MsFlags};
        // Keep the flags the mount has (a remount would drop nosuid/nodev/noexec, and locked
        // ones may not be dropped at all).
        let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        if let Ok(st) = nix::sys::statvfs::statvfs("/") {
            use nix::sys::statvfs::FsFlags;
            for (have, want) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if st.flags().contains(have) {
                    flags |= want;
                }
            }
        }
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(|e| format!("root.readonly: remount /: {e}"))?;
    }
    for rl in process.rlimits().iter().flatten() {
        set_rlimit(rl.typ() as i32, rl.soft(), rl.hard());
    }
    if let Some(adj) = process.oom_score_adj() {
        if let Err(e) = std::fs::write("/proc/self/oom_score_adj", adj.to_string()) {
            // Needs CAP_SYS_RESOURCE for negative values; a Proxmox node as root has it.
            log::warn!("process.oomScoreAdj {adj} not applied: {e}");
        }
    }
    if let Some(mask) = process.user().umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if let Some(io) = process.io_priority() {
        set_io_priority(io)?;
    }
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        // Takes effect at exec, like runc's; `create` checked that it can be applied.
        crate::apparmor::set_exec_profile(profile)?;
    }
    let nnp = process.no_new_privileges() == Some(true);
    if let (Some(profile), false) = (&target.seccomp, nnp) {
        // Without no_new_privs, loading needs CAP_SYS_ADMIN: load before capabilities drop.
        crate::seccomp::load(profile)?;
    }
    let user = process.user();
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids)
        .map_err(|e| format!("process.user.additionalGids: setgroups: {e}"))?;
    nix::unistd::setgid(Gid::from_raw(user.gid()))
        .map_err(|e| format!("process.user.gid {}: {e}", user.gid()))?;
    if let Some(c) = process.capabilities() {
        drop_bounding(c)?;
    }
    // Keep the permitted set across setuid so the spec's capabilities can be set for any user.
    let _ = caps::securebits::set_keepcaps(true);
    nix::unistd::setuid(Uid::from_raw(user.uid()))
        .map_err(|e| format!("process.user.uid {}: {e}", user.uid()))?;
    let _ = caps::securebits::set_keepcaps(false);
    if let Some(c) = process.capabilities() {
        set_caps(c)?;
    }
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("process.noNewPrivileges: {e}"))?;
    }
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let cwd = process.cwd();
    if std::env::set_current_dir(cwd).is_err() {
        // runc creates a missing working directory; so do we.
        std::fs::create_dir_all(cwd)
            .and_then(|_| std::env::set_current_dir(cwd))
            .map_err(|e| format!("process.cwd {}: {e}", cwd.display()))?;
    }
    let args = process.args().clone().unwrap_or_default();
    let first = args.first().ok_or("process.args is empty")?;
    let prog = resolve(first, &env)?;
    cloexec_from(3 + target.preserve_fds);
    // Dies with its shim: a SIGKILLed shim (conmon's exec timeout, `kill KILL` of a stuck shim)
    // must not leave the process running in the CT. Set last: a credential change clears it.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    // A shim killed before that sends nothing: the process, in the CT's pid namespace, sees its
    // parent outside as pid 0 while it lives, and the CT's pid 1 once it is gone.
    if nix::unistd::getppid().as_raw() != 0 {
        return Err("exec: the process that started it is gone".into());
    }
    if let (Some(profile), true) = (&target.seccomp, nnp) {
        // Last, so the filter sees only the exec and what the workload does.
        crate::seccomp::load(profile)?;
    }
    let argv = args.iter().map(|a| cstring(a)).collect();
    let envp = env.iter().map(|e| cstring(e)).collect();
    Ok((cstring(&prog.to_string_lossy()), argv, envp))
}

fn set_io_priority(io: &oci_spec::runtime::LinuxIOPriority) -> Result<(), String> {
    use oci_spec::runtime::IOPriorityClass;
    let class = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    let prio = (class << 13) | io.priority();
    // SAFETY: integer arguments only.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) } != 0 {
        return Err(format!(
            "process.ioPriority: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The shim blocks signals it relays; the workload starts with none blocked and default handlers.
fn reset_signals() {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in Signal::iterator() {
        if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            // SAFETY: SIG_DFL installs no handler, so no code of ours can run on a signal.
            let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
        }
    }
}

fn set_rlimit(resource: i32, soft: u64, hard: u64) {
    let want = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the rlimit `want`.
    if unsafe { libc::setrlimit(resource as _, &want) } == 0 {
        return;
    }
    // Raising a hard limit needs CAP_SYS_RESOURCE; degrade to what we may set and say so.
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `cur`.
    unsafe { libc::getrlimit(resource as _, &mut cur) };
    let capped = libc::rlimit {
        rlim_cur: soft.min(cur.rlim_max),
        rlim_max: hard.min(cur.rlim_max),
    };
    // SAFETY: setrlimit reads the rlimit `capped`.
    let ok = unsafe { libc::setrlimit(resource as _, &capped) } == 0;
    log::warn!("process.rlimits: resource {resource} {soft}:{hard} above the hard limit, capped to {}:{} ({})",
        capped.rlim_cur, capped.rlim_max, if ok { "applied" } else { "not applied" });
}

fn cap_set(
    names: &Option<HashSet<oci_spec::runtime::Capability>>,
) -> Result<HashSet<Capability>, String> {
    let mut out = HashSet::new();
    for c in names.iter().flatten() {
        let name = format!("CAP_{}", c.to_string().trim_start_matches("CAP_"));
        match name.parse::<Capability>() {
            Ok(cap) => {
                out.insert(cap);
            }
            Err(_) => log::warn!("process.capabilities: unknown capability {name}"),
        }
    }
    Ok(out)
}

fn drop_bounding(c: &LinuxCapabilities) -> Result<(), String> {
    let keep = cap_set(c.bounding())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| format!("process.capabilities.bounding: drop {cap}: {e}"))?;
        }
    }
    Ok(())
}

fn set_caps(c: &LinuxCapabilities) -> Result<(), String> {
    let permitted = cap_set(c.permitted())?;
    let effective = cap_set(c.effective())?;
    let inheritable = cap_set(c.inheritable())?;
    let ambient = cap_set(c.ambient())?;
    // Order matters to capset(2): inheritable while permitted is still full, effective before it
    // must fit into the reduced permitted set, ambient last (it needs both).
    caps::set(None, CapSet::Inheritable, &inheritable)
        .map_err(|e| format!("process.capabilities.inheritable: {e}"))?;
    caps::set(None, CapSet::Effective, &effective)
        .map_err(|e| format!("process.capabilities.effective: {e}"))?;
    caps::set(None, CapSet::Permitted, &permitted)
        .map_err(|e| format!("process.capabilities.permitted: {e}"))?;
    for cap in ambient {
        // Raising needs the capability in permitted and inheritable; like runc, a spec that asks
        // for more only gets what the kernel allows.
        if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
            log::debug!("process.capabilities.ambient: {cap}: {e}");
        }
    }
    Ok(())
}

/// `args[0]` as execve needs it: a path is used as is, a bare name is searched in the process's PATH.
fn resolve(arg0: &str, env: &[String]) -> Result<PathBuf, String> {
    if arg0.contains('/') {
        return Ok(PathBuf::from(arg0));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(arg0))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| format!("exec: \"{arg0}\": executable file not found in $PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_searched_in_the_process_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(resolve("sh", &env).unwrap(), PathBuf::from("/bin/sh"));
        assert_eq!(resolve("/x/y", &env).unwrap(), PathBuf::from("/x/y"));
        let e = resolve("no-such-program-xyz", &env).unwrap_err();
        assert_eq!(
            e,
            "exec: \"no-such-program-xyz\": executable file not found in $PATH"
        );
    }
}
