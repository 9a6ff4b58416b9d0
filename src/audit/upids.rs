//! The Proxmox tasks (UPIDs) this process waited for, collected for its audit line.

use std::sync::Mutex;

static UPIDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember a task the operation ran (`api` waits for each it starts).
pub fn note_upid(upid: &str) {
    let mut v = UPIDS.lock().unwrap_or_else(|p| p.into_inner());
    if !v.iter().any(|u| u == upid) {
        v.push(upid.to_string());
    }
}

/// The tasks noted so far, forgotten here.
pub fn take_upids() -> Vec<String> {
    std::mem::take(&mut *UPIDS.lock().unwrap_or_else(|p| p.into_inner()))
}
