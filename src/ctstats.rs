//! A container's resource use in runc's `events` shape (the `Event{type,id,data}` envelope and
//! its `Stats`), read from cgroup v1 or v2 files, `/proc/<pid>/net/dev` or Proxmox's
//! `status/current`. Pure: callers read the files; this only parses them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

fn zero(v: &u64) -> bool {
    *v == 0
}

/// One line of `events`: `stats` with [`Stats`] as data, or `oom` without data.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub network_interfaces: Vec<NetworkInterface>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// Bytes; a limit of 0 is "no limit".
#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// A Go duration as runc's `--interval` takes it: `5s`, `500ms`, `1m30s`, `1.5h`, `250us`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * nanos;
    }
    (total.is_finite() && total < u64::MAX as f64).then(|| Duration::from_nanos(total as u64))
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events).
pub fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A single number; `max` and v1's "unlimited" (PAGE_COUNTER_MAX pages or more) are 0.
pub fn single(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return Some(0);
    }
    let v: u64 = t.parse().ok()?;
    Some(if v >= 1 << 62 { 0 } else { v })
}

/// The cgroup files of one CT, as `(file name, contents)` for those that could be read: v1 names
/// (`cpuacct.usage`, `memory.usage_in_bytes`, `blkio.throttle.io_service_bytes_recursive`, ...)
/// or v2 names (`cpu.stat`, `memory.current`, `io.stat`, ...).
pub type Files = BTreeMap<String, String>;

/// v1: USER_HZ ticks in cpuacct.stat are 1/100 s on every Linux architecture Proxmox runs on.
const NS_PER_TICK: u64 = 10_000_000;

/// Stats from cgroup v1 files.
pub fn from_v1(f: &Files) -> Stats {
    let num = |name: &str| f.get(name).and_then(|t| single(t)).unwrap_or(0);
    let keyed = |name: &str| f.get(name).map(|t| flat_keyed(t)).unwrap_or_default();
    let mut s = Stats::default();
    s.cpu.usage.total = num("cpuacct.usage");
    s.cpu.usage.percpu = f
        .get("cpuacct.usage_percpu")
        .map(|t| {
            t.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let acct = keyed("cpuacct.stat");
    s.cpu.usage.user = acct.get("user").copied().unwrap_or(0) * NS_PER_TICK;
    s.cpu.usage.kernel = acct.get("system").copied().unwrap_or(0) * NS_PER_TICK;
    let cpu = keyed("cpu.stat");
    s.cpu.throttling = Throttling {
        periods: cpu.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
        throttled_time: cpu.get("throttled_time").copied().unwrap_or(0),
    };
    let entry = |prefix: &str| MemoryEntry {
        limit: num(&format!("{prefix}.limit_in_bytes")),
        usage: num(&format!("{prefix}.usage_in_bytes")),
        max: num(&format!("{prefix}.max_usage_in_bytes")),
        failcnt: num(&format!("{prefix}.failcnt")),
    };
    s.memory.usage = entry("memory");
    s.memory.swap = entry("memory.memsw");
    s.memory.kernel = entry("memory.kmem");
    s.memory.kernel_tcp = entry("memory.kmem.tcp");
    s.memory.raw = keyed("memory.stat");
    // The hierarchical count: the CT's processes sit in LXC's inner cgroup below this one.
    s.memory.cache = s
        .memory
        .raw
        .get("total_cache")
        .or(s.memory.raw.get("cache"))
        .copied()
        .unwrap_or(0);
    s.pids = Pids {
        current: num("pids.current"),
        limit: num("pids.max"),
    };
    let blk = |name: &str| f.get(name).map(|t| blkio_v1(t)).unwrap_or_default();
    s.blkio.io_service_bytes_recursive = blk("blkio.throttle.io_service_bytes_recursive");
    s.blkio.io_serviced_recursive = blk("blkio.throttle.io_serviced_recursive");
    s
}

/// `MAJ:MIN Op value` lines of a v1 blkio file (the `Total` line left out).
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            let (dev, op, v) = (p.next()?, p.next()?, p.next()?);
            let (maj, min) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: op.to_string(),
                value: v.parse().ok()?,
            })
        })
        .collect()
}

/// Stats from cgroup v2 files.
pub fn from_v2(f: &Files) -> Stats {
    let num = |name: &str| f.get(name).and_then(|t| single(t)).unwrap_or(0);
    let keyed = |name: &str| f.get(name).map(|t| flat_keyed(t)).unwrap_or_default();
    let mut s = Stats::default();
    let cpu = keyed("cpu.stat");
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling = Throttling {
        periods: cpu.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
        throttled_time: us("throttled_usec"),
    };
    let events = keyed("memory.events");
    s.memory.usage = MemoryEntry {
        limit: num("memory.max"),
        usage: num("memory.current"),
        max: num("memory.peak"),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    s.memory.swap = MemoryEntry {
        limit: num("memory.swap.max"),
        usage: num("memory.swap.current"),
        max: num("memory.swap.peak"),
        failcnt: 0,
    };
    s.memory.raw = keyed("memory.stat");
    s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    s.pids = Pids {
        current: num("pids.current"),
        limit: num("pids.max"),
    };
    for line in f.get("io.stat").map(String::as_str).unwrap_or("").lines() {
        let mut p = line.split_whitespace();
        let Some((maj, min)) = p.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in p {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: v.parse().unwrap_or(0),
            });
        }
    }
    s
}

/// The OOM kills a cgroup reports (v1 `memory.oom_control`, v2 `memory.events`).
pub fn oom_kill_count(text: &str) -> Option<u64> {
    flat_keyed(text).get("oom_kill").copied()
}

/// Every interface of `/proc/<pid>/net/dev`, seen from inside the namespace (rx is what the
/// container received).
pub fn net_dev(text: &str) -> Vec<NetworkInterface> {
    text.lines()
        .filter_map(|l| {
            let (name, nums) = l.split_once(':')?;
            let n: Vec<u64> = nums
                .split_whitespace()
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            (n.len() >= 12).then(|| NetworkInterface {
                name: name.trim().to_string(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            })
        })
        .collect()
}

/// Stats from Proxmox's `GET /nodes/{node}/lxc/{vmid}/status/current` (pve-container
/// src/PVE/LXC.pm `vmstatus`): memory and swap use and limit, network bytes as one `total`
/// interface (`netin`/`netout`, summed over the CT's interfaces), block I/O bytes (`diskread`,
/// `diskwrite`). Proxmox reports no cumulative CPU time, pids, cache or failure counts: those
/// stay empty.
pub fn from_pve_status(v: &serde_json::Value) -> Stats {
    // Proxmox's JSON gives numbers, pvesh's sometimes strings.
    let n = |k: &str| match &v[k] {
        serde_json::Value::Number(x) => x.as_u64().or(x.as_f64().map(|f| f as u64)),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let mut s = Stats::default();
    s.memory.usage.usage = n("mem").unwrap_or(0);
    s.memory.usage.limit = n("maxmem").unwrap_or(0);
    s.memory.swap.usage = n("swap").unwrap_or(0);
    s.memory.swap.limit = n("maxswap").unwrap_or(0);
    let op = |op: &str, value: u64| BlkioEntry {
        op: op.into(),
        value,
        ..Default::default()
    };
    if let (Some(r), Some(w)) = (n("diskread"), n("diskwrite")) {
        s.blkio.io_service_bytes_recursive = vec![op("Read", r), op("Write", w)];
    }
    if let (Some(rx), Some(tx)) = (n("netin"), n("netout")) {
        s.network_interfaces.push(NetworkInterface {
            name: "total".into(),
            rx_bytes: rx,
            tx_bytes: tx,
            ..Default::default()
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn go_durations() {
        let d = parse_go_duration;
        assert_eq!(d("5s"), Some(Duration::from_secs(5)));
        assert_eq!(d("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("250us"), Some(Duration::from_micros(250)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s", "1.2.3s", "ms5"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn v1_files() {
        let f = files(&[
            ("cpuacct.usage", "123456789\n"),
            ("cpuacct.usage_percpu", "100 200 \n"),
            ("cpuacct.stat", "user 3\nsystem 2\n"),
            (
                "cpu.stat",
                "nr_periods 4\nnr_throttled 1\nthrottled_time 99\n",
            ),
            ("memory.usage_in_bytes", "4096\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.max_usage_in_bytes", "8192\n"),
            ("memory.failcnt", "7\n"),
            ("memory.memsw.limit_in_bytes", "67108864\n"),
            ("memory.stat", "cache 10\ntotal_cache 30\nrss 5\n"),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n",
            ),
        ]);
        let s = from_v1(&f);
        assert_eq!(s.cpu.usage.total, 123456789);
        assert_eq!(s.cpu.usage.percpu, vec![100, 200]);
        assert_eq!(s.cpu.usage.user, 30_000_000);
        assert_eq!(s.cpu.usage.kernel, 20_000_000);
        assert_eq!(s.cpu.throttling.throttled_periods, 1);
        assert_eq!(s.cpu.throttling.throttled_time, 99);
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.usage.limit, 0, "unlimited");
        assert_eq!(s.memory.usage.max, 8192);
        assert_eq!(s.memory.usage.failcnt, 7);
        assert_eq!(s.memory.swap.limit, 64 << 20);
        assert_eq!(s.memory.cache, 30, "hierarchical");
        assert_eq!(s.memory.raw["rss"], 5);
        assert_eq!((s.pids.current, s.pids.limit), (3, 0));
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_service_bytes_recursive[1].op, "Write");
        assert_eq!(s.blkio.io_service_bytes_recursive[1].value, 1024);
    }

    #[test]
    fn v2_files() {
        let f = files(&[
            (
                "cpu.stat",
                "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 2\n\
                 nr_throttled 1\nthrottled_usec 5\n",
            ),
            ("memory.current", "4096\n"),
            ("memory.max", "max\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("memory.stat", "anon 100\nfile 200\n"),
            ("pids.current", "2\n"),
            ("pids.max", "64\n"),
            (
                "io.stat",
                "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
        ]);
        let s = from_v2(&f);
        assert_eq!(s.cpu.usage.total, 1_000_000);
        assert_eq!(s.cpu.usage.kernel, 400_000);
        assert_eq!(s.cpu.throttling.throttled_time, 5000);
        assert_eq!((s.memory.usage.usage, s.memory.usage.limit), (4096, 0));
        assert_eq!(s.memory.usage.failcnt, 3);
        assert_eq!(s.memory.cache, 200);
        assert_eq!((s.pids.current, s.pids.limit), (2, 64));
        let b = &s.blkio.io_service_bytes_recursive;
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].major, b[0].minor, b[0].value), (8, 0, 10));
        assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);
        assert_eq!(
            oom_kill_count("low 0\noom 1\noom_kill 2\n"),
            Some(2),
            "memory.events"
        );
    }

    #[test]
    fn net_dev_lines() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  \
eth0:    5000      10    1    2    0     0          0         0     3000       8    3    4    0     0       0          0\n";
        let n = net_dev(text);
        assert_eq!(n.len(), 2);
        assert_eq!(
            n[1],
            NetworkInterface {
                name: "eth0".into(),
                rx_bytes: 5000,
                rx_packets: 10,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 3000,
                tx_packets: 8,
                tx_errors: 3,
                tx_dropped: 4,
            }
        );
    }

    #[test]
    fn pve_status_and_json_shape() {
        let v = serde_json::json!({"status": "running", "mem": 1048576, "maxmem": 536870912,
            "swap": "0", "maxswap": 536870912, "netin": 700, "netout": 300,
            "diskread": 4096, "diskwrite": 0, "cpu": 0.02});
        let s = from_pve_status(&v);
        assert_eq!(s.memory.usage.usage, 1 << 20);
        assert_eq!(s.memory.usage.limit, 512 << 20);
        assert_eq!(s.network_interfaces[0].rx_bytes, 700);
        let line = serde_json::to_value(Event {
            kind: "stats",
            id: "c1",
            data: Some(&s),
        })
        .unwrap();
        assert_eq!(line["type"], "stats");
        assert_eq!(line["id"], "c1");
        assert_eq!(line["data"]["memory"]["usage"]["usage"], 1048576);
        assert_eq!(line["data"]["memory"]["swap"]["limit"], 536870912);
        assert_eq!(line["data"]["network_interfaces"][0]["tx_bytes"], 300);
        assert_eq!(
            line["data"]["blkio"]["ioServiceBytesRecursive"][0]["op"],
            "Read"
        );
        assert!(line["data"]["cpu"]["throttling"].is_object());
        assert!(
            line["data"]["pids"].get("current").is_none(),
            "not reported"
        );
        let oom = serde_json::to_value(Event {
            kind: "oom",
            id: "c1",
            data: None,
        })
        .unwrap();
        assert_eq!(oom, serde_json::json!({"type": "oom", "id": "c1"}));
    }
}
