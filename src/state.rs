//! Per-container state under `<root>/<id>/`: `state.json` written atomically (temp + rename), a
//! `lock` file taken with flock by every command that changes the container (CRI-O runs `state`,
//! `kill` and `delete` concurrently), and the shim's pid with its `/proc/<pid>/stat` start time so
//! that a reused pid is never mistaken for our shim. `state` reads without the lock: the rename
//! makes every read see a whole file.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pve::Vmid;
use crate::sys::fs::{flock, write_atomic};
use crate::sys::proc::proc_stat;

const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";
/// Longest accepted container ID; keeps `<root>/<id>/shim.sock` within sun_path for sane roots.
pub const MAX_ID_LEN: usize = 64 + 32;

/// The container's config.json as `create` read it, in the state dir: later edits to the bundle
/// must not matter.
pub const SPEC_COPY: &str = "config.json";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist: {0}")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory under the state root that holds what the runtime knows of nodes (their
/// versions); not a container, so no container may have its name.
pub const NODES_DIR: &str = ".nodes";

/// IDs become path components: no separators, no dot names, bounded length.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| Err(StateError::InvalidId(id.to_string(), why));
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("too long");
    }
    let reserved = [
        ".",
        "..",
        NODES_DIR,
        crate::opstats::FILE,
        crate::opstats::LOCK,
    ];
    if reserved.contains(&id) {
        return bad("reserved name");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

/// A process we started, identified by pid and kernel start time (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcRef {
    pub fn of(pid: i32) -> Option<ProcRef> {
        let (_, start_time) = proc_stat(pid)?;
        Some(ProcRef { pid, start_time })
    }

    /// Wait until the process is gone (or a zombie); false if it still runs after `timeout`.
    pub fn wait_gone(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.is_alive() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        true
    }

    /// Alive and still the same process: not gone, not a zombie, not a reused pid.
    pub fn is_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((st, t)) if t == self.start_time && st != 'Z' && st != 'X')
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub oci_version: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Set before the CT is created, so that a half-done create can be cleaned up.
    pub vmid: Option<Vmid>,
    pub shim: Option<ProcRef>,
    pub workload: Option<ProcRef>,
    /// Host pid of the CT's init.
    pub init_pid: Option<i32>,
    /// LXC's monitor of the CT (`lxc-start`, the init's parent): alive while the CT is up or
    /// still going down.
    #[serde(default)]
    pub monitor: Option<ProcRef>,
    pub started: bool,
    /// The CT's cgroup is frozen by `pause`; set and cleared under the container lock.
    #[serde(default)]
    pub paused: bool,
    /// `linux.cgroupsPath` the shim was put in, removed again by `delete`.
    #[serde(default)]
    pub cgroups_path: Option<String>,
    /// The template a CT on another node was created from (kept by `images --prune` while used).
    #[serde(default)]
    pub template: Option<String>,
    /// Times the shim started the workload again on another node (HA recovery, restart
    /// migration; src/follow.rs), for `proxmox_lxcri_container_restarts_total`.
    #[serde(default)]
    pub restarts: u64,
    /// The configuration the container was created with: later commands drive the same node
    /// even when callers pass no flags (podman's exit command drops `--runtime-flag`).
    pub config: crate::config::Config,
}

impl State {
    /// A started container whose shim is gone (stopped), for unit tests.
    #[cfg(test)]
    pub(crate) fn stopped_for_tests(id: &str, vmid: Option<Vmid>) -> State {
        State {
            id: id.into(),
            oci_version: "1.0.2".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-02T00:00:00Z".into(),
            annotations: BTreeMap::new(),
            vmid,
            // No process has this pid.
            shim: Some(ProcRef {
                pid: i32::MAX,
                start_time: 1,
            }),
            workload: None,
            init_pid: None,
            monitor: None,
            started: true,
            paused: false,
            cgroups_path: None,
            template: None,
            restarts: 0,
            config: Default::default(),
        }
    }

    pub fn status(&self) -> Status {
        match self.shim {
            None => Status::Creating,
            Some(shim) if shim.is_alive() => {
                if self.paused {
                    Status::Paused
                } else if self.started {
                    Status::Running
                } else {
                    Status::Created
                }
            }
            Some(_) => Status::Stopped,
        }
    }

    /// The pid callers see: the shim's while it lives, 0 once stopped.
    pub fn pid(&self) -> i32 {
        match (self.status(), self.shim) {
            (Status::Created | Status::Running | Status::Paused, Some(s)) => s.pid,
            _ => 0,
        }
    }
}

/// One container's directory under the root.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
}

/// Holds the container's flock until dropped.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

impl ContainerDir {
    pub fn new(root: &Path, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        Ok(ContainerDir {
            id: id.to_string(),
            path: root.join(id),
        })
    }

    /// Make the directory; fails if the ID is taken.
    pub fn create(&self) -> Result<Lock, StateError> {
        let root = self.path.parent().unwrap_or(Path::new("/"));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(io_err(root))?;
        match fs::DirBuilder::new().mode(0o711).create(&self.path) {
            Ok(()) => self.open_lock(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(self.id.clone()))
            }
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }

    /// Take the container's lock; the directory must exist (and still exist once locked).
    pub fn lock(&self) -> Result<Lock, StateError> {
        self.open_lock(false)
    }

    /// The container's lock if nobody holds it: `None` while a command (a `create` in progress)
    /// works on the container. `NotFound` when there is no lock file.
    pub fn try_lock(&self) -> Result<Option<Lock>, StateError> {
        let (path, file) = self.lock_file(false)?;
        match flock(&file, true) {
            Ok(()) if self.path.is_dir() => Ok(Some(Lock(file))),
            Ok(()) => Err(StateError::NotFound(self.id.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The lock file, made only by `create` (`create`).
    fn lock_file(&self, create: bool) -> Result<(PathBuf, File), StateError> {
        let path = self.path.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(create)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StateError::NotFound(self.id.clone()),
                _ => io_err(&path)(e),
            })?;
        Ok((path, file))
    }

    /// Only `create` makes the lock file: a command opening it while `delete` removes the
    /// directory must not bring a file back into it.
    fn open_lock(&self, create: bool) -> Result<Lock, StateError> {
        let (path, file) = self.lock_file(create)?;
        flock(&file, false).map_err(io_err(&path))?;
        // A concurrent delete may have removed the directory while we waited.
        if !self.path.is_dir() {
            return Err(StateError::NotFound(self.id.clone()));
        }
        Ok(Lock(file))
    }

    pub fn load(&self) -> Result<State, StateError> {
        let path = self.path.join(STATE_FILE);
        let text = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StateError::NotFound(self.id.clone()),
            _ => io_err(&path)(e),
        })?;
        serde_json::from_slice(&text).map_err(|source| StateError::Json { path, source })
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let data = serde_json::to_vec(state).map_err(|source| StateError::Json {
            path: self.path.clone(),
            source,
        })?;
        let path = self.path.join(STATE_FILE);
        write_atomic(&path, &data, 0o600).map_err(io_err(&path))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&self.path)(e)),
            _ => Ok(()),
        }
    }
}

/// All container IDs under the root, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(root)(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// The OCI state document: no CRI-O-internal keys, RFC 3339 `created` (CRI-O decodes it over its
/// own record, internal/oci/container.go; docs/callers.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: String,
    pub pid: i32,
    pub bundle: &'a std::path::Path,
    pub rootfs: &'a std::path::Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: &'a std::collections::BTreeMap<String, String>,
}

impl<'a> OciState<'a> {
    pub fn of(st: &'a State) -> OciState<'a> {
        OciState {
            oci_version: &st.oci_version,
            id: &st.id,
            status: st.status().to_string(),
            pid: st.pid(),
            bundle: &st.bundle,
            rootfs: &st.rootfs,
            created: &st.created,
            owner: "",
            annotations: &st.annotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_would_escape_the_root_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            ".nodes",
            ".opstats.json",
            ".opstats.lock",
            "a/b",
            "../x",
            "a b",
            "x\0",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["abc", "0123456789abcdef", "my_ctr-1.2+x", &"f".repeat(64)] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcRef::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert!(!ProcRef {
            start_time: me.start_time + 1,
            ..me
        }
        .is_alive());
        assert!(!ProcRef {
            pid: i32::MAX,
            start_time: 0
        }
        .is_alive());
    }

    #[test]
    fn create_twice_fails_and_state_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let dir = ContainerDir::new(root.path(), "c1").unwrap();
        let lock = dir.create().unwrap();
        assert!(matches!(dir.create(), Err(StateError::Exists(_))));
        assert!(matches!(dir.load(), Err(StateError::NotFound(_))));
        let st = State {
            id: "c1".into(),
            oci_version: "1.0.2".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            annotations: BTreeMap::new(),
            vmid: Some(Vmid::new(100).unwrap()),
            shim: ProcRef::of(std::process::id() as i32),
            workload: None,
            init_pid: None,
            monitor: None,
            started: false,
            paused: false,
            cgroups_path: None,
            template: None,
            restarts: 0,
            config: Default::default(),
        };
        dir.save(&st).unwrap();
        drop(lock);
        let back = dir.load().unwrap();
        assert_eq!(back.status(), Status::Created);
        assert_eq!(back.pid(), std::process::id() as i32);
        let paused = State {
            started: true,
            paused: true,
            cgroups_path: None,
            ..back.clone()
        };
        assert_eq!(
            (paused.status(), paused.pid()),
            (Status::Paused, back.pid())
        );
        assert_eq!(list_ids(root.path()).unwrap(), ["c1"]);
        // A state written before `paused` existed reads as not paused.
        let mut v = serde_json::to_value(&back).unwrap();
        v.as_object_mut().unwrap().remove("paused");
        assert!(!serde_json::from_value::<State>(v).unwrap().paused);
        dir.remove().unwrap();
        assert!(matches!(dir.lock(), Err(StateError::NotFound(_))));
    }

    #[test]
    fn dead_shim_means_stopped_with_pid_zero() {
        let st = State {
            paused: true,
            ..State::stopped_for_tests("x", None)
        };
        assert_eq!((st.status(), st.pid()), (Status::Stopped, 0));
    }
}
