//! Destroys that finish after `delete` returned. A CT whose pid 1 (the workload) has exited is
//! still on its way down for a while: LXC runs its post-stop hooks (lxcfs's alone sleeps half a
//! second) before its command socket closes, and `pct destroy` waits for that (pve-container
//! src/PVE/LXC.pm, `vm_stop`). `delete` need not: it records the CT in `<root>/.pending/<vmid>`,
//! removes the container's state and leaves the destroy to a detached process that waits for the
//! CT to be down. That process holds a lock on the record while it lives; `create`, `delete`,
//! `list` and `gc` sweep records nobody holds (a destroyer that was killed), so nothing is left
//! behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend;
use crate::pve::Vmid;
use crate::state::State;

const DIR: &str = ".pending";
/// LXC's teardown takes about half a second; a CT that is not down by then has a problem that
/// the sweep will meet again.
const DOWN_TIMEOUT: Duration = Duration::from_secs(60);

fn dir(root: &Path) -> PathBuf {
    root.join(DIR)
}

/// Whether the local CT of `st` is still going down after its pid 1 exited: its init is gone
/// but LXC's monitor, which holds the command socket Proxmox takes for "running", still runs.
pub fn going_down(st: &State) -> bool {
    let Some(init) = st.init_pid else {
        return false;
    };
    let init_gone = st
        .workload
        .filter(|w| w.pid == init)
        .is_some_and(|w| !w.is_alive());
    init_gone && st.monitor.is_some_and(|m| m.is_alive())
}

/// Record CT `vmid` and destroy it in a detached process once it is down.
pub fn destroy_later(root: &Path, st: &State, vmid: Vmid) -> anyhow::Result<()> {
    let d = dir(root);
    std::fs::create_dir_all(&d)?;
    let path = d.join(vmid.to_string());
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)?;
    let _ = crate::sys::fs::flock(&file, false);
    serde_json::to_writer(&file, st)?;
    let st = st.clone();
    crate::sys::fork::daemonize(move || {
        // Nothing of the caller's may stay open here: podman reads `delete`'s output to its end.
        if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
            for fd in 0..3 {
                let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
            }
        }
        let keep: Vec<i32> = std::iter::once(file.as_raw_fd())
            .chain(crate::logging::fd())
            .collect();
        crate::sys::fork::close_other_fds(3, &keep);
        if let Some(m) = st.monitor {
            m.wait_gone(DOWN_TIMEOUT);
        }
        match finish(&st, vmid, None) {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                0
            }
            Err(e) => {
                log::error!("{}: destroying CT {vmid}: {e}", st.id);
                1
            }
        }
    })?;
    Ok(())
}

/// Destroy CT `vmid`, or with `holder` make it the holder of its kept volumes.
fn finish(st: &State, vmid: Vmid, holder: Option<&str>) -> Result<(), backend::BackendError> {
    let backend = backend::from_config(&st.config);
    if backend.is_ours(vmid, &st.id)? {
        match holder {
            Some(text) => backend.hold(vmid, text)?,
            None => backend.destroy(vmid)?,
        }
    }
    // The CT's own cgroup at `linux.cgroupsPath`, empty once the CT is down.
    if let Some(cp) = &st.cgroups_path {
        crate::cgroups_path::remove(cp);
    }
    Ok(())
}

/// Finish the destroys whose process is gone (killed, or the node failed it); each failure is
/// a warning, and the record stays for the next sweep.
pub fn sweep(root: &Path) {
    for s in sweep_some(root, false, true) {
        if let Err(e) = s.result {
            log::warn!("{}: destroying CT {} left by delete: {e}", s.id, s.vmid);
        }
    }
}

/// A record nobody was working on, and what became of it.
pub struct Swept {
    pub vmid: Vmid,
    pub id: String,
    /// Made the holder of its kept volumes rather than destroyed.
    pub held: bool,
    pub result: Result<(), String>,
}

/// The VMIDs that have a record, worked on or not: `gc` leaves their CTs to the records.
pub fn recorded(root: &Path) -> Vec<Vmid> {
    let Ok(entries) = std::fs::read_dir(dir(root)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| record_vmid(&e.path()))
        .collect()
}

fn record_vmid(path: &Path) -> Option<Vmid> {
    let n = path.file_name()?.to_str()?.parse::<u32>().ok()?;
    Vmid::new(n).ok()
}

/// Finish every record whose destroyer is gone; with `dry_run` only say which (the record's
/// lock is taken and let go, so a record being worked is never listed).
pub fn sweep_records(root: &Path, dry_run: bool) -> Vec<Swept> {
    sweep_some(root, dry_run, false)
}

/// Record CT `vmid` of a container whose node failed, for `gc` to destroy once the node is
/// back (or, with `holder`, to stop and describe as the holder of its kept volumes): no process
/// waits for it, and only `gc` tries it (`sweep` leaves it while the node is marked lost, so
/// `create`, `delete` and `list` never wait for that node).
pub fn finish_when_back(
    root: &Path,
    st: &State,
    vmid: Vmid,
    holder: Option<&str>,
) -> anyhow::Result<()> {
    let d = dir(root);
    std::fs::create_dir_all(&d)?;
    // The holder's description first: a record is finished as soon as it exists.
    if let Some(text) = holder {
        crate::sys::fs::write_atomic(&holder_path(&d, vmid), text.as_bytes(), 0o600)?;
    }
    let json = serde_json::to_vec(st)?;
    crate::sys::fs::write_atomic(&d.join(vmid.to_string()), &json, 0o600)?;
    Ok(())
}

/// Beside a record: the description that makes its CT a holder instead of destroying it.
fn holder_path(d: &Path, vmid: Vmid) -> PathBuf {
    d.join(format!("{vmid}.holder"))
}

/// `sweep_records`; with `skip_lost`, records whose node is marked lost stay untouched.
fn sweep_some(root: &Path, dry_run: bool, skip_lost: bool) -> Vec<Swept> {
    let Ok(entries) = std::fs::read_dir(dir(root)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(vmid) = record_vmid(&path) else {
            continue;
        };
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
        else {
            continue;
        };
        if crate::sys::fs::flock(&file, true).is_err() {
            continue; // its destroyer still runs
        }
        let st: State = match serde_json::from_reader(&file) {
            Ok(st) => st,
            Err(e) => {
                log::warn!("{}: {e}", path.display());
                continue;
            }
        };
        if skip_lost && backend::node_health::is_lost(root, &st.config.node_name()) {
            continue;
        }
        let holder_file = holder_path(&dir(root), vmid);
        let holder = std::fs::read_to_string(&holder_file).ok();
        let result = if dry_run {
            Ok(())
        } else {
            finish(&st, vmid, holder.as_deref()).map_err(|e| e.to_string())
        };
        if result.is_ok() && !dry_run {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&holder_file);
        }
        out.push(Swept {
            vmid,
            id: st.id,
            held: holder.is_some(),
            result,
        });
    }
    out
}
