//! The `api` backend end to end: control through `pve-sim api` over HTTPS with a token and a
//! pinned certificate, process I/O through a real OpenSSH server, CTs as real LXC containers.

mod common;

use std::path::Path;

use common::remote::ApiRemote;
use common::*;

#[test]
fn lifecycle_over_api() {
    let r = ApiRemote::new("lifecycle_over_api", "sim", "sim", "");
    let sim = &r.sim;
    let bundle = sim.bundle(
        "b",
        "echo out:$FOO; echo err >&2; hostname; cat /marker; exit 4",
    );
    std::fs::write(bundle.join("rootfs/marker"), "from-rootfs\n").unwrap();
    edit_spec(&bundle, |spec| {
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=via api".into());
        spec["hostname"] = "api-ct".into();
    });
    let c = create(sim, &bundle, "c1");
    assert_eq!((c.stdout(), c.stderr()), (String::new(), String::new()));
    assert_eq!(sim.state_json("c1")["status"], "created");
    let cts = r.cts_on("sim");
    assert_eq!(cts.len(), 1);
    let out = c.run(4);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["out:via api", "api-ct", "from-rootfs"]
    );
    assert_eq!(c.stderr(), "err\n");
    c.delete();
    assert!(r.cts_on("sim").is_empty(), "gone from /nodes/sim/lxc");
    let images = |args: &[&str]| {
        let out = r.sim.run(&[&["images"], args].concat());
        assert!(out.status.success(), "images {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        images(&[]).lines().count(),
        2,
        "the template stays after delete"
    );
    assert!(images(&["--prune"]).contains("removed local:vztmpl/proxmox-lxcri-"));
    assert_eq!(
        images(&[]).lines().count(),
        1,
        "only the header once pruned"
    );
    let list = sim.run(&["list", "--cluster"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        1,
        "only the header"
    );
}

/// `create` fails with one line naming `want`, and leaves no CT and no state.
fn refused(r: &ApiRemote, id: &str, want: &str) {
    let bundle = r.sim.dir.path().join("b");
    if !bundle.exists() {
        r.sim.bundle("b", "true");
    }
    let out = r
        .sim
        .run(&["create", "--bundle", bundle.to_str().unwrap(), id]);
    assert!(!out.status.success(), "{id}: create succeeded");
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{id}: one line: {err}");
    assert!(err.contains(want), "{id}: {err:?} does not name {want:?}");
    for node in &r.nodes {
        assert!(r.cts_on(node).is_empty(), "{id}: CT left on {node}");
    }
    assert!(!r.sim.state_root.join(id).exists(), "{id}: state dir left");
}

fn set_config(r: &ApiRemote, from: &str, to: &str) {
    let conf = std::fs::read_to_string(&r.sim.config).unwrap();
    assert!(conf.contains(from), "{from} not in config");
    std::fs::write(&r.sim.config, conf.replace(from, to)).unwrap();
}

#[test]
fn refusals_leave_nothing_behind() {
    let r = ApiRemote::new("refusals_leave_nothing_behind", "sim,n2", "sim", "");
    let fp = r.api.fingerprint.clone();
    // Storages that cannot hold CT volumes, refused before anything is uploaded: a stock node's
    // `local` (no rootdir content) and one the node does not list.
    set_config(
        &r,
        "strict = false",
        "strict = false\nrootfs_storage = \"local\"",
    );
    refused(
        &r,
        "nordir",
        "storage 'local' on node sim does not allow content type 'rootdir'",
    );
    set_config(
        &r,
        "rootfs_storage = \"local\"",
        "rootfs_storage = \"nosuch\"",
    );
    refused(&r, "store", "storage 'nosuch' does not exist on node sim");
    let cache = r.sim.sim_root.join("var/lib/vz/template/cache");
    let uploaded = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(uploaded, 0, "a template was uploaded");
    set_config(&r, "\nrootfs_storage = \"nosuch\"", "");
    let wrong = fp.replace(&fp[..2], if &fp[..2] == "00" { "11" } else { "00" });
    set_config(&r, &fp, &wrong);
    refused(&r, "fp", "fingerprint mismatch");
    set_config(&r, &wrong, &fp);

    let good = std::fs::read_to_string(&r.token_file).unwrap();
    std::fs::write(&r.token_file, good.replace("0001", "0002")).unwrap();
    refused(&r, "token", "authentication failed");
    std::fs::write(&r.token_file, &good).unwrap();

    std::process::Command::new("chmod")
        .arg("644")
        .arg(&r.token_file)
        .status()
        .unwrap();
    refused(&r, "mode", "readable by group or others");
    std::process::Command::new("chmod")
        .arg("600")
        .arg(&r.token_file)
        .status()
        .unwrap();

    r.faults(r#"{"status_500": ["POST /nodes/{node}/lxc"]}"#);
    refused(&r, "e500", "simulated failure");
    r.faults(r#"{"fail_task": ["vzcreate"]}"#);
    refused(&r, "task", "simulated task failure");
    // One of two nodes down: no quorum, refused before the node is even looked at (once the
    // runtime no longer trusts the last quorate answer).
    r.faults(r#"{"offline": ["sim"]}"#);
    std::fs::remove_dir_all(r.sim.state_root.join(".nodes")).unwrap();
    refused(&r, "offline", "node sim: cluster pve-sim has no quorum");
    r.faults("{}");
    let c = create(&r.sim, &r.sim.dir.path().join("b"), "ok");
    c.run(0);
    c.delete();
}

#[test]
fn twenty_parallel_creates_on_two_nodes() {
    let r = ApiRemote::new("twenty_parallel_creates", "sim,n2", "auto", "");
    let bundle = r.sim.bundle("b", "true");
    // stderr to files: each shim keeps its container's stdio open, as conmon expects.
    let err = |i: usize| r.sim.dir.path().join(format!("p{i}.err"));
    let children: Vec<_> = (0..20)
        .map(|i| {
            r.sim
                .runtime()
                .args([
                    "create",
                    "--bundle",
                    bundle.to_str().unwrap(),
                    &format!("p{i}"),
                ])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(err(i)).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, mut ch) in children.into_iter().enumerate() {
        let st = ch.wait().unwrap();
        let msg = std::fs::read_to_string(err(i)).unwrap();
        assert!(st.success(), "p{i}: {msg}");
    }
    let mut vmids = Vec::new();
    for i in 0..20 {
        let st: serde_json::Value = serde_json::from_slice(
            &std::fs::read(r.sim.state_root.join(format!("p{i}/state.json"))).unwrap(),
        )
        .unwrap();
        vmids.push(st["vmid"].as_u64().unwrap());
    }
    let mut unique = vmids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 20, "duplicate VMIDs: {vmids:?}");
    let on_nodes: usize = r.nodes.iter().map(|n| r.cts_on(n).len()).sum();
    assert_eq!(on_nodes, 20);
    let images = r.sim.run(&["images"]);
    let listing = String::from_utf8_lossy(&images.stdout).into_owned();
    // The sim's nodes share one `local` dir, so each lists the same single template.
    assert_eq!(
        listing.lines().count(),
        1 + r.nodes.len(),
        "one template for 20 creates: {listing}"
    );
    let list = r.sim.run(&["list", "--cluster", "-q"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 20);
    for i in 0..20 {
        let d = r.sim.run(&["delete", "--force", &format!("p{i}")]);
        assert!(d.status.success(), "delete p{i}: {}", stderr(&d));
    }
    for n in &r.nodes {
        assert!(r.cts_on(n).is_empty(), "left on {n}");
    }
    // Only the node-version cache and the operation counts are left under the state root.
    let left: Vec<_> = Path::new(&r.sim.state_root)
        .read_dir()
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| [".nodes", ".opstats.json", ".opstats.lock"].contains(&n.to_str().unwrap())),
        "{left:?}"
    );
}

#[test]
fn podman_runs_a_container_through_the_api() {
    common::podman::ensure_image();
    let r = ApiRemote::new("podman_over_api", "sim", "sim", "");
    let name = "plx-remote-api";
    let _ = common::podman::podman(&r.sim, &["rm", "-f", name]);
    let out = common::podman::podman(
        &r.sim,
        &[
            "run",
            "--rm",
            "--name",
            name,
            "-e",
            "GREETING=hello api",
            common::podman::IMAGE,
            "sh",
            "-c",
            "echo $GREETING; echo oops >&2; exit 5",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello api\n",
        "stderr: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    assert!(
        r.cts_on("sim").is_empty(),
        "podman's cleanup destroyed the CT"
    );
}

/// podman's default config (its capability set and seccomp profile) is accepted under `strict`
/// on a remote node: the init applies both in the CT, so the workload gets exactly those. Only
/// the network is not podman's: a remote CT cannot join a netns of this host (its network is
/// the runtime config's `net0`), so `--network none` keeps podman from naming one; and Proxmox's
/// API has no key for a pids limit (raw `lxc.cgroup2.pids.max` only), so `--pids-limit 0`.
#[test]
fn podman_defaults_keep_their_capabilities_and_filter_under_strict() {
    common::podman::ensure_image();
    let r = ApiRemote::new("podman_api_strict", "sim", "sim", "strict = true");
    let name = "plx-remote-api-strict";
    let _ = common::podman::podman(&r.sim, &["rm", "-f", name]);
    let out = common::podman::podman(
        &r.sim,
        &[
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            "none",
            "--pids-limit",
            "0",
            common::podman::IMAGE,
            "sh",
            "-c",
            "grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let status = String::from_utf8_lossy(&out.stdout);
    // podman 4.3's defaults: CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP
    // SETGID SETPCAP SETUID SYS_CHROOT.
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert!(
            status.contains(&format!("{set}:\t00000000800405fb")),
            "{set}: {status}"
        );
    }
    assert!(status.contains("Seccomp:\t2"), "filtered: {status}");
    assert!(
        r.cts_on("sim").is_empty(),
        "podman's cleanup destroyed the CT"
    );
}

#[test]
fn state_answers_while_the_node_is_unreachable() {
    let mut r = ApiRemote::new("state_while_unreachable", "sim", "sim", "");
    let bundle = r.sim.bundle("b", "sleep 100");
    let c = create(&r.sim, &bundle, "c1");
    r.api.stop();
    // From local data only: the node is gone.
    assert_eq!(r.sim.state_json("c1")["status"], "created");
    let d = r.sim.run(&["delete", "c1"]);
    assert!(
        !d.status.success(),
        "the CT cannot be destroyed without its node"
    );
    let err = stderr(&d);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("127.0.0.1"), "names the node's address: {err}");
    assert!(
        r.sim.state_root.join("c1").exists(),
        "state kept for a retry once the node is back"
    );
    // The shim still stands for the container; Drop cleans the CT up on the sim directly.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// A token without `VM.Allocate` (pve-sim api --acl): Proxmox's 403 in one line, nothing left;
/// without `Datastore.AllocateTemplate` the upload is refused the same way.
#[test]
fn missing_privileges_refuse_create_leaving_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl.json");
    let write_acl = |vm: &[&str], storage: &[&str]| {
        let v = serde_json::json!({"/vms": vm, "/storage": storage, "/nodes": ["Sys.Audit"]});
        std::fs::write(&acl, v.to_string()).unwrap();
    };
    let remote = || {
        ApiRemote::with_api_args(
            "missing_privileges",
            "sim",
            "sim",
            "",
            &["--acl", acl.to_str().unwrap()],
        )
    };
    let vm_all = [
        "VM.Audit",
        "VM.PowerMgmt",
        "VM.Config.Options",
        "VM.Config.Memory",
        "VM.Config.CPU",
        "VM.Config.Disk",
        "VM.Config.Network",
    ];
    write_acl(
        &vm_all,
        &[
            "Datastore.Audit",
            "Datastore.AllocateSpace",
            "Datastore.AllocateTemplate",
        ],
    );
    let r = remote();
    refused(&r, "noalloc", "Permission check failed");
    drop(r);

    write_acl(&vm_all, &["Datastore.Audit", "Datastore.AllocateSpace"]);
    let r = remote();
    refused(
        &r,
        "noupload",
        "Permission check failed (/storage/local, Datastore.AllocateTemplate)",
    );
}

#[test]
fn old_node_is_refused_before_anything_is_made() {
    // A Proxmox VE 9.0 node: the runtime reads GET /nodes/sim/apt/versions.
    let r = ApiRemote::new("old_node_is_refused", "sim", "sim", "");
    r.sim.set_node_version("6.0.9");
    refused(
        &r,
        "o1",
        "node sim runs pve-container 6.0.9; the api backend needs pve-container 6.0.15 (Proxmox VE 9.1) for entrypoint",
    );
    let images = r.sim.run(&["images"]);
    assert_eq!(
        String::from_utf8_lossy(&images.stdout).lines().count(),
        1,
        "no template uploaded"
    );
}

/// The quorum-loss knob: `create` is refused by `/cluster/status` before anything is made or
/// uploaded; `state` and `list` keep answering; `delete` is refused and keeps the container.
#[test]
fn without_quorum_create_and_delete_are_refused() {
    let r = ApiRemote::new("without_quorum", "sim,n2", "sim", "");
    let knob = r.sim.sim_root.join("pve-sim-no-quorum");
    std::fs::write(&knob, "").unwrap();
    let want = "node sim: cluster pve-sim has no quorum";
    refused(&r, "nq", want);
    let cache = r.sim.sim_root.join("var/lib/vz/template/cache");
    let uploaded = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(uploaded, 0, "a template was uploaded");

    std::fs::remove_file(&knob).unwrap();
    let c = create(&r.sim, &r.sim.dir.path().join("b"), "c1");
    std::fs::write(&knob, "").unwrap();
    assert_eq!(r.sim.state_json("c1")["status"], "created");
    let list = r.sim.run(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout), "c1\n");
    let d = r.sim.run(&["delete", "--force", "c1"]);
    assert!(!d.status.success(), "delete without quorum succeeded");
    let err = stderr(&d);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(want), "{err}");
    assert_eq!(r.cts_on("sim").len(), 1, "the CT stays");

    std::fs::remove_file(&knob).unwrap();
    c.delete();
    assert!(r.cts_on("sim").is_empty());
}
