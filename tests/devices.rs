//! `linux.devices` on a pve-sim node: host devices become `devN` entries, which the node turns
//! into device nodes in the CT as Proxmox does; a device the host does not have is refused
//! before anything exists.

mod common;

use common::*;

#[test]
fn a_host_device_becomes_dev_n() {
    let sim = Sim::new("a_host_device_becomes_dev_n");
    let bundle = sim.bundle(
        "b",
        "ls -ln /dev/loop-control; exec 3</dev/loop-control && echo opened; echo ran; exit 5",
    );
    edit_spec(&bundle, |spec| {
        spec["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
            {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237, "fileMode": 432, "gid": 6}
        ]);
        spec["linux"]["resources"] = serde_json::json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 237, "access": "rwm"}
        ]});
    });
    let c = create(&sim, &bundle, "d1");
    let cts = sim.cts();
    assert_eq!(cts.len(), 1);
    let conf =
        String::from_utf8_lossy(&sim.pct(&["config", &cts[0].0.to_string()]).stdout).into_owned();
    // /dev/null is LXC's own: no entry for it.
    assert!(
        conf.contains("dev0: /dev/loop-control,gid=6,mode=0660\n"),
        "{conf}"
    );
    assert!(!conf.contains("dev1:"), "{conf}");
    let out = c.run(5);
    let mut lines = out.lines();
    // A character device 10:237, mode 0660 (fileMode 432), owner 0, group 6, as runc makes it.
    let ls: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(ls[0], "crw-rw----", "{out}");
    assert_eq!(
        (ls[2], ls[3], ls[4], ls[5]),
        ("0", "6", "10,", "237"),
        "{out}"
    );
    assert_eq!(lines.collect::<Vec<_>>(), ["opened", "ran"], "{out}");
    c.delete();
    assert!(sim.no_cts());
}

#[test]
fn a_device_the_host_lacks_is_refused_and_nothing_is_left() {
    let sim = Sim::new("a_device_the_host_lacks");
    let bundle = sim.bundle("b", "true");
    edit_spec(&bundle, |spec| {
        spec["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 999}
        ]);
    });
    let out = sim.run(&["create", "--bundle", bundle.to_str().unwrap(), "d2"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "linux.devices[0]: /dev/loop-control: the host has c 10:237, config.json asks c 10:999"
        ),
        "{err}"
    );
    assert!(sim.no_cts(), "CT left");
    assert!(!sim.state_root.join("d2").exists(), "state dir left");

    // Non-strict: a warning, and the container runs without the device.
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    std::fs::write(&sim.config, format!("strict = false\n{conf}")).unwrap();
    let c = create(&sim, &bundle, "d3");
    let cts = sim.cts();
    let conf =
        String::from_utf8_lossy(&sim.pct(&["config", &cts[0].0.to_string()]).stdout).into_owned();
    assert!(!conf.contains("dev0:"), "{conf}");
    c.run(0);
    c.delete();
}
