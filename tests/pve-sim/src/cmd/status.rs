//! `pct status <vmid> [--verbose]` and `pct list` (`PVE::LXC::vmstatus`, reference §1.3).

use std::collections::BTreeMap;
use std::fs;

use proxmox_lxcri::pve::confkeys::{self, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use crate::cli::Params;
use crate::fail::Result;
use crate::sim::Sim;
use crate::{ct, store};

const MIB: u64 = 1024 * 1024;

fn read_u64(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn host_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Seconds since the process started (from `/proc/<pid>/stat` and the boot time).
fn uptime_of(pid: u32) -> u64 {
    let Some(start_ticks) = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(19)?.parse::<u64>().ok())
        })
    else {
        return 0;
    };
    let btime = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_sub(btime + start_ticks / hz)
}

/// `avg10` of a PSI file line (`some avg10=0.00 ...`).
fn pressure(path: &str, kind: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(kind))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))
        .map(str::to_string)
}

/// The keys `vmstatus` reports for one CT (without `cpu`, which `pct status` drops).
pub fn vmstatus(sim: &Sim, vmid: u32, conf: &CtConfig) -> BTreeMap<&'static str, String> {
    let mut d = BTreeMap::new();
    let opt = |k: &str| conf.options.get(k).map(String::as_str);
    let running = ct::is_running(sim, vmid);
    d.insert(
        "status",
        if running { "running" } else { "stopped" }.to_string(),
    );
    d.insert("type", "lxc".into());
    d.insert("vmid", vmid.to_string());
    let name = opt("hostname")
        .map(str::to_string)
        .unwrap_or_else(|| format!("CT{vmid}"));
    d.insert(
        "name",
        name.chars().filter(|c| !c.is_whitespace()).collect(),
    );
    if let Some(l) = opt("lock") {
        d.insert("lock", l.to_string());
    }
    if let Some(t) = opt("tags") {
        d.insert("tags", t.to_string());
    }
    if opt("template") == Some("1") {
        d.insert("template", "1".into());
    }
    let cpus = opt("cores")
        .map(str::to_string)
        .or_else(|| opt("cpulimit").filter(|c| *c != "0").map(str::to_string))
        .unwrap_or_else(|| host_cpus().to_string());
    d.insert("cpus", cpus);
    let memory: u64 = opt("memory").and_then(|m| m.parse().ok()).unwrap_or(512);
    let swap: u64 = opt("swap").and_then(|m| m.parse().ok()).unwrap_or(0);
    d.insert("maxmem", (memory * MIB).to_string());
    d.insert("maxswap", (swap * MIB).to_string());
    let size = opt("rootfs")
        .and_then(|r| ROOTFS_FORMAT.parse(r).ok())
        .and_then(|m| m.get("size").and_then(|s| confkeys::parse_size(s)))
        .filter(|s| *s > 0)
        .unwrap_or(4 << 30);
    d.insert("maxdisk", size.to_string());
    for k in [
        "disk",
        "diskread",
        "diskwrite",
        "mem",
        "netin",
        "netout",
        "swap",
        "uptime",
    ] {
        d.insert(k, "0".into());
    }
    if !running {
        return d;
    }
    let Some(pid) = ct::pid(sim, vmid) else {
        return d;
    };
    d.insert("pid", pid.to_string());
    d.insert("uptime", uptime_of(pid).to_string());

    let mem_cg = format!("/sys/fs/cgroup/memory/lxc/{vmid}");
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
    if let Ok(st) = nix::sys::statvfs::statvfs(format!("/proc/{pid}/root").as_str()) {
        let frsize = st.fragment_size();
        d.insert(
            "disk",
            ((st.blocks() - st.blocks_free()) * frsize).to_string(),
        );
        d.insert("maxdisk", (st.blocks() * frsize).to_string());
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
        let name = conf
            .options
            .get("hostname")
            .cloned()
            .unwrap_or_else(|| format!("CT{vmid}"));
        let name: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        let lock = conf.lock().unwrap_or("").to_string();
        rows.push((
            vmid,
            if running { "running" } else { "stopped" },
            lock,
            name,
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
