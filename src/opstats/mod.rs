//! The runtime's own operations in numbers (docs/monitoring.md, "The runtime's operations"):
//! per subcommand and per backend call, counts by result, failures by reason and latency
//! histograms.
//!
//! Every invocation is its own short process, so each one counts in memory ([`operation`],
//! [`backend_call`]) and merges its counts into one file under the state root when it ends
//! ([`flush`], src/opstats/store.rs); `metrics` reads that file. A forked child (the shim, a
//! stand-in, a pending destroy) starts from zero, since what its parent counted is the
//! parent's to flush, and flushes when it ends (detached processes through
//! `sys::fork::at_detached_exit`).

mod expose;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use expose::expose;
pub use store::{load, merge_into, FILE, LOCK};

/// Upper bounds of the latency buckets, in seconds: a `state` takes about a millisecond, a
/// `create` over the API with a template upload minutes (CRI-O's own timeout is 4 min).
pub const BOUNDS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// Why an operation or a backend call failed: a closed set, so that the label stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The caller's input: an invalid ID or config.json, a bad flag or configuration.
    BadInput,
    /// The container (or its CT) does not exist.
    NotFound,
    /// Proxmox (a `pct` exit status, an HTTP error, a remote command) said no.
    ProxmoxRefused,
    /// A Proxmox task ran and ended with an error.
    TaskFailed,
    /// The node or the API could not be reached.
    Unreachable,
    /// Something did not answer in time.
    Timeout,
    Other,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadInput => "bad_input",
            Reason::NotFound => "not_found",
            Reason::ProxmoxRefused => "proxmox_refused",
            Reason::TaskFailed => "task_failed",
            Reason::Unreachable => "unreachable",
            Reason::Timeout => "timeout",
            Reason::Other => "other",
        }
    }

    fn parse(s: &str) -> Option<Reason> {
        [
            Reason::BadInput,
            Reason::NotFound,
            Reason::ProxmoxRefused,
            Reason::TaskFailed,
            Reason::Unreachable,
            Reason::Timeout,
            Reason::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Counts and latencies of one subcommand or one backend call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timed {
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub error: u64,
    /// Failures by [`Reason`] (operations only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, u64>,
    /// Observations per bucket of [`BOUNDS`], not cumulative; the last one above them all.
    #[serde(default)]
    pub buckets: Vec<u64>,
    /// Seconds, summed.
    #[serde(default)]
    pub sum: f64,
}

impl Timed {
    fn observe(&mut self, took: Duration, failure: Option<Reason>, by_reason: bool) {
        match failure {
            None => self.ok += 1,
            Some(r) => {
                self.error += 1;
                if by_reason {
                    *self.reasons.entry(r.as_str().to_string()).or_default() += 1;
                }
            }
        }
        let secs = took.as_secs_f64();
        let i = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.fit();
        self.buckets[i] += 1;
        self.sum += secs;
    }

    /// Buckets of another layout (an older file) cannot be mapped: they start again.
    fn fit(&mut self) {
        if self.buckets.len() != BOUNDS.len() + 1 {
            self.buckets = vec![0; BOUNDS.len() + 1];
        }
    }

    fn add(&mut self, o: &Timed) {
        self.ok += o.ok;
        self.error += o.error;
        for (r, n) in &o.reasons {
            // A reason this version does not know (a newer one wrote it) is `other`.
            let r = Reason::parse(r).unwrap_or(Reason::Other).as_str();
            *self.reasons.entry(r.to_string()).or_default() += n;
        }
        self.fit();
        if o.buckets.len() == self.buckets.len() {
            for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
                *a += b;
            }
            self.sum += o.sum;
        }
    }
}

/// Everything counted: by subcommand, and by backend and call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    #[serde(default)]
    pub operations: BTreeMap<String, Timed>,
    #[serde(default)]
    pub backend_calls: BTreeMap<String, BTreeMap<String, Timed>>,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty() && self.backend_calls.is_empty()
    }

    pub fn add(&mut self, o: &Tally) {
        for (k, t) in &o.operations {
            self.operations.entry(k.clone()).or_default().add(t);
        }
        for (b, calls) in &o.backend_calls {
            let mine = self.backend_calls.entry(b.clone()).or_default();
            for (c, t) in calls {
                mine.entry(c.clone()).or_default().add(t);
            }
        }
    }
}

/// This process's counts; `pid` tells a forked child from the process that counted.
struct Registry {
    pid: u32,
    tally: Tally,
    last_failure: Option<Reason>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static ROOT: OnceLock<PathBuf> = OnceLock::new();

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut g = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if g.as_ref().is_none_or(|r| r.pid != pid) {
        *g = Some(Registry {
            pid,
            tally: Tally::default(),
            last_failure: None,
        });
    }
    f(g.as_mut().expect("set above"))
}

/// The state root [`flush`] merges into (`--root`); set once per process, inherited by forks.
pub fn set_root(root: &Path) {
    let _ = ROOT.set(root.to_path_buf());
    // The shim, an exec shim and a pending destroy end through sys::fork, not main.
    crate::sys::fork::at_detached_exit(flush);
}

/// One run of `subcommand` that took `took`.
pub fn operation(subcommand: &str, took: Duration, failure: Option<Reason>) {
    with(|r| {
        r.tally
            .operations
            .entry(subcommand.to_string())
            .or_default()
            .observe(took, failure, true)
    });
}

/// One call to a node: `backend` is `pct`, `api` or `ssh`, `call` a label from a bounded set
/// (a verb, an API path template), never an ID or an argument.
pub fn backend_call(backend: &str, call: &str, took: Duration, failure: Option<Reason>) {
    with(|r| {
        if failure.is_some() {
            r.last_failure = failure;
        }
        r.tally
            .backend_calls
            .entry(backend.to_string())
            .or_default()
            .entry(call.to_string())
            .or_default()
            .observe(took, failure, false)
    });
}

/// Why this process's last failed backend call failed: the reason of an operation whose error
/// lost its type on the way up.
pub fn last_backend_failure() -> Option<Reason> {
    with(|r| r.last_failure)
}

/// Merge what this process counted into the state root's file and start again from zero. A
/// root that does not exist is not made for it (the counts are dropped); a failure is a
/// warning in the log.
pub fn flush() {
    let Some(root) = ROOT.get() else {
        return;
    };
    let tally = with(|r| std::mem::take(&mut r.tally));
    if tally.is_empty() || !root.is_dir() {
        return;
    }
    if let Err(e) = merge_into(root, &tally) {
        log::warn!("{}: {e}", root.join(FILE).display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_failures_by_reason() {
        let mut t = Timed::default();
        t.observe(Duration::from_micros(500), None, true);
        t.observe(Duration::from_millis(1), None, true);
        t.observe(Duration::from_millis(700), Some(Reason::NotFound), true);
        t.observe(Duration::from_secs(600), Some(Reason::Timeout), true);
        assert_eq!((t.ok, t.error), (2, 2));
        assert_eq!(t.buckets[0], 2, "{:?}", t.buckets);
        assert_eq!(t.buckets[9], 1, "0.7 s is in le=1: {:?}", t.buckets);
        assert_eq!(t.buckets[BOUNDS.len()], 1, "{:?}", t.buckets);
        assert_eq!(t.reasons["not_found"], 1);
        assert!((t.sum - 600.7015).abs() < 1e-9, "{}", t.sum);
    }

    #[test]
    fn tallies_add_up_and_old_layouts_start_again() {
        let mut a = Tally::default();
        let mut one = Timed::default();
        one.observe(Duration::from_millis(3), Some(Reason::BadInput), true);
        a.operations.insert("state".into(), one.clone());
        let mut b = a.clone();
        b.operations.get_mut("state").unwrap().reasons =
            [("from_the_future".to_string(), 1)].into();
        a.add(&b);
        let s = &a.operations["state"];
        assert_eq!(s.error, 2);
        assert_eq!(s.buckets.iter().sum::<u64>(), 2);
        assert_eq!(s.reasons["other"], 1);
        let mut old = a.clone();
        old.operations.get_mut("state").unwrap().buckets = vec![5, 5];
        a.add(&old);
        assert_eq!(a.operations["state"].error, 4);
        assert_eq!(a.operations["state"].buckets.iter().sum::<u64>(), 2);
    }

    #[test]
    fn a_forked_child_starts_from_zero() {
        with(|r| r.pid = 1);
        backend_call("pct", "create", Duration::from_millis(5), None);
        let n = with(|r| r.tally.backend_calls["pct"]["create"].ok);
        assert_eq!(n, 1);
    }
}
