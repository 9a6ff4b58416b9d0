//! Extended attributes in the templates the remote backends ship: a file capability
//! (`security.capability`, cap_net_raw as `ping` has it) and a `user.*` xattr reach the file in
//! the CT, from a bundle's rootfs directory and from an OCI layer's `SCHILY.xattr.*` records;
//! an xattr Proxmox does not restore (`trusted.*`) does not. A non-root workload running the
//! file gets the capability. The second create of the same rootfs uploads nothing.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::oci::{Layout, Tar, LAYER_GZIP};
use common::remote::Remote;
use common::*;
use proxmox_lxcri::sys::xattr;

const CAP_NET_RAW: u32 = 13;

/// A v2 `vfs_cap_data`: cap_net_raw permitted and effective (what `setcap cap_net_raw+ep` writes).
fn net_raw_blob() -> Vec<u8> {
    let mut v = Vec::new();
    for word in [0x0200_0001u32, 1 << CAP_NET_RAW, 0, 0, 0] {
        v.extend_from_slice(&word.to_le_bytes());
    }
    v
}

/// xattr `name` of `path` itself, `None` when it has none (the runtime's own reader).
fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::list(path)
        .unwrap_or_else(|e| panic!("xattrs of {path:?}: {e}"))
        .into_iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v)
}

fn setxattr(path: &Path, name: &str, value: &[u8]) {
    xattr::set(path, name.as_ref(), value).unwrap_or_else(|e| panic!("{name} on {path:?}: {e}"));
}

/// A bundle whose workload, as uid 1000 (so only a file capability can give it one), prints its
/// capabilities through `/bin/grep` (a copy of busybox, which runs the applet its name says) and then sleeps with `marker` in its
/// command line, for the host to find it.
fn capgrep_bundle(sim: &Sim, name: &str, marker: &str) -> std::path::PathBuf {
    let b = sim.bundle(
        name,
        &format!("/bin/grep Cap /proc/self/status; exec sleep {marker}"),
    );
    edit_spec(&b, |s| {
        s["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
        s["process"]["noNewPrivileges"] = serde_json::json!(false);
        // Without it in the bounding set, exec of a file granting it fails (EPERM).
        s["process"]["capabilities"]["bounding"] = serde_json::json!([
            "CAP_AUDIT_WRITE",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_RAW"
        ]);
    });
    b
}

/// Run `id` (made by create): the workload's effective capabilities, and the xattrs of its
/// `/bin/grep` read on the host through `/proc/<pid>/root`. Killed and deleted after.
fn capgrep_in_ct(sim: &Sim, c: &Ctr, marker: &str) -> (String, [Option<Vec<u8>>; 3]) {
    c.start();
    let mut pid = None;
    wait_for("the workload", Duration::from_secs(30), || {
        // The sleep itself, not the shells and ssh command lines that name it.
        pid = processes_mentioning(&format!("sleep{}{marker}", '\0'))
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c == "sleep\n")
            });
        pid.is_some()
    });
    let file = Path::new("/proc")
        .join(pid.unwrap().to_string())
        .join("root/bin/grep");
    let got = ["security.capability", "user.test", "trusted.test"].map(|n| getxattr(&file, n));
    let k = sim.run(&["kill", &c.id, "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    c.wait();
    let eff = c
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no CapEff in {:?} / {:?}", c.stdout(), c.stderr()));
    c.delete();
    (eff, got)
}

/// The capability blob read back grants cap_net_raw, permitted and effective (a v3 blob when
/// written in the CT's user namespace: the kernel adds the namespace's root uid).
fn grants_net_raw(blob: &[u8]) -> bool {
    let word = |i: usize| u32::from_le_bytes(blob[i * 4..i * 4 + 4].try_into().unwrap());
    blob.len() >= 20 && word(0) & 1 == 1 && word(1) & (1 << CAP_NET_RAW) != 0
}

fn check(sim: &Sim, c: &Ctr, marker: &str) {
    let (eff, [cap, user, trusted]) = capgrep_in_ct(sim, c, marker);
    let cap = cap.expect("security.capability on /bin/grep in the CT");
    assert!(grants_net_raw(&cap), "{cap:02x?}");
    assert_eq!(user.as_deref(), Some(&b"kept"[..]), "user.test");
    assert_eq!(trusted, None, "trusted.* is not restored by Proxmox");
    assert_eq!(
        eff,
        format!("{:016x}", 1u64 << CAP_NET_RAW),
        "the workload's CapEff"
    );
}

#[test]
fn rootfs_xattrs_reach_the_ct() {
    let r = Remote::ssh("xattr_rootfs", "");
    let sim = &r.sim;
    let b = capgrep_bundle(sim, "b", "3101");
    let capgrep = b.join("rootfs/bin/grep");
    std::fs::copy("/bin/busybox", &capgrep).unwrap();
    let out = std::process::Command::new("setcap")
        .arg("cap_net_raw+ep")
        .arg(&capgrep)
        .stdin(Stdio::null())
        .output()
        .expect("setcap (libcap2-bin) is installed");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        getxattr(&capgrep, "security.capability"),
        Some(net_raw_blob())
    );
    setxattr(&capgrep, "user.test", b"kept");
    setxattr(&capgrep, "trusted.test", b"dropped");

    let c = create(sim, &b, "c1");
    let shipped = uploads(sim);
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    check(sim, &c, "3101");

    // The same rootfs again: its template is found by digest, nothing uploaded.
    let c = create(sim, &b, "c2");
    assert_eq!(uploads(sim), shipped, "second create uploaded nothing");
    check(sim, &c, "3101");
    assert!(sim.no_cts());
}

#[test]
fn layer_xattrs_reach_the_ct() {
    let r = Remote::ssh("xattr_layer", "");
    let sim = &r.sim;
    let bb = std::fs::read("/bin/busybox").unwrap();
    let cap = net_raw_blob();
    let layer = Tar::default()
        .dir("./", 0o755)
        .busybox()
        .file_xattrs(
            "bin/grep",
            0o755,
            &bb,
            &[
                ("security.capability", &cap),
                ("user.test", b"kept"),
                ("trusted.test", b"dropped"),
            ],
        )
        .bytes();
    let mut l = Layout::new(&sim.dir.path().join("layout"));
    let id = l.image(&[(LAYER_GZIP, layer)], "amd64", Some("caps"));
    let out = sim.run(&[
        "images",
        "import",
        l.dir.to_str().unwrap(),
        "--storage",
        "local",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shipped = uploads(sim);
    assert_eq!(shipped.len(), 1, "{shipped:?}");

    // A bundle naming the image: create takes the imported template (the bundle's own rootfs
    // has no /bin/grep) and uploads nothing.
    let b = capgrep_bundle(sim, "b", "3102");
    edit_spec(&b, |s| {
        s["annotations"] = serde_json::json!({ "org.proxmox.lxcri/image": id });
    });
    let c = create(sim, &b, "c1");
    assert_eq!(uploads(sim), shipped, "create uploaded nothing");
    check(sim, &c, "3102");
    assert!(sim.no_cts());
}
