//! A running CT's cgroups on this node, as `lxc-freeze` and Proxmox's hot-plug see them.
//!
//! The CT's cgroup is its init's (`/proc/<init>/cgroup`) without LXC's inner `ns` directory
//! (`lxc.cgroup.dir.container.inner = ns`): limits and the freezer belong to the directory above
//! it, which the CT cannot change from inside: Proxmox's `lxc/<vmid>`, or the caller's
//! `linux.cgroupsPath` (src/mapping/cgroups.rs). A path that is neither LXC's `…/ns` nor ends in the
//! VMID is refused, so a misread never freezes or limits anything but a CT.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::BackendError;
use crate::pve::Vmid;

/// v1 files hold this (PAGE_COUNTER_MAX pages) or more for "no limit".
const V1_UNLIMITED: i64 = 1 << 62;

pub struct CtCgroup {
    /// (controllers, directory) for each v1 hierarchy the CT is in.
    v1: Vec<(Vec<String>, PathBuf)>,
    /// The CT's directory in the unified hierarchy, if mounted.
    v2: Option<PathBuf>,
}

fn io(what: &Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io {
        what: what.display().to_string(),
        source,
    }
}

impl CtCgroup {
    pub fn of(vmid: Vmid, init_pid: i32) -> Result<CtCgroup, BackendError> {
        let proc = PathBuf::from(format!("/proc/{init_pid}/cgroup"));
        let text = std::fs::read_to_string(&proc).map_err(io(&proc))?;
        let mounts = crate::sys::cgroupfs::cgroup_mounts(
            &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        );
        Self::parse(vmid, &text, &mounts)
    }

    fn parse(
        vmid: Vmid,
        proc_cgroup: &str,
        mounts: &[(Vec<String>, PathBuf)],
    ) -> Result<CtCgroup, BackendError> {
        let mut cg = CtCgroup {
            v1: Vec::new(),
            v2: None,
        };
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(mount) = crate::sys::cgroupfs::mount_for(mounts, ctrls) else {
                continue;
            };
            let Some(path) = limit_dir(path, vmid) else {
                continue; // a hierarchy LXC does not place the CT in (e.g. name=systemd)
            };
            let dir = mount.join(path.trim_start_matches('/'));
            if ctrls.is_empty() {
                cg.v2 = Some(dir);
            } else {
                cg.v1
                    .push((ctrls.split(',').map(String::from).collect(), dir));
            }
        }
        if cg.v1.is_empty() && cg.v2.is_none() {
            return Err(BackendError::Other(format!(
                "CT {vmid}: no cgroup of its init names the CT"
            )));
        }
        Ok(cg)
    }

    fn v1_dir(&self, ctrl: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(c, _)| c.iter().any(|x| x == ctrl))
            .map(|(_, d)| d.as_path())
    }

    /// How many processes of the CT the kernel's OOM killer has killed so far (v1
    /// `memory.oom_control`, v2 `memory.events`), if the host reports it.
    pub fn oom_kills(&self) -> Option<u64> {
        let read = |file: &Path| -> Option<u64> {
            let text = std::fs::read_to_string(file).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        };
        match (self.v1_dir("memory"), &self.v2) {
            // v1 counts a kill where the victim was (e.g. LXC's inner `ns`): add up the tree.
            (Some(d), _) => Some(
                subtree(d)
                    .iter()
                    .filter_map(|c| read(&c.join("memory.oom_control")))
                    .sum(),
            ),
            // v2's memory.events is hierarchical already.
            (None, Some(d)) => read(&d.join("memory.events")),
            (None, None) => None,
        }
    }

    /// v1 only: an eventfd the kernel signals when a memory cgroup of the CT's (each directory of
    /// its tree, LXC's inner `ns` among them) runs out of memory (`cgroup.event_control` on
    /// `memory.oom_control`). v1 counts a kill only in the victim's cgroup, which LXC removes as
    /// the CT goes down, possibly before the count is read; the event is not lost that way. v2
    /// counts up the tree (`memory.events`) and needs none.
    pub fn oom_events(&self) -> Option<std::os::fd::OwnedFd> {
        use std::io::Write;
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let top = self.v1_dir("memory")?;
        // SAFETY: eventfd(2) returns a new descriptor or -1; it is owned at once.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return None;
        }
        // SAFETY: efd was just created and nothing else owns it.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut any = false;
        for dir in subtree(top) {
            let Ok(ctl) = std::fs::File::open(dir.join("memory.oom_control")) else {
                continue;
            };
            let line = format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd());
            any |= std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.event_control"))
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .is_ok();
        }
        any.then_some(efd)
    }

    /// Whether [`Self::stats`]'s swap use counts memory too (v1's `memory.memsw.*`, as runc
    /// reports it), not swap alone (v2's `memory.swap.current`).
    pub fn swap_counts_memory(&self) -> bool {
        self.v1_dir("memory").is_some()
    }

    /// The CT's resource use in runc's `events` shape: v1 where the CT has a memory hierarchy
    /// there (cpuacct, cpu, memory, pids, blkio, each from its own mount), else v2.
    pub fn stats(&self) -> crate::ctstats::Stats {
        let read = |dir: &Path, names: &[&str], into: &mut crate::ctstats::Files| {
            for n in names {
                if let Ok(t) = std::fs::read_to_string(dir.join(n)) {
                    into.insert(n.to_string(), t);
                }
            }
        };
        let mut f = crate::ctstats::Files::new();
        if self.v1_dir("memory").is_some() {
            let v1: &[(&str, &[&str])] = &[
                (
                    "cpuacct",
                    &["cpuacct.usage", "cpuacct.usage_percpu", "cpuacct.stat"],
                ),
                ("cpu", &["cpu.stat"]),
                ("pids", &["pids.current", "pids.max"]),
                (
                    "blkio",
                    &[
                        "blkio.throttle.io_service_bytes_recursive",
                        "blkio.throttle.io_serviced_recursive",
                    ],
                ),
            ];
            for (ctrl, names) in v1 {
                if let Some(d) = self.v1_dir(ctrl) {
                    read(d, names, &mut f);
                }
            }
            if let Some(d) = self.v1_dir("memory") {
                let mem: Vec<String> = ["memory", "memory.memsw", "memory.kmem", "memory.kmem.tcp"]
                    .iter()
                    .flat_map(|p| {
                        [
                            "limit_in_bytes",
                            "usage_in_bytes",
                            "max_usage_in_bytes",
                            "failcnt",
                        ]
                        .map(|x| format!("{p}.{x}"))
                    })
                    .chain(["memory.stat".to_string()])
                    .collect();
                read(
                    d,
                    &mem.iter().map(String::as_str).collect::<Vec<_>>(),
                    &mut f,
                );
            }
            return crate::ctstats::from_v1(&f);
        }
        if let Some(d) = &self.v2 {
            let names = [
                "cpu.stat",
                "memory.current",
                "memory.max",
                "memory.peak",
                "memory.events",
                "memory.stat",
                "memory.swap.current",
                "memory.swap.max",
                "memory.swap.peak",
                "pids.current",
                "pids.max",
                "io.stat",
            ];
            read(d, &names, &mut f);
        }
        crate::ctstats::from_v2(&f)
    }

    /// The v1 memory cgroups `oom_events` watches (the CT's and every one below it).
    pub fn memory_dirs(&self) -> Vec<PathBuf> {
        self.v1_dir("memory").map(subtree).unwrap_or_default()
    }

    /// Every process of the CT, in its cgroup and below (LXC's inner `ns`, sub-cgroups). Read
    /// from the freezer's hierarchy where there is one: the shim sits in the CT's cgroup of the
    /// other hierarchies (src/cgroups_path.rs) but is not the CT's.
    pub fn procs(&self) -> Vec<i32> {
        let top = self
            .v1_dir("freezer")
            .or(self.v1.first().map(|(_, d)| d.as_path()))
            .or(self.v2.as_deref());
        let Some(top) = top else { return Vec::new() };
        subtree(top)
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect()
    }

    /// Freeze every process of the CT and wait until the kernel reports it frozen.
    pub fn freeze(&self, timeout: Duration) -> Result<(), BackendError> {
        let res = self.set_frozen(true, timeout);
        if res.is_err() {
            let _ = self.set_frozen(false, timeout);
        }
        res
    }

    pub fn thaw(&self, timeout: Duration) -> Result<(), BackendError> {
        self.set_frozen(false, timeout)
    }

    fn set_frozen(&self, frozen: bool, timeout: Duration) -> Result<(), BackendError> {
        // The v1 freezer where the host has it (as LXC uses it), else cgroup2's cgroup.freeze.
        let (file, value, check, want) = if let Some(d) = self.v1_dir("freezer") {
            let v = if frozen { "FROZEN" } else { "THAWED" };
            (d.join("freezer.state"), v, d.join("freezer.state"), v)
        } else if let Some(d) = &self.v2 {
            let (v, w) = if frozen {
                ("1", "frozen 1")
            } else {
                ("0", "frozen 0")
            };
            (d.join("cgroup.freeze"), v, d.join("cgroup.events"), w)
        } else {
            return Err(BackendError::Other("no freezer for the CT's cgroup".into()));
        };
        let deadline = Instant::now() + timeout;
        let mut last_write = Instant::now() - Duration::from_secs(1);
        let mut written = false;
        loop {
            // Thawed, the workload may exit at once and the CT go down with its cgroup: gone
            // after our write is as thawed as it gets.
            if written && !frozen && !check.exists() {
                return Ok(());
            }
            // v1 can stay FREEZING while tasks are in the middle of a fork: write again.
            if last_write.elapsed() >= Duration::from_millis(100) {
                match std::fs::write(&file, value) {
                    Err(_) if written && !frozen && !file.exists() => return Ok(()),
                    r => r.map_err(io(&file))?,
                }
                last_write = Instant::now();
                written = true;
            }
            let now = match std::fs::read_to_string(&check) {
                Err(_) if written && !frozen && !check.exists() => return Ok(()),
                r => r.map_err(io(&check))?,
            };
            if now.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BackendError::Other(format!(
                    "{}: still {:?} after {} s",
                    check.display(),
                    now.trim(),
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Write raw `lxc.cgroup2.*` values to the running CT: as they are on cgroup v2, translated
    /// where the controller is on v1. Returns a note for each key that has no live equivalent.
    pub fn apply_raw(&self, keys: &[(String, String)]) -> Result<Vec<String>, BackendError> {
        let mut notes = Vec::new();
        let mut memory = V1Memory::default();
        for (key, value) in keys {
            let Some(file) = key.strip_prefix("lxc.cgroup2.") else {
                continue;
            };
            let ctrl = file.split('.').next().unwrap_or_default();
            let Some(dir) = self.v1_dir(ctrl) else {
                match &self.v2 {
                    Some(d) if d.join(file).exists() => write(&d.join(file), value)?,
                    _ => notes.push(format!("{key}: no such cgroup file for the running CT")),
                }
                continue;
            };
            match file {
                "pids.max" => write(&dir.join(file), value)?,
                "cpuset.cpus" | "cpuset.mems" => write_subtree(dir, file, value)?,
                "memory.max" => memory.limit = Some(v1_bytes(value, key)?),
                "memory.swap.max" => memory.swap = Some(v1_bytes(value, key)?),
                "memory.high" => write(
                    &dir.join("memory.soft_limit_in_bytes"),
                    &v1_bytes(value, key)?.to_string(),
                )?,
                _ => notes.push(format!(
                    "{key}: no cgroup v1 equivalent; effective from the next start"
                )),
            }
        }
        if let Some(dir) = self.v1_dir("memory") {
            memory.apply(dir)?;
        }
        Ok(notes)
    }
}

/// The CT's limit directory for the init's cgroup `path`: the parent of LXC's inner `ns`, or the
/// path itself without it. In Proxmox's own trees it must name this CT (`lxc/<vmid>`); elsewhere
/// only LXC's `ns` below a caller's path (src/mapping/cgroups.rs) is taken.
fn limit_dir(path: &str, vmid: Vmid) -> Option<&str> {
    let (dir, in_ns) = match path.strip_suffix("/ns") {
        Some(d) => (d, true),
        None => (path, false),
    };
    let names_vmid = Path::new(dir).file_name().and_then(|n| n.to_str()) == Some(&vmid.to_string());
    let proxmox_tree = ["/lxc/", "/lxc.monitor/"]
        .iter()
        .any(|t| dir.starts_with(t));
    let ok = names_vmid || (in_ns && !dir.is_empty() && !proxmox_tree);
    ok.then_some(dir)
}

fn write(path: &Path, value: &str) -> Result<(), BackendError> {
    std::fs::write(path, value).map_err(io(path))
}

/// `max` as v1's -1, else a byte count.
fn v1_bytes(value: &str, key: &str) -> Result<i64, BackendError> {
    if value == "max" {
        return Ok(-1);
    }
    value
        .parse()
        .map_err(|_| BackendError::Other(format!("{key}: not a byte count: {value}")))
}

/// v1 cpusets: a child's set must stay within its parent's. Shrinking works leaves first,
/// growing root first; try the first and fall back to the second.
fn write_subtree(dir: &Path, file: &str, value: &str) -> Result<(), BackendError> {
    let dirs = subtree(dir);
    let leaves_first = dirs
        .iter()
        .rev()
        .try_for_each(|d| write(&d.join(file), value));
    if leaves_first.is_ok() {
        return Ok(());
    }
    dirs.iter().try_for_each(|d| write(&d.join(file), value))
}

/// v1 memory: `memory.max` is `limit_in_bytes`, and v2's swap-only `memory.swap.max` becomes
/// `memsw.limit_in_bytes` = limit + swap, which must never drop below the limit.
#[derive(Default)]
struct V1Memory {
    limit: Option<i64>,
    swap: Option<i64>,
}

impl V1Memory {
    fn apply(&self, dir: &Path) -> Result<(), BackendError> {
        if self.limit.is_none() && self.swap.is_none() {
            return Ok(());
        }
        let read = |f: &str| -> Option<i64> {
            let v: i64 = std::fs::read_to_string(dir.join(f))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some(if v >= V1_UNLIMITED { -1 } else { v })
        };
        let cur_limit = read("memory.limit_in_bytes").unwrap_or(-1);
        let cur_memsw = read("memory.memsw.limit_in_bytes");
        let limit = self.limit.unwrap_or(cur_limit);
        let memsw = match (self.swap, cur_memsw) {
            // No swap accounting on this host: there is nothing to write.
            (_, None) => None,
            (Some(-1), _) => Some(-1),
            (Some(s), _) if limit >= 0 => Some(limit + s),
            (Some(_), _) => Some(-1),
            // The limit changes, the swap allowance stays.
            (None, Some(-1)) => None,
            (None, Some(m)) if cur_limit >= 0 && limit >= 0 => Some(limit + (m - cur_limit)),
            (None, Some(_)) => Some(-1),
        };
        let steps = [
            ("memory.limit_in_bytes", self.limit.map(|_| limit)),
            ("memory.memsw.limit_in_bytes", memsw),
        ];
        let grows = |new: i64, old: i64| new < 0 || (old >= 0 && new > old);
        // memsw >= limit at every step: raise memsw first, lower the limit first.
        let order: Vec<_> = if grows(limit, cur_limit) {
            steps.iter().rev().collect()
        } else {
            steps.iter().collect()
        };
        for (file, v) in order {
            if let Some(v) = v {
                write(&dir.join(file), &v.to_string())?;
            }
        }
        Ok(())
    }
}

/// `dir` and every cgroup below it, parents before children.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < dirs.len() {
        if let Ok(rd) = std::fs::read_dir(&dirs[i]) {
            dirs.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        i += 1;
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 25 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 25 0:29 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
34 25 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
35 25 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn ct_cgroup_is_the_init_one_without_ns() {
        let vmid = Vmid::new(200100).unwrap();
        let mounts = crate::sys::cgroupfs::cgroup_mounts(MOUNTS);
        let proc = "5:freezer:/lxc/200100/ns\n4:memory:/lxc/200100/ns\n3:cpu:/lxc/200100/ns\n\
                    2:name=systemd:/\n0::/lxc/200100/ns\n";
        let cg = CtCgroup::parse(vmid, proc, &mounts).unwrap();
        assert_eq!(
            cg.v1_dir("freezer"),
            Some(Path::new("/sys/fs/cgroup/freezer/lxc/200100"))
        );
        assert_eq!(
            cg.v1_dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/lxc/200100"))
        );
        assert_eq!(cg.v1_dir("name=systemd"), None, "not the CT's");
        assert_eq!(
            cg.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/lxc/200100"))
        );
        let other = "4:memory:/lxc/300/ns\n0::/user.slice\n";
        assert!(CtCgroup::parse(vmid, other, &mounts).is_err());
    }

    #[test]
    fn ct_cgroup_at_the_callers_path() {
        let vmid = Vmid::new(200100).unwrap();
        let mounts = crate::sys::cgroupfs::cgroup_mounts(MOUNTS);
        let proc = "5:freezer:/kubepods/pod1/crio-x/ns\n4:memory:/kubepods/pod1/crio-x/ns\n\
                    2:name=systemd:/\n0::/kubepods/pod1/crio-x/ns\n";
        let cg = CtCgroup::parse(vmid, proc, &mounts).unwrap();
        assert_eq!(
            cg.v1_dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/kubepods/pod1/crio-x"))
        );
        assert_eq!(
            cg.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/kubepods/pod1/crio-x"))
        );
        assert!(CtCgroup::parse(vmid, "0::/ns\n4:memory:/x/y\n", &mounts).is_err());
    }

    #[test]
    fn v1_memory_keeps_memsw_above_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let set = |l: &str, m: &str| {
            std::fs::write(d.path().join("memory.limit_in_bytes"), l).unwrap();
            std::fs::write(d.path().join("memory.memsw.limit_in_bytes"), m).unwrap();
        };
        let get = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
        set("268435456", "536870912");
        V1Memory {
            limit: Some(1 << 29),
            swap: None,
        }
        .apply(d.path())
        .unwrap();
        assert_eq!(get("memory.limit_in_bytes"), (1i64 << 29).to_string());
        assert_eq!(
            get("memory.memsw.limit_in_bytes"),
            ((1i64 << 29) + (1 << 28)).to_string(),
            "the swap allowance is kept"
        );
        V1Memory {
            limit: None,
            swap: Some(-1),
        }
        .apply(d.path())
        .unwrap();
        assert_eq!(get("memory.memsw.limit_in_bytes"), "-1");
        assert_eq!(v1_bytes("max", "k").unwrap(), -1);
        assert!(v1_bytes("1k", "k").is_err());
    }
}
