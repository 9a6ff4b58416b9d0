//! `pct status <vmid> [--verbose]` and `pct list` (pve-container src/PVE/CLI/pct.pm,
//! `PVE::LXC::vmstatus`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use proxmox_lxcri::pve::CtConfig;

use crate::cli::Params;
use crate::fail::Result;
use crate::host::{self, read_u64, MIB};
use crate::sim::Sim;
use crate::vmstatus::{self, memory_cgroup};
use crate::{ct, store};

/// `avg10` of a PSI file line (`some avg10=0.00 ...`).
fn pressure(path: &str, kind: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(kind))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))
        .map(str::to_string)
}

/// The name as pct prints it: Proxmox drops white space (`s/[\s]//g`).
fn name(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The keys `vmstatus` reports for one CT (without `cpu`, which `pct status` drops), with the
/// usage the API server leaves at 0.
pub fn vmstatus(sim: &Sim, vmid: u32, conf: &CtConfig) -> BTreeMap<&'static str, String> {
    let st = vmstatus::vmstatus(sim, vmid, conf);
    let mut d = BTreeMap::new();
    d.insert("status", st.status().to_string());
    d.insert("type", "lxc".into());
    d.insert("vmid", vmid.to_string());
    d.insert("name", name(&st.name));
    if let Some(l) = st.lock {
        d.insert("lock", l);
    }
    if let Some(t) = st.tags {
        d.insert("tags", t);
    }
    if st.template {
        d.insert("template", "1".into());
    }
    d.insert("cpus", st.cpus.unwrap_or_else(|| host::cpus().to_string()));
    d.insert("maxmem", st.maxmem.to_string());
    d.insert("maxswap", (st.swap.unwrap_or(0) * MIB).to_string());
    d.insert("maxdisk", st.maxdisk.to_string());
    for k in vmstatus::COUNTERS {
        d.insert(k, "0".into());
    }
    let Some((pid, uptime)) = st.init else {
        return d;
    };
    d.insert("pid", pid.to_string());
    d.insert("uptime", uptime.to_string());

    let mem_cg = memory_cgroup(sim, vmid);
    if let Some(usage) = read_u64(&format!("{mem_cg}/memory.usage_in_bytes")) {
        let cache = fs::read_to_string(format!("{mem_cg}/memory.stat"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("total_cache ")?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        d.insert("mem", usage.saturating_sub(cache).to_string());
        if let Some(memsw) = read_u64(&format!("{mem_cg}/memory.memsw.usage_in_bytes")) {
            d.insert("swap", memsw.saturating_sub(usage).to_string());
        }
    }
    // Disk usage of the rootfs as the CT sees it.
    if let Some((used, total)) = host::fs_usage(Path::new(&format!("/proc/{pid}/root"))) {
        d.insert("disk", used.to_string());
        d.insert("maxdisk", total.to_string());
    }
    // Host side of the CT's veths: what the host receives the CT sent.
    let (mut netin, mut netout) = (0, 0);
    for k in conf.options.keys().filter(|k| k.starts_with("net")) {
        let dev = format!("/sys/class/net/veth{vmid}i{}/statistics", &k[3..]);
        netout += read_u64(&format!("{dev}/rx_bytes")).unwrap_or(0);
        netin += read_u64(&format!("{dev}/tx_bytes")).unwrap_or(0);
    }
    d.insert("netin", netin.to_string());
    d.insert("netout", netout.to_string());
    // Pressure stall information lives on the unified hierarchy (absent without PSI).
    let psi = format!("/sys/fs/cgroup/unified/lxc/{vmid}");
    let psi = if fs::metadata(&psi).is_ok() {
        psi
    } else {
        format!("/sys/fs/cgroup/lxc/{vmid}")
    };
    for (res, key_some, key_full) in [
        ("cpu", "pressurecpusome", "pressurecpufull"),
        ("io", "pressureiosome", "pressureiofull"),
        ("memory", "pressurememorysome", "pressurememoryfull"),
    ] {
        let file = format!("{psi}/{res}.pressure");
        if let Some(v) = pressure(&file, "some") {
            d.insert(key_some, v);
        }
        if let Some(v) = pressure(&file, "full") {
            d.insert(key_full, v);
        }
    }
    d
}

pub fn status(sim: &Sim, p: &Params) -> Result<()> {
    let conf = store::load(sim, p.vmid)?;
    let st = vmstatus(sim, p.vmid, &conf);
    let mut out = String::new();
    if p.flag("verbose") {
        for (k, v) in &st {
            out.push_str(&format!("{k}: {v}\n"));
        }
    } else {
        out.push_str(&format!("status: {}\n", st["status"]));
    }
    print!("{out}");
    Ok(())
}

pub fn list(sim: &Sim, _p: &Params) -> Result<()> {
    let mut rows = Vec::new();
    for vmid in store::list(sim) {
        let Ok((conf, _)) = store::load_quiet(sim, vmid) else {
            continue;
        };
        let running = ct::is_running(sim, vmid);
        let lock = conf.lock().unwrap_or("").to_string();
        rows.push((
            vmid,
            if running { "running" } else { "stopped" },
            lock,
            name(&vmstatus::name(&conf, vmid)),
        ));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut out = format!(
        "{:<10} {:<10} {:<12} {:<20}\n",
        "VMID", "Status", "Lock", "Name"
    );
    for (vmid, status, lock, name) in rows {
        out.push_str(&format!("{vmid:<10} {status:<10} {lock:<12} {name:<20}\n"));
    }
    print!("{out}");
    Ok(())
}
