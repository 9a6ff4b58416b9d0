//! A node failing under a remote container (docs/cluster.md, "Node failure" and "HA"), on a
//! pve-sim cluster of three nodes (quorate with one down) whose nodes are taken down with
//! `pve-sim node down` (CTs killed, node offline, its SSH frozen):
//! * a container without HA is reported stopped with 137 within `cluster.node_timeout`,
//!   `state`/`list`/`delete` answer at once, and `gc` destroys its CT once the node is back;
//! * an HA container's CT is recovered by the HA stand-in (`pve-sim ha-crm`) on another node,
//!   where the shim relaunches the workload.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::remote::{ApiRemote, Remote};
use common::{edit_spec, sibling_bin, stderr, wait_for, Ctr, Sim};

const NODE_TIMEOUT: u64 = 5;

/// `create` with the runtime's log in `<id>.log`.
fn create_logged<'a>(sim: &'a Sim, bundle: &Path, id: &str) -> Ctr<'a> {
    let log = sim.dir.path().join(format!("{id}.log"));
    common::create_with(sim, bundle, id, &["--log".as_ref(), log.as_os_str()])
}

fn log_of(sim: &Sim, id: &str) -> String {
    std::fs::read_to_string(sim.dir.path().join(format!("{id}.log"))).unwrap_or_default()
}

fn add_tables(sim: &Sim, tables: &str) {
    let mut conf = std::fs::read_to_string(&sim.config).unwrap();
    conf.push_str(tables);
    std::fs::write(&sim.config, conf).unwrap();
}

fn set_node(sim: &Sim, node: &str) {
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let conf = conf.replace("node = \"sim\"\n", &format!("node = \"{node}\"\n"));
    std::fs::write(&sim.config, conf).unwrap();
}

fn vmid_of(sim: &Sim, id: &str) -> u32 {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join(id).join("state.json")).unwrap())
            .unwrap();
    st["vmid"].as_u64().unwrap() as u32
}

fn node_of(sim: &Sim, id: &str) -> String {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_root.join(id).join("state.json")).unwrap())
            .unwrap();
    st["config"]["node"].as_str().unwrap().to_string()
}

/// The audit lines of `c`'s shim (its own decisions) as (operation, node, status); each one
/// names the container, succeeded and has the shim as its caller.
fn shim_lines(sim: &Sim, c: &Ctr) -> Vec<(String, String, Option<i64>)> {
    sim.audit_lines()
        .into_iter()
        .filter(|l| l["caller"]["pid"] == c.pid)
        .map(|l| {
            assert_eq!(
                (&l["id"], &l["result"]),
                (&c.id.as_str().into(), &"ok".into()),
                "{l}"
            );
            (
                l["operation"].as_str().unwrap().to_string(),
                l["node"].as_str().unwrap().to_string(),
                l["status"].as_i64(),
            )
        })
        .collect()
}

/// Runs a runtime command, asserting it answered within `within`.
fn timed(sim: &Sim, args: &[&str], within: Duration) -> std::process::Output {
    let t = Instant::now();
    let o = sim.run(args);
    assert!(
        t.elapsed() < within,
        "{args:?} took {:?} while a node is down",
        t.elapsed()
    );
    o
}

/// A three-node cluster (quorate with one node down) whose containers go to `n2`, declared
/// lost after `NODE_TIMEOUT` seconds of silence.
fn cluster_on_n2(name: &str) -> Remote {
    common::require_root();
    let r = Remote::cluster(name, &["sim", "n2", "n3"], "");
    set_node(&r.sim, "n2");
    add_tables(
        &r.sim,
        &format!("\n[cluster]\nnode_timeout = {NODE_TIMEOUT}\n"),
    );
    r
}

#[test]
fn a_non_ha_container_is_reported_stopped_and_gc_destroys_its_ct_once_the_node_is_back() {
    let r = cluster_on_n2("fo_down");
    let sim = &r.sim;
    let c = create_logged(sim, &sim.bundle("b", "echo up; exec sleep 1000"), "d1");
    let vmid = vmid_of(sim, "d1");
    c.start();
    wait_for("the workload", Duration::from_secs(20), || {
        c.stdout() == "up\n"
    });

    let down = Instant::now();
    r.down("n2");
    eprintln!("pve-sim node down took {:?}", down.elapsed());
    assert_eq!(c.wait(), 137, "the container's exit status");
    let took = down.elapsed();
    assert!(
        took < Duration::from_secs(NODE_TIMEOUT + 5),
        "decided after {took:?}"
    );
    assert!(
        log_of(sim, "d1").contains(&format!("CT {vmid}: node n2 stopped answering")),
        "{}",
        log_of(sim, "d1")
    );
    // The shim's decisions, in its own audit lines: the node lost, the workload's end.
    let shim = shim_lines(sim, &c);
    assert_eq!(
        shim,
        [
            ("node-lost".into(), "n2".into(), Some(137)),
            ("exit".into(), "n2".into(), Some(137))
        ],
        "{:?}",
        sim.audit_lines()
    );
    let st = timed(sim, &["state", "d1"], Duration::from_secs(5));
    assert!(st.status.success(), "{}", stderr(&st));
    assert!(String::from_utf8_lossy(&st.stdout).contains("\"stopped\""));
    let l = timed(sim, &["list"], Duration::from_secs(5));
    assert!(l.status.success(), "{}", stderr(&l));
    let d = timed(sim, &["delete", "d1"], Duration::from_secs(5));
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert!(!sim.state_root.join("d1").exists());
    assert_eq!(
        r.cts_on("n2"),
        vec![vmid],
        "pmxcfs keeps the down node's config"
    );

    // gc destroys the CT once the node answers again; while it is down the record stays.
    r.up("n2");
    let gc = sim.run(&["gc"]);
    assert!(gc.status.success(), "gc: {}", stderr(&gc));
    assert!(
        String::from_utf8_lossy(&gc.stdout).contains(&format!("destroyed CT {vmid}")),
        "gc: {}",
        String::from_utf8_lossy(&gc.stdout)
    );
    assert!(r.cts_on("n2").is_empty(), "destroyed on n2");
}

/// A container with a kept volume (docs/storage.md) deleted while its node is down: once the
/// node is back, `gc` stops its CT and keeps it as the volume's holder instead of destroying it,
/// and the next container asking for the name gets the data.
#[test]
fn a_kept_volume_outlives_its_nodes_failure_and_goes_to_the_next_container() {
    let r = cluster_on_n2("fo_keep");
    let sim = &r.sim;
    let kept = |b: &Path| {
        edit_spec(b, |spec| {
            spec["annotations"]["org.proxmox.lxcri/volume.data"] =
                "local-lvm:1,mp=/data,keep=1".into()
        })
    };
    let b1 = sim.bundle("b1", "echo kept > /data/f; echo up; exec sleep 1000");
    kept(&b1);
    let c = create_logged(sim, &b1, "k1");
    let vmid = vmid_of(sim, "k1");
    c.start();
    wait_for("the workload", Duration::from_secs(20), || {
        c.stdout() == "up\n"
    });
    r.down("n2");
    assert_eq!(c.wait(), 137, "the container's exit status");
    let d = timed(sim, &["delete", "k1"], Duration::from_secs(5));
    assert!(d.status.success(), "delete: {}", stderr(&d));

    r.up("n2");
    let gc = sim.run(&["gc"]);
    let out = String::from_utf8_lossy(&gc.stdout);
    assert!(gc.status.success(), "gc: {}", stderr(&gc));
    assert!(
        out.contains(&format!(
            "kept CT {vmid} (container k1, left by delete) as the holder of its volumes"
        )),
        "gc: {out}"
    );
    assert_eq!(r.cts_on("n2"), vec![vmid], "the holder stays");
    let conf = String::from_utf8_lossy(&r.pct_on("n2", &["config", &vmid.to_string()]).stdout)
        .into_owned();
    assert!(conf.contains("proxmox-lxcri holds kept volumes"), "{conf}");
    assert!(!conf.contains("proxmox-lxcri id: k1"), "{conf}");

    let b2 = sim.bundle("b2", "cat /data/f");
    kept(&b2);
    let c2 = create_logged(sim, &b2, "k2");
    assert_eq!(c2.run(0), "kept\n", "the data survived the node's failure");
    c2.delete();
}

/// `pve-sim ha-crm` for the sim, killed when dropped.
struct Crm(Child);

impl Crm {
    fn start(sim: &Sim, fence_delay: &str) -> Crm {
        std::fs::write(sim.sim_root.join("pve-sim-ha-fence-delay"), fence_delay).unwrap();
        let log = File::create(sim.dir.path().join("crm.log")).unwrap();
        Crm(Command::new(sibling_bin("pve-sim"))
            .arg("ha-crm")
            .env("PVE_SIM_ROOT", &sim.sim_root)
            .env("PVE_SIM_NODE", "sim")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap())
    }
}

impl Drop for Crm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ha_config(sim: &Sim) -> String {
    std::fs::read_to_string(sim.sim_root.join("etc/pve/ha/resources.cfg")).unwrap_or_default()
}

#[test]
fn an_ha_container_survives_its_nodes_failure_on_another_node() {
    common::require_root();
    let r = ApiRemote::new("fo_ha", "sim,n2,n3", "n2", "");
    let sim = &r.sim;
    add_tables(
        sim,
        &format!("\n[cluster]\nnode_timeout = {NODE_TIMEOUT}\nha_recovery_timeout = 60\n"),
    );
    let _crm = Crm::start(sim, "1");
    let b = sim.bundle("b", "echo run; exec sleep 1000");
    edit_spec(&b, |s| {
        s["annotations"] = serde_json::json!({"org.proxmox.lxcri/ha": ""});
    });
    let c = create_logged(sim, &b, "h1");
    let vmid = vmid_of(sim, "h1");
    assert!(
        ha_config(sim).contains(&format!("ct: {vmid}\n\tstate started\n")),
        "registered: {:?}",
        ha_config(sim)
    );
    c.start();
    wait_for("the workload", Duration::from_secs(20), || {
        c.stdout() == "run\n"
    });

    let down = Instant::now();
    r.down("n2");
    wait_for(
        "the workload to run again on another node",
        Duration::from_secs(60),
        || c.stdout() == "run\nrun\n",
    );
    eprintln!("HA recovery took {:?}", down.elapsed());
    let node = node_of(sim, "h1");
    assert_ne!(node, "n2");
    assert_eq!(r.cts_on(&node), vec![vmid]);
    assert!(
        log_of(sim, "h1").contains(&format!(
            "CT {vmid}: workload restarted on node {node} after HA recovery from failed node n2"
        )),
        "{}",
        log_of(sim, "h1")
    );
    assert_eq!(c.status(), "running");
    assert_eq!(
        shim_lines(sim, &c),
        [
            ("node-lost".into(), "n2".into(), Some(137)),
            ("ha-relaunch".into(), node.clone(), None)
        ]
    );
    // One restart, in the metrics.
    let (n, text) = common::restarts(sim, "h1", &[]);
    assert_eq!(n, Some(1.0), "{text}");
    // The workload answers on its new node.
    let e = sim.run(&["exec", "h1", "cat", "/proc/1/cmdline"]);
    assert!(e.status.success(), "exec: {}", stderr(&e));

    let k = sim.run(&["kill", "h1", "KILL"]);
    assert!(k.status.success(), "kill: {}", stderr(&k));
    assert_eq!(c.wait(), 137);
    assert_eq!(
        shim_lines(sim, &c).last(),
        Some(&("exit".into(), node.clone(), Some(137)))
    );
    c.delete();
    assert!(r.cts_on(&node).is_empty(), "destroyed on {node}");
    assert!(
        !ha_config(sim).contains(&format!("ct: {vmid}")),
        "unregistered"
    );
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Benchmark, not a test (`contrib/bench/ha.sh` runs it): the time from `pve-sim node down` to
/// the HA container's workload running again on another node, `PLX_BENCH_ROUNDS` rounds (3),
/// with a fence delay of `PLX_BENCH_FENCE_DELAY` seconds (3) and `cluster.node_timeout` 5.
#[test]
#[ignore]
fn bench_ha_recovery() {
    common::require_root();
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let rounds: usize = env("PLX_BENCH_ROUNDS", "3").parse().unwrap();
    let fence = env("PLX_BENCH_FENCE_DELAY", "3");
    let r = ApiRemote::new("fo_bench", "sim,n2,n3", "n2", "");
    let sim = &r.sim;
    add_tables(
        sim,
        "\n[cluster]\nnode_timeout = 5\nha_recovery_timeout = 120\n",
    );
    let _crm = Crm::start(sim, &fence);
    let b = sim.bundle("b", "echo run; exec sleep 1000");
    edit_spec(&b, |s| {
        s["annotations"] = serde_json::json!({"org.proxmox.lxcri/ha": ""});
    });
    let mut times = Vec::new();
    for i in 0..rounds {
        let id = format!("hb{i}");
        let c = create_logged(sim, &b, &id);
        c.start();
        wait_for("the workload", Duration::from_secs(30), || {
            c.stdout() == "run\n"
        });
        let node = node_of(sim, &id);
        let down = Instant::now();
        r.down(&node);
        wait_for("the recovery", Duration::from_secs(180), || {
            c.stdout() == "run\nrun\n"
        });
        let ms = down.elapsed().as_millis();
        eprintln!(
            "round {}: node {node} down -> workload running on {} after {ms} ms",
            i + 1,
            node_of(sim, &id)
        );
        times.push(ms);
        r.up(&node);
        assert!(sim.run(&["kill", &id, "KILL"]).status.success());
        c.wait();
        c.delete();
    }
    eprintln!(
        "HA recovery, fence delay {fence} s, node_timeout 5 s: median {} ms, min {} ms, max {} ms over {rounds} rounds",
        median(times.clone()),
        times.iter().min().unwrap(),
        times.iter().max().unwrap()
    );
}

/// Over SSH: `ha-manager add` at create, the requested state `stopped` once the workload
/// ended (so the LRM leaves the CT down and the exit status stands), `ha-manager remove` at
/// delete.
#[test]
fn an_ha_container_over_ssh_is_registered_stopped_and_unregistered() {
    common::require_root();
    let r = Remote::cluster("fo_ha_ssh", &["sim", "n2", "n3"], "");
    let sim = &r.sim;
    let _crm = Crm::start(sim, "1");
    let b = sim.bundle("b", "echo once; exit 3");
    edit_spec(&b, |s| {
        s["annotations"] = serde_json::json!({"org.proxmox.lxcri/ha": "true"});
    });
    let c = create_logged(sim, &b, "s1");
    let vmid = vmid_of(sim, "s1");
    assert!(
        ha_config(sim).contains(&format!("ct: {vmid}\n\tstate started\n")),
        "{:?}",
        ha_config(sim)
    );
    assert_eq!(c.run(3), "once\n");
    assert!(
        ha_config(sim).contains(&format!("ct: {vmid}\n\tstate stopped\n")),
        "{:?}",
        ha_config(sim)
    );
    // The LRM (a tick every 0.5 s) does not start it again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.stdout(), "once\n");
    assert_eq!(c.status(), "stopped");
    c.delete();
    assert!(!ha_config(sim).contains(&format!("ct: {vmid}")));
    assert!(r.cts_on("sim").is_empty());
}

/// With the pct backend Kubernetes reschedules: HA is refused with one line, nothing is made.
#[test]
fn ha_on_the_pct_backend_is_refused() {
    common::require_root();
    let sim = Sim::new("fo_ha_pct");
    let b = sim.bundle("b", "true");
    edit_spec(&b, |s| {
        s["annotations"] = serde_json::json!({"org.proxmox.lxcri/ha": "prod"});
    });
    let out = sim
        .runtime()
        .args(["create", "--bundle"])
        .arg(&b)
        .arg("p1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("annotations[\"org.proxmox.lxcri/ha\"]: HA needs the ssh or api backend"),
        "{err}"
    );
    assert!(!sim.state_root.join("p1").exists());
    assert!(sim.cts().is_empty());
}
