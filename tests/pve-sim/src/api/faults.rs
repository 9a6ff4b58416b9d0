//! Fault knobs a test changes while the server runs: `$PVE_SIM_ROOT/api-faults.json`, read on
//! every request. Keys are `METHOD schema-path` (`POST /nodes/{node}/lxc`), task types, nodes:
//!
//! ```json
//! {"status_500": ["POST /nodes/{node}/lxc"], "delay_ms": {"GET /nodes": 200},
//!  "drop": ["GET /cluster/resources"], "fail_task": ["vzcreate"], "offline": ["n2"],
//!  "slow_task_ms": {"vzcreate": 1500}}
//! ```

use std::path::Path;

use serde_json::Value;

#[derive(Default)]
pub struct Faults(Value);

impl Faults {
    /// The current knobs; a missing or unreadable file means none.
    pub fn load(root: &Path) -> Faults {
        std::fs::read(root.join("api-faults.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .map(Faults)
            .unwrap_or_default()
    }

    fn listed(&self, knob: &str, what: &str) -> bool {
        self.0[knob]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(what)))
    }

    /// `METHOD path` answers `500 simulated failure`.
    pub fn status_500(&self, call: &str) -> bool {
        self.listed("status_500", call)
    }

    /// `METHOD path`'s connection is closed without an answer.
    pub fn drop(&self, call: &str) -> bool {
        self.listed("drop", call)
    }

    /// Milliseconds to wait before handling `METHOD path`.
    pub fn delay_ms(&self, call: &str) -> u64 {
        self.0["delay_ms"][call].as_u64().unwrap_or(0)
    }

    /// Tasks of this type end with `TASK ERROR: simulated task failure`.
    pub fn fail_task(&self, worker_type: &str) -> bool {
        self.listed("fail_task", worker_type)
    }

    /// Milliseconds a task of this type waits before its work starts (keeps it `running`
    /// long enough for a test to race against it).
    pub fn slow_task_ms(&self, worker_type: &str) -> u64 {
        self.0["slow_task_ms"][worker_type].as_u64().unwrap_or(0)
    }

    pub fn offline(&self, node: &str) -> bool {
        self.listed("offline", node)
    }
}
