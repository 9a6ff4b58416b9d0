//! The HA stand-in: `ha-manager` on `etc/pve/ha/resources.cfg`, how `pct start|stop|destroy`
//! treat an HA-managed CT, the API's `/cluster/ha/…`, and `pve-sim ha-crm` recovering a CT of
//! an offline node on another one and restarting a `started` CT that stopped. VMIDs 93901–93949.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{code, err, out, root_node, Node, NODE};
use proxmox_lxcri::api::{client_config, Trust};
use serde_json::Value;

const OTHER: &str = "n2";
const TOKEN: &str = "root@pam!ci=s3cret";

fn ha(n: &Node, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ha-manager"))
        .args(args)
        .env("PVE_SIM_ROOT", &n.root)
        .env("PVE_SIM_NODE", NODE)
        .env_remove("PVE_SIM_VERSION")
        .env_remove("PVE_SIM_PVE_CONTAINER")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn ha_ok(n: &Node, args: &[&str]) -> String {
    let o = ha(n, &[], args);
    assert_eq!(code(&o), 0, "ha-manager {args:?}: {}", err(&o));
    out(&o)
}

/// A running CT `vmid` on `NODE`, in a cluster with members `n2` and `n3`: three, so that it
/// stays quorate with one node down (the CRM, like Proxmox's, acts only with quorum).
fn running_ct(n: &Node, vmid: u32) {
    for m in [OTHER, "n3"] {
        fs::create_dir_all(n.root.join(format!("etc/pve/nodes/{m}/lxc"))).unwrap();
    }
    n.create(vmid, &[]);
    n.ok(&["start", &vmid.to_string()]);
}

fn running(n: &Node, vmid: u32) -> bool {
    let o = Command::new("lxc-info")
        .args(["-n", &vmid.to_string(), "-P"])
        .arg(n.lxc_path())
        .args(["-s", "-H"])
        .output()
        .unwrap();
    out(&o).trim() == "RUNNING"
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `pve-sim ha-crm`, killed when dropped.
struct Crm(Child);

impl Crm {
    fn start(n: &Node) -> Crm {
        let log = fs::File::create(n.dir.path().join("crm.log")).unwrap();
        Crm(Command::new(env!("CARGO_BIN_EXE_pve-sim"))
            .arg("ha-crm")
            .env("PVE_SIM_ROOT", &n.root)
            .env("PVE_SIM_NODE", NODE)
            .env_remove("PVE_SIM_VERSION")
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

fn crm_log(n: &Node) -> String {
    fs::read_to_string(n.dir.path().join("crm.log")).unwrap_or_default()
}

fn set_offline(root: &Path, nodes: &[&str]) {
    fs::write(
        root.join("api-faults.json"),
        serde_json::json!({ "offline": nodes }).to_string(),
    )
    .unwrap();
}

#[test]
fn ha_manager_add_set_remove_and_pct_on_a_managed_ct() {
    let Some(n) = root_node() else { return };
    running_ct(&n, 93901);
    let o = ha(&n, &[], &["add", "93999"]);
    assert_eq!(
        err(&o),
        "unable to detect SID from VMID - VM/CT 93999 does not exist\n"
    );
    assert_eq!(code(&o), 255);
    ha_ok(
        &n,
        &[
            "add",
            "ct:93901",
            "--state",
            "started",
            "--max_restart",
            "2",
        ],
    );
    assert_eq!(
        fs::read_to_string(n.root.join("etc/pve/ha/resources.cfg")).unwrap(),
        "ct: 93901\n\tmax_restart 2\n\tstate started\n\n"
    );
    assert_eq!(
        err(&ha(&n, &[], &["add", "93901"])),
        "create resource failed: resource ID 'ct:93901' already defined\n"
    );
    // Proxmox VE 9 migrated groups to rules; 8.4 still has them.
    assert_eq!(
        err(&ha(&n, &[], &["set", "ct:93901", "--group", "prod"])),
        "invalid parameter 'group': ha groups have been migrated to rules\n"
    );
    let o = ha(
        &n,
        &[("PVE_SIM_VERSION", "8.4.14")],
        &["set", "ct:93901", "--group", "prod"],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        ha_ok(&n, &["config"]),
        "ct:93901\n\tgroup prod\n\tmax_restart 2\n\tstate started\n\n"
    );

    // pct goes through the HA stack (Status.pm): a stop request becomes the state `stopped`,
    // which the LRM carries out (no CRM runs here, so the CT keeps running).
    let o = n.pct(&["stop", "93901"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "Requesting HA stop for CT 93901\n");
    assert!(ha_ok(&n, &["config"]).contains("\tstate stopped\n"));
    assert!(running(&n, 93901));
    let o = n.pct(&["destroy", "93901", "--force", "1"]);
    assert_eq!(
        err(&o),
        "unable to remove CT 93901 - used in HA resources and purge parameter not set.\n"
    );
    assert!(n.conf_path(93901).exists());

    let status = ha_ok(&n, &["status"]);
    assert!(status.starts_with("quorum OK\n"), "{status}");
    assert!(
        status.contains(&format!("service ct:93901 ({NODE}, queued)\n")),
        "{status}"
    );

    // A purging destroy removes the resource too.
    let o = n.pct(&["destroy", "93901", "--force", "1", "--purge", "1"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).contains("NOTE: removed CT 93901 from HA resource configuration.\n"));
    assert_eq!(ha_ok(&n, &["config"]), "");
    assert_eq!(
        err(&ha(&n, &[], &["remove", "ct:93901"])),
        "cannot delete service 'ct:93901', not HA managed!\n"
    );
}

#[test]
fn crm_recovers_the_cts_of_an_offline_node_after_the_fence_delay() {
    let Some(n) = root_node() else { return };
    running_ct(&n, 93911);
    ha_ok(&n, &["add", "ct:93911", "--state", "started"]);
    fs::write(n.root.join("pve-sim-ha-fence-delay"), "1.5").unwrap();
    let _crm = Crm::start(&n);
    wait_for("the CRM's first round", 10, || {
        ha_ok(&n, &["status"]).contains("service ct:93911 (simnode, started)")
    });

    // The node fails: its CTs die and it goes offline (what `pve-sim node down` does).
    let down = Instant::now();
    Command::new("lxc-stop")
        .args(["-n", "93911", "-P"])
        .arg(n.lxc_path())
        .arg("--kill")
        .status()
        .unwrap();
    set_offline(&n.root, &[NODE]);
    let moved = n.root.join(format!("etc/pve/nodes/{OTHER}/lxc/93911.conf"));
    wait_for("the recovery", 30, || moved.exists() && running(&n, 93911));
    assert!(
        down.elapsed() >= Duration::from_millis(1500),
        "recovered before the fence delay: {:?}",
        down.elapsed()
    );
    assert!(!n.conf_path(93911).exists());
    assert!(
        crm_log(&n).contains(&format!(
            "recover service 'ct:93911' from fenced node '{NODE}' to node '{OTHER}'"
        )),
        "{}",
        crm_log(&n)
    );
    wait_for("the status", 10, || {
        ha_ok(&n, &["status"]).contains(&format!("service ct:93911 ({OTHER}, started)"))
    });

    // The LRM starts a `started` CT that stopped by itself, and leaves a `stopped` one.
    set_offline(&n.root, &[]);
    let id = "93911";
    let stop = |n: &Node| {
        Command::new("lxc-stop")
            .args(["-n", id, "-P"])
            .arg(n.lxc_path())
            .arg("--kill")
            .status()
            .unwrap()
    };
    stop(&n);
    wait_for("the LRM's restart", 15, || running(&n, 93911));
    ha_ok(&n, &["set", "ct:93911", "--state", "stopped"]);
    wait_for("the LRM's stop", 15, || !running(&n, 93911));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!running(&n, 93911), "a stopped resource stays stopped");
    // Cleanup through the CT's new node.
    ha_ok(&n, &["remove", "ct:93911"]);
    let o = n.pct_env(&[("PVE_SIM_NODE", OTHER)], &["destroy", id, "--force", "1"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
}

struct Api {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Api {
    fn start(n: &Node) -> Api {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pve-sim"))
            .args(["api", "--listen", "127.0.0.1:0", "--nodes"])
            .arg(format!("{NODE},{OTHER}"))
            .args(["--token", TOKEN, "--auth-delay-ms", "0", "--tls-dir"])
            .arg(n.dir.path().join("tls"))
            .env("PVE_SIM_ROOT", &n.root)
            .env_remove("PVE_SIM_VERSION")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let rest = line.trim().strip_prefix("listening on ").unwrap();
        let (url, fp) = rest.split_once(" fingerprint ").unwrap();
        let cfg = client_config(&Trust::Pin(fp.parse().unwrap())).unwrap();
        let agent = ureq::AgentBuilder::new()
            .tls_config(cfg)
            .timeout(Duration::from_secs(60))
            .build();
        Api {
            child,
            base: format!("{url}/api2/json"),
            agent,
        }
    }

    fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("PVEAPIToken={TOKEN}"));
        let res = if form.is_empty() {
            r.call()
        } else {
            r.send_form(form)
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let code = resp.status();
        let body = serde_json::from_str(&resp.into_string().unwrap()).unwrap_or(Value::Null);
        (code, body)
    }
}

#[test]
fn api_ha_resources_and_status() {
    let Some(n) = root_node() else { return };
    running_ct(&n, 93921);
    let api = Api::start(&n);
    let (c, b) = api.call(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "ct:93921"), ("state", "started")],
    );
    assert_eq!(c, 200, "{b}");
    let (c, b) = api.call("POST", "/cluster/ha/resources", &[("sid", "93921")]);
    assert_eq!(
        (c, b["message"].as_str()),
        (
            500,
            Some("create resource failed: resource ID 'ct:93921' already defined\n")
        )
    );
    let (c, b) = api.call(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "ct:93921"), ("state", "on")],
    );
    assert_eq!(c, 400, "{b}");
    assert!(b["errors"]["state"].is_string(), "{b}");
    let (_, b) = api.call("GET", "/cluster/ha/resources", &[]);
    assert_eq!(b["data"][0]["sid"], "ct:93921");
    assert_eq!(b["data"][0]["state"], "started");
    let (c, _) = api.call(
        "PUT",
        "/cluster/ha/resources/ct:93921",
        &[("comment", "by test")],
    );
    assert_eq!(c, 200);
    let (_, b) = api.call("GET", "/cluster/ha/resources/93921", &[]);
    assert_eq!(b["data"]["comment"], "by test");
    let (_, b) = api.call(
        "GET",
        &format!("/nodes/{NODE}/lxc/93921/status/current"),
        &[],
    );
    assert_eq!(b["data"]["ha"]["managed"], 1);
    let (_, b) = api.call("GET", "/cluster/ha/status/current", &[]);
    let svc = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "service:ct:93921")
        .cloned()
        .unwrap();
    assert_eq!(svc["node"], NODE);
    assert_eq!(svc["request_state"], "started");
    let (c, _) = api.call("DELETE", "/cluster/ha/resources/ct:93921", &[]);
    assert_eq!(c, 200);
    let (c, b) = api.call("DELETE", "/cluster/ha/resources/ct:93921", &[]);
    assert_eq!(
        (c, b["message"].as_str()),
        (
            500,
            Some("cannot delete service 'ct:93921', not HA managed!\n")
        )
    );
    let (_, b) = api.call(
        "GET",
        &format!("/nodes/{NODE}/lxc/93921/status/current"),
        &[],
    );
    assert_eq!(b["data"]["ha"]["managed"], 0);
}
