//! Waiting for a task (UPID) to end (pve-manager PVE/API2/Tasks.pm): poll its status until
//! `stopped`, then judge `exitstatus`; on failure fetch the tail of its log for the message.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ApiError, Client};
use crate::pve::Upid;

/// How a task that succeeded ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    Ok,
    /// `WARNINGS: n` is success too; the count is kept for the log.
    Warnings(u64),
}

/// Log lines kept for a failed task's error.
const LOG_TAIL: usize = 5;
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_millis(500);

/// `exitstatus` of a stopped task: success, or `None` for a failure (its text is the error).
pub fn judge_exitstatus(exitstatus: &str) -> Option<TaskEnd> {
    let s = exitstatus.trim();
    if s == "OK" {
        return Some(TaskEnd::Ok);
    }
    let n = s.strip_prefix("WARNINGS:")?.trim();
    // The count only informs; the task succeeded even if it were unreadable.
    Some(TaskEnd::Warnings(n.parse().unwrap_or(0)))
}

/// `/nodes/{node}/tasks/{upid}`, with the node the UPID names (any node proxies there).
pub fn task_path(upid: &str) -> Result<String, ApiError> {
    let u: Upid = upid
        .parse()
        .map_err(|e: crate::pve::upid::UpidError| ApiError::InvalidArgument(e.to_string()))?;
    Ok(format!("/nodes/{}/tasks/{}", u.node, upid))
}

/// The last `n` lines of a task log reply `[{"n":1,"t":"…"},…]`.
pub fn log_tail(data: &Value, n: usize) -> Vec<String> {
    let lines: Vec<String> = data
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("t").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

impl Client {
    /// Poll the task until it stops or `timeout` passes.
    pub fn wait_task(&self, upid: &str, timeout: Duration) -> Result<TaskEnd, ApiError> {
        let base = task_path(upid)?;
        crate::audit::note_upid(upid);
        let status_path = format!("{base}/status");
        let deadline = Instant::now() + timeout;
        let mut pause = FIRST_POLL;
        loop {
            let st = self.get(&status_path, &[])?;
            if st.get("status").and_then(Value::as_str) == Some("stopped") {
                let exitstatus = st
                    .get("exitstatus")
                    .and_then(Value::as_str)
                    .unwrap_or("unexpected status")
                    .to_string();
                if let Some(end) = judge_exitstatus(&exitstatus) {
                    log::debug!("task {upid}: {exitstatus}");
                    return Ok(end);
                }
                return Err(ApiError::TaskFailed {
                    upid: upid.to_string(),
                    exitstatus,
                    log: self.task_log_tail(&base),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ApiError::TaskTimeout {
                    upid: upid.to_string(),
                    waited: timeout,
                });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    /// Best effort: the failure is what matters, a missing log must not hide it.
    fn task_log_tail(&self, base: &str) -> Vec<String> {
        let query = [("start", "0".to_string()), ("limit", "0".to_string())];
        match self.get(&format!("{base}/log"), &query) {
            Ok(data) => log_tail(&data, LOG_TAIL),
            Err(e) => {
                log::warn!("{e}");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(body: &str) -> Value {
        let v: Value = serde_json::from_str(body).unwrap();
        v["data"].clone()
    }

    #[test]
    fn exit_statuses_from_recorded_replies() {
        let ok = status(
            r#"{"data":{"status":"stopped","exitstatus":"OK","id":"100","node":"pve1","pid":602799,"pstart":218191225,"starttime":1757362753,"type":"vzcreate","upid":"UPID:pve1:000932AF:0D015579:68BF3A41:vzcreate:100:root@pam!ocirt:","user":"root@pam","tokenid":"ocirt"}}"#,
        );
        assert_eq!(
            judge_exitstatus(ok["exitstatus"].as_str().unwrap()),
            Some(TaskEnd::Ok)
        );
        let warn = status(r#"{"data":{"status":"stopped","exitstatus":"WARNINGS: 2"}}"#);
        assert_eq!(
            judge_exitstatus(warn["exitstatus"].as_str().unwrap()),
            Some(TaskEnd::Warnings(2))
        );
        for failed in [
            "unable to create CT 100 - no such template",
            "unexpected status",
            "unable to get last line from task log - x",
            "",
        ] {
            assert_eq!(judge_exitstatus(failed), None, "{failed}");
        }
    }

    #[test]
    fn task_path_uses_the_upid_node() {
        let upid = "UPID:node-2:000934AF:1D0155790:68BF3A41:vzstart:100:root@pam!ocirt:";
        assert_eq!(
            task_path(upid).unwrap(),
            format!("/nodes/node-2/tasks/{upid}")
        );
        let e = task_path("UPID:bad").unwrap_err().to_string();
        assert_eq!(e, "unable to parse worker upid 'UPID:bad'");
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let log = status(
            r#"{"data":[{"n":1,"t":"extracting archive '/var/lib/vz/template/cache/x.tar'"},{"n":2,"t":"a"},{"n":3,"t":"b"},{"n":4,"t":"c"},{"n":5,"t":"d"},{"n":6,"t":"TASK ERROR: unable to create CT 100 - x"}],"total":6}"#,
        );
        assert_eq!(
            log_tail(&log, 5),
            [
                "a",
                "b",
                "c",
                "d",
                "TASK ERROR: unable to create CT 100 - x"
            ]
        );
        assert_eq!(
            log_tail(&json!([{"n":1,"t":"no content"}]), 5),
            ["no content"]
        );
        assert!(log_tail(&Value::Null, 5).is_empty());
    }

    #[test]
    fn task_failed_message_names_upid_and_log() {
        let e = ApiError::TaskFailed {
            upid: "UPID:pve1:00000001:00000002:00000003:vzstart:100:root@pam:".into(),
            exitstatus: "startup for container '100' failed".into(),
            log: vec![
                "a".into(),
                "TASK ERROR: startup for container '100' failed".into(),
            ],
        };
        assert_eq!(
            e.to_string(),
            "task UPID:pve1:00000001:00000002:00000003:vzstart:100:root@pam: failed: \
             startup for container '100' failed (log: a | TASK ERROR: startup for container '100' failed)"
        );
    }
}
