//! `events [--stats] [--interval D] ID`: runc's JSON lines of type `stats` (every interval, or
//! once with `--stats`) and `oom`, until the container stops.
//!
//! A CT on this node is read directly: its cgroup (`CtCgroup::stats`) and its init's network
//! namespace (`/proc/<init>/net/dev`); OOM kills come from the v1 memory cgroups' eventfd or the
//! v2 `oom_kill` count. A CT on another node is what Proxmox reports in `status/current`
//! (`ctstats::from_pve_status`; no OOM events: Proxmox reports none).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::{out, Ctx};
use crate::backend::cgroup::CtCgroup;
use crate::backend::Backend;
use crate::cli::EventsArgs;
use crate::ctstats::{self, Event, Stats};
use crate::pve::Vmid;
use crate::state::{ContainerDir, Status};

/// How often the loop looks whether the container still runs, between stats.
const CHECK_EVERY: Duration = Duration::from_millis(100);

enum Source {
    Local {
        cg: CtCgroup,
        init: i32,
    },
    Remote {
        backend: Box<dyn Backend>,
        vmid: Vmid,
    },
}

impl Source {
    fn stats(&self) -> anyhow::Result<Stats> {
        match self {
            Source::Local { cg, init } => {
                let mut s = cg.stats();
                let dev =
                    std::fs::read_to_string(format!("/proc/{init}/net/dev")).unwrap_or_default();
                s.network_interfaces = ctstats::net_dev(&dev);
                Ok(s)
            }
            Source::Remote { backend, vmid } => {
                Ok(ctstats::from_pve_status(&backend.status_current(*vmid)?))
            }
        }
    }
}

pub fn run(ctx: &Ctx, args: &EventsArgs) -> anyhow::Result<()> {
    let interval = ctstats::parse_go_duration(&args.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            anyhow!(
                "invalid --interval {}: a positive duration such as 5s or 500ms",
                args.interval
            )
        })?;
    let dir = ctx.dir(&args.id)?;
    let st = dir.load()?;
    if !running(st.status()) {
        bail!("container with id {} is not running", args.id);
    }
    let (vmid, init) = crate::access::ct_of(&st)?;
    let backend = ctx.backend(&st.config);
    let source = if backend.is_remote() {
        Source::Remote { backend, vmid }
    } else {
        Source::Local {
            cg: CtCgroup::of(vmid, init)?,
            init,
        }
    };
    let emit = |kind: &str, data: Option<&Stats>| -> anyhow::Result<()> {
        out(serde_json::to_string(&Event {
            kind,
            id: &args.id,
            data,
        })?)
    };
    if args.stats {
        return emit("stats", Some(&source.stats()?));
    }
    let mut oom = OomWatch::of(&source);
    let mut next = Instant::now() + interval;
    loop {
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(CHECK_EVERY);
        let fired = oom.wait(wait);
        // Before the liveness check: an OOM kill often ends the container at once.
        for _ in 0..oom.kills(fired) {
            emit("oom", None)?;
        }
        if !still_running(&dir) {
            return Ok(());
        }
        if Instant::now() >= next {
            let stats = match source.stats() {
                Ok(s) => s,
                // The CT may have gone down while we asked.
                Err(_) if !still_running(&dir) => return Ok(()),
                Err(e) => return Err(e),
            };
            emit("stats", Some(&stats))?;
            next += interval;
        }
    }
}

/// runc refuses only stopped containers: created and paused ones have stats.
fn running(s: Status) -> bool {
    matches!(s, Status::Created | Status::Running | Status::Paused)
}

fn still_running(dir: &ContainerDir) -> bool {
    dir.load().is_ok_and(|st| running(st.status()))
}

/// OOM kills of a local CT since `events` began.
struct OomWatch<'a> {
    cg: Option<&'a CtCgroup>,
    /// v1: the eventfd and the cgroups it watches (it also fires when one of them is removed).
    efd: Option<(OwnedFd, Vec<PathBuf>)>,
    /// v2 (and v1 as a fallback): the count last seen.
    seen: u64,
}

impl<'a> OomWatch<'a> {
    fn of(source: &'a Source) -> OomWatch<'a> {
        let Source::Local { cg, .. } = source else {
            return OomWatch {
                cg: None,
                efd: None,
                seen: 0,
            };
        };
        OomWatch {
            cg: Some(cg),
            efd: cg.oom_events().map(|fd| (fd, cg.memory_dirs())),
            seen: cg.oom_kills().unwrap_or(0),
        }
    }

    /// Sleep up to `timeout`, less if the eventfd fires; how many events it counted.
    fn wait(&self, timeout: Duration) -> u64 {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let Some((fd, _)) = &self.efd else {
            std::thread::sleep(timeout);
            return 0;
        };
        let ms = PollTimeout::try_from(timeout.as_millis().min(60_000) as i32)
            .unwrap_or(PollTimeout::NONE);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, ms), Ok(n) if n > 0) {
            return 0;
        }
        let mut n = [0u8; 8];
        match nix::unistd::read(fd.as_raw_fd(), &mut n) {
            Ok(8) => u64::from_ne_bytes(n),
            _ => 0,
        }
    }

    /// The OOM kills to report now, given `fired` eventfd signals. v1: a signal while every
    /// watched cgroup still exists is one OOM (the CT's cgroup and LXC's inner one may both be
    /// signalled for it); a signal that came with a cgroup's removal is the CT going down. v2:
    /// the rise of the hierarchical `oom_kill` count.
    fn kills(&mut self, fired: u64) -> u64 {
        let Some(cg) = self.cg else { return 0 };
        if let Some((_, dirs)) = &self.efd {
            return u64::from(fired > 0 && dirs.iter().all(|d| d.exists()));
        }
        let now = cg.oom_kills().unwrap_or(0);
        let new = now.saturating_sub(self.seen);
        self.seen = self.seen.max(now);
        new
    }
}
