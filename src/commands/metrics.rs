//! `metrics`: every container under `--root`, its nodes and the cluster's quorum, once, in
//! Prometheus's text format on stdout (docs/monitoring.md).
//!
//! A container's numbers are what `events --stats` reads (`ctstats`): a local CT's cgroup and
//! `/proc/<init>/net/dev`, a remote CT's `status/current`. Nodes come from the configured
//! backend's `GET /nodes` and `GET /nodes/{node}/storage` (api; `pvesh` for ssh), quorum from
//! `quorum()`. A container whose numbers cannot be read keeps its state line and gets
//! `proxmox_lxcri_container_scrape_error 1` and a stderr line; the exit status is 1 only when
//! nothing at all could be read.

use std::net::{SocketAddr, TcpListener};

use anyhow::{bail, Context};

use super::{out, Ctx};
use crate::backend::cgroup::CtCgroup;
use crate::cli::MetricsArgs;
use crate::ctstats::Stats;
use crate::prom::{Exposition, Kind};
use crate::state::{State, Status};

const P: &str = "proxmox_lxcri_";

pub fn run(ctx: &Ctx, a: &MetricsArgs) -> anyhow::Result<()> {
    if let Some(addr) = a.listen {
        return listen(ctx, addr, a.allow_remote);
    }
    let text = render(ctx)?;
    if !text.is_empty() {
        // render() ends every line; out() adds one more.
        out(text.trim_end_matches('\n'))?;
    }
    Ok(())
}

/// `--listen`: serve [`render`] at `GET /metrics` until SIGTERM or SIGINT (src/httpd.rs).
fn listen(ctx: &Ctx, addr: SocketAddr, allow_remote: bool) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        if !allow_remote {
            bail!("listen address {addr} is not loopback; add --allow-remote to serve metrics to the network");
        }
        let msg = format!(
            "metrics: serving on {addr}, reachable from the network without authentication"
        );
        log::warn!("{msg}");
        eprintln!("warning: {msg}");
    }
    let listener = TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    eprintln!("metrics: serving http://{addr}/metrics");
    crate::httpd::serve(listener, "/metrics", || {
        render(ctx).map_err(|e| format!("{e:#}"))
    })
    .with_context(|| format!("serve metrics on {addr}"))
}

/// One exposition of every container, node and the quorum, read now; an error only when
/// nothing at all could be read.
pub fn render(ctx: &Ctx) -> anyhow::Result<String> {
    crate::pending::sweep(&ctx.root);
    let mut e = Exposition::default();
    let (mut read, mut failed) = (0usize, 0usize);
    for id in crate::state::list_ids(&ctx.root)? {
        // Gone between listing and loading (a concurrent delete): not ours to report.
        let Ok(st) = ctx.dir(&id)?.load() else {
            continue;
        };
        match container(ctx, &st, &mut e) {
            Ok(()) => read += 1,
            Err(err) => {
                failed += 1;
                let msg = format!("container {id}: metrics not read: {err:#}");
                log::warn!("{msg}");
                eprintln!("{msg}");
            }
        }
    }
    let nodes = nodes(ctx, &mut e);
    if read == 0 && failed > 0 && !nodes {
        bail!("no metrics could be read: {failed} container(s) failed and no node answered");
    }
    // This scrape's own backend calls first, so that they are in what it shows.
    crate::opstats::flush();
    crate::opstats::expose(&crate::opstats::load(&ctx.root), &mut e);
    Ok(e.render())
}

/// The labels of a container's samples.
struct Ct {
    id: String,
    vmid: String,
    node: String,
    backend: String,
}

impl Ct {
    fn labels(&self) -> [(&'static str, &str); 4] {
        [
            ("id", &self.id),
            ("vmid", &self.vmid),
            ("node", &self.node),
            ("backend", &self.backend),
        ]
    }
}

fn container(ctx: &Ctx, st: &State, e: &mut Exposition) -> anyhow::Result<()> {
    let backend = ctx.backend(&st.config);
    let ct = Ct {
        id: st.id.clone(),
        vmid: st.vmid.map(|v| v.to_string()).unwrap_or_default(),
        node: st.config.node_name(),
        backend: st.config.backend.name().to_string(),
    };
    let status = st.status();
    let state = status.to_string();
    let mut l = ct.labels().to_vec();
    l.push(("state", &state));
    e.add(
        &format!("{P}container_state"),
        Kind::Gauge,
        "The container's runc state (creating, created, running, paused, stopped) as a label; always 1.",
        &l,
        1.0,
    );
    e.add(
        &format!("{P}container_restarts_total"),
        Kind::Counter,
        "Times the shim started the workload again on another node (HA recovery, restart migration).",
        &ct.labels(),
        st.restarts as f64,
    );
    // A stopped or half-made container has no CT running to ask.
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Ok(());
    }
    let read = || -> anyhow::Result<(Stats, Option<u64>, bool)> {
        let (vmid, init) = crate::access::ct_of(st)?;
        if backend.is_remote() {
            let s = crate::ctstats::from_pve_status(&backend.status_current(vmid)?);
            return Ok((s, None, false));
        }
        let cg = CtCgroup::of(vmid, init)?;
        let mut s = cg.stats();
        let dev = std::fs::read_to_string(format!("/proc/{init}/net/dev")).unwrap_or_default();
        s.network_interfaces = crate::ctstats::net_dev(&dev);
        // Swap alone, as Proxmox reports it for a remote CT.
        if cg.swap_counts_memory() {
            s.memory.swap.usage = s.memory.swap.usage.saturating_sub(s.memory.usage.usage);
        }
        Ok((s, cg.oom_kills(), true))
    };
    let r = read();
    e.add(
        &format!("{P}container_scrape_error"),
        Kind::Gauge,
        "1 when the container's numbers could not be read in this scrape, else 0.",
        &ct.labels(),
        if r.is_ok() { 0.0 } else { 1.0 },
    );
    let (s, oom, local) = r?;
    stats(&ct, &s, oom, local, e);
    Ok(())
}

/// A container's [`Stats`] as samples; `local` says whether CPU, pids and packets were read
/// (Proxmox's status/current has none of them).
fn stats(ct: &Ct, s: &Stats, oom: Option<u64>, local: bool, e: &mut Exposition) {
    if local {
        let l = ct.labels();
        e.add(
            &format!("{P}container_pids"),
            Kind::Gauge,
            "Processes in the container's cgroup.",
            &l,
            s.pids.current as f64,
        );
        for (mode, ns) in [("user", s.cpu.usage.user), ("system", s.cpu.usage.kernel)] {
            let mut all = l.to_vec();
            all.push(("mode", mode));
            e.add(
                &format!("{P}container_cpu_seconds_total"),
                Kind::Counter,
                "CPU time the container's cgroup used, by mode (user, system).",
                &all,
                ns as f64 / 1e9,
            );
        }
        if let Some(n) = oom {
            e.add(
                &format!("{P}container_oom_kills_total"),
                Kind::Counter,
                "Processes the kernel's OOM killer ended in the container's cgroup.",
                &l,
                n as f64,
            );
        }
    }
    stats_common(ct, s, local, e)
}

fn stats_common(ct: &Ct, s: &Stats, packets: bool, e: &mut Exposition) {
    let l = ct.labels();
    let mut add = |name: &str, kind: Kind, help: &str, extra: &[(&str, &str)], v: u64| {
        let mut all = l.to_vec();
        all.extend_from_slice(extra);
        e.add(&format!("{P}container_{name}"), kind, help, &all, v as f64);
    };
    add(
        "memory_usage_bytes",
        Kind::Gauge,
        "Memory the container uses.",
        &[],
        s.memory.usage.usage,
    );
    if s.memory.usage.limit > 0 {
        add(
            "memory_limit_bytes",
            Kind::Gauge,
            "The container's memory limit.",
            &[],
            s.memory.usage.limit,
        );
    }
    add(
        "swap_usage_bytes",
        Kind::Gauge,
        "Swap the container uses.",
        &[],
        s.memory.swap.usage,
    );
    for n in &s.network_interfaces {
        let i = [("interface", n.name.as_str())];
        add(
            "network_receive_bytes_total",
            Kind::Counter,
            "Bytes received, by interface (remote CTs: one interface `total`).",
            &i,
            n.rx_bytes,
        );
        add(
            "network_transmit_bytes_total",
            Kind::Counter,
            "Bytes sent, by interface (remote CTs: one interface `total`).",
            &i,
            n.tx_bytes,
        );
        if packets {
            add(
                "network_receive_packets_total",
                Kind::Counter,
                "Packets received, by interface.",
                &i,
                n.rx_packets,
            );
            add(
                "network_transmit_packets_total",
                Kind::Counter,
                "Packets sent, by interface.",
                &i,
                n.tx_packets,
            );
        }
    }
    let (r, w) = block_io(s);
    if let Some((r, w)) = r.zip(w) {
        let help = "Bytes read from and written to block devices, by op (read, write).";
        add(
            "block_io_bytes_total",
            Kind::Counter,
            help,
            &[("op", "read")],
            r,
        );
        add(
            "block_io_bytes_total",
            Kind::Counter,
            help,
            &[("op", "write")],
            w,
        );
    }
}

/// Bytes read and written over all devices; none when the cgroup or Proxmox has no such entries.
fn block_io(s: &Stats) -> (Option<u64>, Option<u64>) {
    let sum = |op: &str| {
        let v: Vec<u64> = s
            .blkio
            .io_service_bytes_recursive
            .iter()
            .filter(|b| b.op.eq_ignore_ascii_case(op))
            .map(|b| b.value)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    let (r, w) = (sum("read"), sum("write"));
    if r.is_some() || w.is_some() {
        return (r.or(Some(0)), w.or(Some(0)));
    }
    (None, None)
}

/// The configured backend's nodes and quorum; whether any of it answered. The pct backend asks
/// no cluster (its `cluster_load` refuses): no node samples.
fn nodes(ctx: &Ctx, e: &mut Exposition) -> bool {
    let Ok(cfg) = ctx.config() else {
        return false;
    };
    let backend = ctx.backend(&cfg);
    let backend_name = cfg.backend.name();
    let mut any = false;
    match backend.cluster_load() {
        Ok(load) => {
            any = true;
            for n in &load.nodes {
                let l = [("node", n.node.as_str()), ("backend", backend_name)];
                let mut add = |name: &str, help: &str, v: f64| {
                    e.add(&format!("{P}node_{name}"), Kind::Gauge, help, &l, v)
                };
                add(
                    "up",
                    "1 when Proxmox reports the node online, else 0.",
                    f64::from(u8::from(n.status == "online")),
                );
                add(
                    "cpu_usage_ratio",
                    "The node's CPU use as Proxmox reports it (0 to 1 of all its CPUs).",
                    n.cpu,
                );
                add("cpus", "The node's CPUs.", n.maxcpu as f64);
                add("memory_used_bytes", "Memory the node uses.", n.mem as f64);
                add("memory_total_bytes", "The node's memory.", n.maxmem as f64);
                // An offline node's storages would cost a proxy timeout each.
                if n.status != "online" {
                    continue;
                }
                match backend.node_storages(&n.node) {
                    Ok(list) => storages(&n.node, backend_name, &list, e),
                    Err(err) => log::debug!("metrics: node {}: storages not read: {err}", n.node),
                }
            }
        }
        Err(err) => log::debug!("metrics: no node metrics: {err}"),
    }
    match backend.quorum() {
        Ok(Some(q)) => {
            any = true;
            e.add(
                &format!("{P}cluster_quorate"),
                Kind::Gauge,
                "1 when the cluster has quorum (a standalone node always has), else 0.",
                &[("cluster", q.cluster.as_deref().unwrap_or(""))],
                f64::from(u8::from(q.quorate)),
            );
        }
        Ok(None) => {}
        Err(err) => log::debug!("metrics: quorum not read: {err}"),
    }
    any
}

/// The active storages of `GET /nodes/{node}/storage` (`total`, `used`, `avail` in bytes;
/// pvesh may give numbers as strings).
fn storages(node: &str, backend: &str, list: &[serde_json::Value], e: &mut Exposition) {
    use crate::api::lenient;
    for st in list {
        let Some(name) = st.get("storage").and_then(|v| v.as_str()) else {
            continue;
        };
        let n = |k: &str| st.get(k).and_then(lenient::as_u64);
        if n("active") != Some(1) {
            continue;
        }
        let l = [("node", node), ("storage", name), ("backend", backend)];
        for (family, key, help) in [
            (
                "used_bytes",
                "used",
                "Bytes used on the storage, as the node reports them.",
            ),
            (
                "available_bytes",
                "avail",
                "Bytes still available on the storage.",
            ),
            ("size_bytes", "total", "The storage's size."),
        ] {
            if let Some(v) = n(key) {
                e.add(
                    &format!("{P}node_storage_{family}"),
                    Kind::Gauge,
                    help,
                    &l,
                    v as f64,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctstats::{BlkioEntry, NetworkInterface};

    fn ct() -> Ct {
        Ct {
            id: "c1".into(),
            vmid: "9001".into(),
            node: "n1".into(),
            backend: "api".into(),
        }
    }

    #[test]
    fn active_storages_only_with_numbers_from_strings() {
        let list: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"storage": "local", "active": 1, "total": 100, "used": "40", "avail": 60},
                {"storage": "nfs", "active": 0, "total": 5, "used": 1, "avail": 4}]"#,
        )
        .unwrap();
        let mut e = Exposition::default();
        storages("n1", "ssh", &list, &mut e);
        let t = e.render();
        let l = r#"{node="n1",storage="local",backend="ssh"}"#;
        assert!(
            t.contains(&format!("proxmox_lxcri_node_storage_used_bytes{l} 40\n")),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "proxmox_lxcri_node_storage_available_bytes{l} 60\n"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!("proxmox_lxcri_node_storage_size_bytes{l} 100\n")),
            "{t}"
        );
        assert!(!t.contains("nfs"), "{t}");
    }

    #[test]
    fn remote_stats_have_no_cpu_pids_or_packets() {
        let mut s = Stats::default();
        s.memory.usage.usage = 1024;
        s.memory.usage.limit = 4096;
        s.network_interfaces.push(NetworkInterface {
            name: "total".into(),
            rx_bytes: 10,
            tx_bytes: 20,
            ..Default::default()
        });
        s.blkio.io_service_bytes_recursive = vec![BlkioEntry {
            op: "Read".into(),
            value: 7,
            ..Default::default()
        }];
        let mut e = Exposition::default();
        stats(&ct(), &s, None, false, &mut e);
        let t = e.render();
        let l = r#"id="c1",vmid="9001",node="n1",backend="api""#;
        assert!(
            t.contains(&format!(
                "proxmox_lxcri_container_memory_usage_bytes{{{l}}} 1024\n"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "proxmox_lxcri_container_memory_limit_bytes{{{l}}} 4096\n"
            )),
            "{t}"
        );
        assert!(t.contains(&format!("proxmox_lxcri_container_network_receive_bytes_total{{{l},interface=\"total\"}} 10\n")), "{t}");
        assert!(
            t.contains(&format!(
                "proxmox_lxcri_container_block_io_bytes_total{{{l},op=\"read\"}} 7\n"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "proxmox_lxcri_container_block_io_bytes_total{{{l},op=\"write\"}} 0\n"
            )),
            "{t}"
        );
        for absent in ["cpu_seconds", "pids", "packets", "oom"] {
            assert!(!t.contains(absent), "{absent}: {t}");
        }
    }

    #[test]
    fn local_stats_have_cpu_seconds_by_mode_and_oom_kills() {
        let mut s = Stats::default();
        s.cpu.usage.user = 1_500_000_000;
        s.cpu.usage.kernel = 250_000_000;
        s.pids.current = 3;
        let mut e = Exposition::default();
        stats(&ct(), &s, Some(2), true, &mut e);
        let t = e.render();
        assert!(
            t.contains(
                r#"_cpu_seconds_total{id="c1",vmid="9001",node="n1",backend="api",mode="user"} 1.5"#
            ),
            "{t}"
        );
        assert!(t.contains(r#"mode="system"} 0.25"#), "{t}");
        assert!(
            t.contains(r#"_pids{id="c1",vmid="9001",node="n1",backend="api"} 3"#),
            "{t}"
        );
        assert!(
            t.contains(r#"_oom_kills_total{id="c1",vmid="9001",node="n1",backend="api"} 2"#),
            "{t}"
        );
        assert_eq!(
            t.matches("# TYPE proxmox_lxcri_container_cpu_seconds_total counter")
                .count(),
            1
        );
    }
}
