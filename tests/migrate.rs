//! Moving containers between nodes of a pve-sim cluster (real LXC, one sshd per node at its own
//! address, the API over HTTPS): `migrate` of a created and of a running container (the shim
//! follows the restart migration; refused with an exec session), `evacuate` and `rebalance`.
//! Each node's sshd runs the sim's tools as that node, so a workload that runs after the move
//! runs through the new node's `pct exec`.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::remote::{ApiRemote, Remote};
use common::*;

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

fn ok_line(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A created container moves with its CT; `start` then runs the workload on the new node
/// (whose `pct exec` alone can reach it), and `delete` destroys the CT there.
#[test]
fn a_created_container_moves_and_runs_on_the_new_node_over_ssh() {
    let r = Remote::cluster("migrate_created_ssh", &["sim", "n2"], "");
    let sim = &r.sim;
    let c = create(sim, &sim.bundle("b", "echo ran; exit 3"), "m1");
    let vmid = vmid_of(sim, "m1");
    assert_eq!(r.cts_on("sim"), vec![vmid]);
    let out = ok_line(&sim.run(&["migrate", "m1", "n2"]));
    assert_eq!(out, format!("moved m1 (CT {vmid}) from sim to n2\n"));
    assert_eq!((r.cts_on("sim"), r.cts_on("n2")), (vec![], vec![vmid]));
    assert!(sim
        .sim_root
        .join(format!("etc/pve/nodes/n2/lxc/{vmid}.conf"))
        .exists());
    assert_eq!(node_of(sim, "m1"), "n2");
    assert_eq!(c.status(), "created");
    let st = r.pct_on("n2", &["status", &vmid.to_string()]);
    assert_eq!(String::from_utf8_lossy(&st.stdout), "status: running\n");
    assert_eq!(c.run(3), "ran\n");
    c.delete();
    assert!(r.cts_on("n2").is_empty(), "destroyed on n2");

    // Back to the same node, or to a node that is not there: one line, nothing moved.
    let c = create(sim, &sim.bundle("b2", "true"), "m2");
    let o = sim.run(&["migrate", "m2", "sim"]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("is on node sim already"),
        "{err}"
    );
    let o = sim.run(&["migrate", "m2", "n9"]);
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        !o.status.success() && err.contains("no such cluster node 'n9'"),
        "{err}"
    );
    assert_eq!(node_of(sim, "m2"), "sim");
    c.delete();
}

/// A running container over the API: refused while an exec session runs, then moved by a
/// restart migration; the shim (same pid) starts the workload again on the new node, `kill`
/// reaches it there and its status is the container's.
#[test]
fn a_running_container_follows_its_ct_over_the_api() {
    let r = ApiRemote::new("migrate_running_api", "sim,n2", "sim", "");
    let sim = &r.sim;
    let script = "echo started; trap 'exit 7' TERM; while :; do sleep 0.1; done";
    let c = create(sim, &sim.bundle("b", script), "f1");
    let vmid = vmid_of(sim, "f1");
    c.start();
    wait_for("the workload", Duration::from_secs(20), || {
        c.stdout().contains("started")
    });

    let mut exec = sim
        .runtime()
        .args(["exec", "f1", "sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let o = sim.run(&["migrate", "f1", "n2"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "refused");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("exec sessions run in it"), "{err}");
    assert_eq!(
        (r.cts_on("sim"), node_of(sim, "f1")),
        (vec![vmid], "sim".into())
    );
    let _ = exec.kill();
    let _ = exec.wait();

    let o = sim.run(&["migrate", "f1", "n2"]);
    assert_eq!(
        ok_line(&o),
        format!("moved f1 (CT {vmid}) from sim to n2; its workload restarted there\n")
    );
    assert_eq!((r.cts_on("sim"), r.cts_on("n2")), (vec![], vec![vmid]));
    assert_eq!(node_of(sim, "f1"), "n2");
    assert_eq!(c.status(), "running");
    assert_eq!(sim.state_json("f1")["pid"], c.pid, "the same shim");
    wait_for("the second start", Duration::from_secs(20), || {
        c.stdout().matches("started").count() == 2
    });
    let e = sim.run(&["exec", "f1", "echo", "exec here"]);
    assert_eq!(ok_line(&e), "exec here\n", "exec reaches the CT on n2");
    // One restart, in the state and in the metrics.
    let (n, text) = restarts(sim, "f1", &["node=\"n2\""]);
    assert_eq!(n, Some(1.0), "{text}");
    let k = sim.run(&["kill", "f1", "TERM"]);
    assert!(k.status.success(), "{}", stderr(&k));
    assert_eq!(c.wait(), 7);
    // The shim's own lines: the relaunch on n2, then the workload's end.
    let shim: Vec<serde_json::Value> = sim
        .audit_lines()
        .into_iter()
        .filter(|l| l["caller"]["pid"] == c.pid)
        .collect();
    let got: Vec<(&str, &str)> = shim
        .iter()
        .map(|l| {
            (
                l["operation"].as_str().unwrap(),
                l["node"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("migrate-relaunch", "n2"), ("exit", "n2")],
        "{shim:?}"
    );
    assert_eq!(shim[1]["status"], 7, "{shim:?}");
    assert!(shim
        .iter()
        .all(|l| l["result"] == "ok" && l["vmid"] == vmid && l["id"] == "f1"));
    c.delete();
    assert!(r.cts_on("n2").is_empty(), "destroyed on n2");
}

/// A `kill` that comes while the shim starts the workload again on the new node (the CT moved,
/// the old stand-in is gone, the new one not there yet) reaches the new process: the shim holds
/// it until then, rather than the signal going to the gone stand-in and being lost.
#[test]
fn a_kill_while_the_workload_starts_again_reaches_it() {
    let r = ApiRemote::new("migrate_kill_api", "sim,n2", "sim", "");
    let sim = &r.sim;
    let script = "trap 'echo got-term; exit 7' TERM; echo started; while :; do sleep 0.1; done";
    let c = create(sim, &sim.bundle("b", script), "k1");
    c.start();
    wait_for("the workload", Duration::from_secs(20), || {
        c.stdout().contains("started")
    });
    let migrate = sim
        .runtime()
        .args(["migrate", "k1", "n2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The move is over (the mark emptied) and the shim is starting the workload on n2.
    let mark = sim.state_root.join("k1").join("relocating");
    wait_for("the move to end", Duration::from_secs(60), || {
        std::fs::read(&mark).is_ok_and(|m| m.is_empty())
    });
    let k = sim.run(&["kill", "k1", "TERM"]);
    assert!(k.status.success(), "{}", stderr(&k));
    let m = migrate.wait_with_output().unwrap();
    assert!(
        m.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&m.stderr)
    );
    wait_for("the workload to end", Duration::from_secs(30), || {
        c.status() == "stopped"
    });
    // 7 when its trap ran; 143 when TERM came before the shell set the trap.
    let code = c.wait();
    assert!(
        code == 7 || code == 143,
        "exit status {code}; {}",
        c.stdout()
    );
    if code == 7 {
        assert_eq!(c.stdout().matches("started").count(), 2, "{}", c.stdout());
        assert!(c.stdout().ends_with("got-term\n"), "{}", c.stdout());
    }
    assert!(!mark.exists(), "the shim removed the mark");
    c.delete();
}

/// `evacuate` empties a node, two at a time, each container to another online node; one that
/// cannot move (an exec session runs in it) is one stderr line and the exit status 1; a node
/// that is not in the cluster is one line.
#[test]
fn evacuate_empties_a_node() {
    let r = Remote::cluster("evacuate_ssh", &["sim", "n2", "n3"], "");
    let sim = &r.sim;
    let ids = ["e1", "e2", "e3"];
    let ctrs: Vec<Ctr> = ids
        .iter()
        .map(|id| create(sim, &sim.bundle(id, "echo out; exit 0"), id))
        .collect();
    let busy = create(sim, &sim.bundle("busy", "sleep 60"), "busy");
    busy.start();
    let mut exec = sim
        .runtime()
        .args(["exec", "busy", "sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cts_on("sim").len(), 4);
    let o = sim.run(&["evacuate", "sim", "--parallel", "2"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = stderr(&o);
    assert!(!o.status.success(), "busy could not move");
    assert_eq!(out.lines().count(), 3, "{out}");
    for id in ids {
        assert!(out.contains(&format!("moved {id} (CT ")), "{out}");
        assert_ne!(node_of(sim, id), "sim");
    }
    assert_eq!(
        err.lines().filter(|l| l.contains("busy")).count(),
        1,
        "one line for busy: {err}"
    );
    assert!(err.contains("exec sessions run in it"), "{err}");
    assert_eq!(
        r.cts_on("sim"),
        vec![vmid_of(sim, "busy")],
        "only busy stays"
    );
    assert_eq!(r.cts_on("n2").len() + r.cts_on("n3").len(), 3);
    for c in &ctrs {
        assert_eq!(c.run(0), "out\n");
        c.delete();
    }
    let _ = exec.kill();
    let _ = exec.wait();
    let k = sim.run(&["kill", "busy", "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    busy.wait();
    busy.delete();
    let o = sim.run(&["evacuate", "n9"]);
    assert!(
        !o.status.success() && stderr(&o).contains("no such cluster node 'n9'"),
        "{}",
        stderr(&o)
    );
}

/// `rebalance --dry-run` proposes moving one of two containers off the loaded node and
/// changes nothing; `rebalance` then moves it.
#[test]
fn rebalance_proposes_then_moves() {
    let r = Remote::cluster("rebalance_ssh", &["sim", "n2"], "");
    let sim = &r.sim;
    let a = create(sim, &sim.bundle("a", "true"), "a");
    let b = create(sim, &sim.bundle("b", "true"), "b");
    let va = vmid_of(sim, "a");
    let o = sim.run(&["rebalance", "--dry-run"]);
    assert_eq!(
        ok_line(&o),
        format!("would move a (CT {va}) from sim to n2\n")
    );
    assert_eq!((r.cts_on("sim").len(), r.cts_on("n2").len()), (2, 0));
    let o = sim.run(&["rebalance"]);
    assert_eq!(ok_line(&o), format!("moved a (CT {va}) from sim to n2\n"));
    assert_eq!(r.cts_on("n2"), vec![va]);
    let o = sim.run(&["rebalance", "--dry-run"]);
    assert!(
        ok_line(&o).starts_with("nothing to move: spread 0.00"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    a.delete();
    b.delete();
}

/// The pct backend runs on its node: migration is refused with one line saying why.
#[test]
fn the_pct_backend_refuses() {
    let sim = Sim::new("migrate_pct");
    let c = create(&sim, &sim.bundle("b", "true"), "p1");
    for args in [
        &["migrate", "p1", "n2"][..],
        &["evacuate", "sim"],
        &["rebalance"],
    ] {
        let o = sim.run(args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains("Kubernetes reschedules"), "{err}");
    }
    c.delete();
}
