//! The counts as Prometheus families (names agreed with the Grafana dashboard,
//! docs/monitoring.md).

use super::{Tally, BOUNDS};
use crate::prom::{Exposition, Kind};

const P: &str = "proxmox_lxcri_";

pub fn expose(t: &Tally, e: &mut Exposition) {
    for (sub, op) in &t.operations {
        for (result, n) in [("ok", op.ok), ("error", op.error)] {
            e.add(
                &format!("{P}operations_total"),
                Kind::Counter,
                "Runtime invocations by subcommand and result (ok, error).",
                &[("subcommand", sub), ("result", result)],
                n as f64,
            );
        }
    }
    for (sub, op) in &t.operations {
        e.histogram(
            &format!("{P}operation_duration_seconds"),
            "How long runtime invocations took, by subcommand.",
            &[("subcommand", sub)],
            &BOUNDS,
            &op.buckets,
            op.sum,
        );
    }
    for (sub, op) in &t.operations {
        for (reason, n) in &op.reasons {
            e.add(
                &format!("{P}operation_failures_total"),
                Kind::Counter,
                "Failed runtime invocations by subcommand and reason (bad_input, not_found, proxmox_refused, task_failed, unreachable, timeout, other).",
                &[("subcommand", sub), ("reason", reason)],
                *n as f64,
            );
        }
    }
    for (backend, calls) in &t.backend_calls {
        for (call, c) in calls {
            for (result, n) in [("ok", c.ok), ("error", c.error)] {
                e.add(
                    &format!("{P}backend_calls_total"),
                    Kind::Counter,
                    "Calls to Proxmox by backend (pct, api, ssh), call (pct verb, API method and path template, remote command) and result.",
                    &[("backend", backend), ("call", call), ("result", result)],
                    n as f64,
                );
            }
        }
    }
    for (backend, calls) in &t.backend_calls {
        for (call, c) in calls {
            e.histogram(
                &format!("{P}backend_call_duration_seconds"),
                "How long calls to Proxmox took, by backend and call.",
                &[("backend", backend), ("call", call)],
                &BOUNDS,
                &c.buckets,
                c.sum,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::opstats::{Reason, Timed};

    #[test]
    fn histogram_counts_equal_operation_counts() {
        let mut t = Tally::default();
        let mut s = Timed::default();
        s.observe(Duration::from_millis(2), None, true);
        s.observe(Duration::from_millis(3), Some(Reason::NotFound), true);
        t.operations.insert("state".into(), s);
        let mut e = Exposition::default();
        expose(&t, &mut e);
        let text = e.render();
        for line in [
            "proxmox_lxcri_operations_total{subcommand=\"state\",result=\"ok\"} 1\n",
            "proxmox_lxcri_operations_total{subcommand=\"state\",result=\"error\"} 1\n",
            "proxmox_lxcri_operation_duration_seconds_bucket{subcommand=\"state\",le=\"0.001\"} 0\n",
            "proxmox_lxcri_operation_duration_seconds_bucket{subcommand=\"state\",le=\"0.005\"} 2\n",
            "proxmox_lxcri_operation_duration_seconds_bucket{subcommand=\"state\",le=\"+Inf\"} 2\n",
            "proxmox_lxcri_operation_duration_seconds_count{subcommand=\"state\"} 2\n",
            "proxmox_lxcri_operation_failures_total{subcommand=\"state\",reason=\"not_found\"} 1\n",
        ] {
            assert!(text.contains(line), "{line}in\n{text}");
        }
    }
}
