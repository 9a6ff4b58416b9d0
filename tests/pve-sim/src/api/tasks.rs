//! Worker tasks (pve-common src/PVE/RESTEnvironment.pm `fork_worker`, src/PVE/UPID.pm): every
//! task is a child process (usually the sim's `pct`) whose stdout goes to the task log and
//! whose stderr's last line becomes `TASK ERROR: …`.
//! State lives only in the log files (`var/log/pve/tasks/<X>/<UPID>`), so a task is
//! `running` while its last line is not a `TASK …` line and its pid still has its pstart.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use proxmox_lxcri::pve::Upid;
use serde_json::{json, Map, Value};

use super::reply::ApiError;
use super::Ctx;
use crate::host::pstart;

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

pub fn log_path(ctx: &Ctx, upid: &Upid) -> PathBuf {
    ctx.root
        .join("var/log/pve/tasks")
        .join(format!("{:X}", upid.starttime & 0xf))
        .join(upid.to_string())
}

/// What to run for a task.
pub struct Work {
    pub worker_type: &'static str,
    pub id: String,
    pub node: String,
    pub cmd: Command,
    /// Runs once the task has ended (releases a VMID reservation).
    pub on_done: Option<Box<dyn FnOnce() + Send>>,
}

impl Work {
    /// A task for `id` (empty where a UPID cannot carry it, e.g. a volid) on `node`.
    pub fn new(worker_type: &'static str, id: String, node: &str, cmd: Command) -> Work {
        Work {
            worker_type,
            id,
            node: node.to_string(),
            cmd,
            on_done: None,
        }
    }
}

/// Starts a task and returns its UPID; the `fail_task` knob replaces the work with a worker
/// that fails.
pub fn spawn(ctx: &Ctx, user: &str, mut work: Work) -> Result<String, ApiError> {
    let faults = ctx.faults();
    if faults.fail_task(work.worker_type) {
        let mut c = Command::new(&ctx.self_exe);
        c.arg("task-fail");
        work.cmd = c;
    }
    let slow = faults.slow_task_ms(work.worker_type);
    if slow > 0 {
        let mut c = Command::new(&ctx.self_exe);
        c.arg("task-after")
            .arg(slow.to_string())
            .arg(work.cmd.get_program());
        c.args(work.cmd.get_args());
        work.cmd = c;
    }
    let dir = ctx.root.join("var/log/pve/tasks");
    fs::create_dir_all(&dir)?;
    // The log is opened before the UPID is known (it names the worker's pid) and renamed after.
    let tmp = dir.join(format!(
        "spawn-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let log = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&tmp)?;
    // The worker runs on its node: it freezes when the node goes down (`crate::power`).
    let node_procs = crate::power::cgroup_dir(&ctx.root, &work.node).join("cgroup.procs");
    if let Ok(procs) = std::ffi::CString::new(node_procs.as_os_str().as_encoded_bytes()) {
        if node_procs.exists() {
            // SAFETY: only open/write/close between fork and exec, on a path made before.
            unsafe {
                work.cmd.pre_exec(move || {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1);
                        libc::close(fd);
                    }
                    Ok(())
                });
            }
        }
    }
    let spawned = work
        .cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::piped())
        .env("PVE_SIM_ROOT", &ctx.root)
        .env("PVE_SIM_NODE", &work.node)
        // Its own process group: a signal meant for the server does not hit running tasks.
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            if let Some(done) = work.on_done.take() {
                done();
            }
            return Err(ApiError::die(format!("unable to start worker - {e}")));
        }
    };
    let upid = Upid {
        node: work.node.clone(),
        pid: child.id(),
        pstart: pstart(child.id()),
        starttime: now(),
        worker_type: work.worker_type.to_string(),
        id: work.id.clone(),
        user: user.to_string(),
    };
    let path = log_path(ctx, &upid);
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    fs::rename(&tmp, &path)?;
    let on_done = work.on_done.take();
    std::thread::spawn(move || finish(&mut child, log, on_done));
    Ok(upid.to_string())
}

/// Waits for the worker; copies its stderr into the log, holding back the last line, which
/// becomes the error when the worker fails. `on_done` runs once the worker exited. The final
/// `TASK …` line is written while the worker is still a zombie, so a status query never sees
/// it gone without that line.
fn finish(child: &mut Child, mut log: File, on_done: Option<Box<dyn FnOnce() + Send>>) {
    let (tx, rx) = mpsc::channel();
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let mut held: Option<String> = None;
    let mut last_written: Option<String> = None;
    let mut take = |line: String, log: &mut File| {
        if let Some(prev) = held.replace(line) {
            let _ = writeln!(log, "{prev}");
            last_written = Some(prev);
        }
    };
    // Lines while it runs, then whatever is left once it exited (a grandchild that kept the
    // pipe open must not keep the task alive).
    let pid = child.id() as libc::pid_t;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => take(line, &mut log),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if exited_nowait(pid) {
                    break;
                }
            }
        }
    }
    while !exited_nowait(pid) {
        std::thread::sleep(Duration::from_millis(20));
    }
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        take(line, &mut log);
    }
    let code = exit_code_nowait(pid);
    // Before the final line: whoever sees the task stopped must see its effects done.
    if let Some(done) = on_done {
        done();
    }
    let end = if code == 0 {
        match held.as_deref().and_then(warning_count) {
            Some(n) => format!("TASK WARNINGS: {n}"),
            None => {
                if let Some(h) = held.take() {
                    let _ = writeln!(log, "{h}");
                }
                "TASK OK".into()
            }
        }
    } else {
        // A parameter error ends with pct's usage line: the message is the line before it.
        let msg = match held {
            Some(h) if !h.starts_with("pct ") && !h.trim().is_empty() => h,
            _ => last_written.unwrap_or_else(|| format!("command failed: exit code {code}")),
        };
        format!("TASK ERROR: {}", msg.trim_start_matches("400 "))
    };
    let _ = writeln!(log, "{end}");
    let _ = log.sync_all();
    let _ = child.wait();
}

/// `Task finished with N warning(s)!` → N.
fn warning_count(line: &str) -> Option<usize> {
    line.strip_prefix("Task finished with ")?
        .strip_suffix(" warning(s)!")?
        .parse()
        .ok()
}

fn waitid_nowait(pid: libc::pid_t) -> Option<libc::siginfo_t> {
    // SAFETY: waitid with WNOWAIT only inspects our own child; the struct is plain data.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
        );
        (rc == 0 && info.si_pid() == pid).then_some(info)
    }
}

fn exited_nowait(pid: libc::pid_t) -> bool {
    waitid_nowait(pid).is_some()
}

fn exit_code_nowait(pid: libc::pid_t) -> i32 {
    match waitid_nowait(pid) {
        // SAFETY: si_status is valid for CLD_* codes.
        Some(info) if info.si_code == libc::CLD_EXITED => unsafe { info.si_status() },
        // SAFETY: as above (CLD_KILLED, CLD_DUMPED).
        Some(info) => 128 + unsafe { info.si_status() },
        None => -1,
    }
}

/// The lines of a task log.
fn log_lines(ctx: &Ctx, upid: &Upid) -> Option<Vec<String>> {
    let text = fs::read(log_path(ctx, upid)).ok()?;
    Some(
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// Parses `{upid}` for node `node`: 400 like Proxmox for a bad or unknown one.
pub fn find(ctx: &Ctx, node: &str, text: &str) -> Result<Upid, ApiError> {
    let upid: Upid = text
        .parse()
        .map_err(|_| ApiError::param("upid", "unable to parse worker upid"))?;
    if upid.node != node || !log_path(ctx, &upid).exists() {
        return Err(ApiError::param("upid", "no such task"));
    }
    Ok(upid)
}

/// `running`, or `stopped` with the exit status from the log's last line.
fn state(ctx: &Ctx, upid: &Upid) -> (bool, String) {
    let lines = log_lines(ctx, upid).unwrap_or_default();
    let last = lines.iter().rev().find(|l| !l.is_empty());
    if let Some(l) = last {
        if l == "TASK OK" {
            return (false, "OK".into());
        }
        if let Some(w) = l.strip_prefix("TASK WARNINGS: ") {
            return (false, format!("WARNINGS: {w}"));
        }
        if let Some(e) = l.strip_prefix("TASK ERROR: ") {
            return (false, e.to_string());
        }
    }
    if pstart(upid.pid) == upid.pstart && upid.pstart != 0 {
        return (true, String::new());
    }
    (false, "unexpected status".into())
}

fn describe(upid: &Upid) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("upid".into(), json!(upid.to_string()));
    m.insert("node".into(), json!(upid.node));
    m.insert("pid".into(), json!(upid.pid));
    m.insert("pstart".into(), json!(upid.pstart));
    m.insert("starttime".into(), json!(upid.starttime));
    m.insert("type".into(), json!(upid.worker_type));
    m.insert("id".into(), json!(upid.id));
    m.insert("user".into(), json!(upid.user_name()));
    if let Some(t) = upid.token_id() {
        m.insert("tokenid".into(), json!(t));
    }
    m
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub fn status(ctx: &Ctx, upid: &Upid) -> Value {
    let mut m = describe(upid);
    let (running, exit) = state(ctx, upid);
    if running {
        m.insert("status".into(), json!("running"));
    } else {
        m.insert("status".into(), json!("stopped"));
        m.insert("exitstatus".into(), json!(exit));
    }
    Value::Object(m)
}

/// `GET /nodes/{node}/tasks/{upid}/log`: lines `start+1 ..= start+limit` (limit 0 = all) and
/// the total line count; an empty log is one `no content` line.
pub fn log(ctx: &Ctx, upid: &Upid, start: usize, limit: usize) -> (Value, usize) {
    let mut lines = log_lines(ctx, upid).unwrap_or_default();
    if lines.is_empty() {
        lines.push("no content".into());
    }
    let total = lines.len();
    let take = if limit == 0 { usize::MAX } else { limit };
    let page: Vec<Value> = lines
        .iter()
        .enumerate()
        .skip(start)
        .take(take)
        .map(|(i, t)| json!({"n": i + 1, "t": t}))
        .collect();
    (Value::Array(page), total)
}

/// `DELETE /nodes/{node}/tasks/{upid}`: SIGTERM to a running worker.
pub fn stop(ctx: &Ctx, upid: &Upid) {
    if state(ctx, upid).0 {
        // SAFETY: signalling the worker we verified by its pstart.
        unsafe { libc::kill(upid.pid as i32, libc::SIGTERM) };
    }
}

/// `GET /nodes/{node}/tasks`: newest first, filtered like Proxmox's common parameters.
pub fn list(ctx: &Ctx, node: &str, p: &std::collections::BTreeMap<String, String>) -> Value {
    let mut all: Vec<(Upid, u64)> = Vec::new();
    let base = ctx.root.join("var/log/pve/tasks");
    for d in fs::read_dir(&base).into_iter().flatten().flatten() {
        for f in fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let Ok(upid) = f.file_name().to_string_lossy().parse::<Upid>() else {
                continue;
            };
            let mtime = f
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            if upid.node == node {
                all.push((upid, mtime));
            }
        }
    }
    all.sort_by_key(|t| std::cmp::Reverse(t.0.starttime));
    let source = p.get("source").map_or("archive", String::as_str);
    let errors_only = p.get("errors").is_some_and(|v| v == "1");
    let start: usize = p.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = p.get("limit").and_then(|s| s.parse().ok()).unwrap_or(50);
    let mut out = Vec::new();
    for (upid, mtime) in all {
        if p.get("vmid").is_some_and(|v| *v != upid.id)
            || p.get("typefilter").is_some_and(|t| *t != upid.worker_type)
            || p.get("userfilter")
                .is_some_and(|u| !upid.user.contains(u.as_str()))
        {
            continue;
        }
        let (running, exit) = state(ctx, &upid);
        match source {
            "active" if !running => continue,
            "archive" if running => continue,
            _ => {}
        }
        if errors_only && (running || exit == "OK") {
            continue;
        }
        let mut m = describe(&upid);
        if !running {
            m.insert("status".into(), json!(exit));
            m.insert("endtime".into(), json!(mtime));
        }
        out.push(Value::Object(m));
    }
    let limit = if limit == 0 { usize::MAX } else { limit };
    Value::Array(out.into_iter().skip(start).take(limit).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_line() {
        assert_eq!(warning_count("Task finished with 2 warning(s)!"), Some(2));
        assert_eq!(warning_count("something else"), None);
    }
}
