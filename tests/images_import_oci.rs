//! `images import` of an OCI image layout (and of an oci-archive): layers unpacked in order with
//! their whiteouts into the template uploaded to pve-sim, the image's template found by a later
//! `create` of a bundle naming the image (nothing uploaded), the manifest chosen by platform and
//! `--ref`, and bad images (a blob that does not match its digest, an unknown layer media type, a
//! layer reaching out of the rootfs, a malformed file capability) refused in one line, uploading
//! nothing and leaving no temporary files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::oci::{Layout, Tar, LAYER_GZIP, LAYER_TAR, LAYER_ZSTD};
use common::remote::Remote;
use common::*;

/// The runtime's temporary directory in these tests, to see that nothing is left there.
fn tmp(sim: &Sim) -> PathBuf {
    let t = sim.dir.path().join("tmp");
    std::fs::create_dir_all(&t).unwrap();
    t
}

fn import(sim: &Sim, input: &Path, extra: &[&str]) -> Output {
    let mut c = sim.runtime();
    c.args(["images", "import"]).arg(input);
    c.args(["--storage", "local"]).args(extra);
    c.env("TMPDIR", tmp(sim)).stdin(Stdio::null());
    c.output().unwrap()
}

fn volid_of(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What a template holds: path -> (kind, mode, uid, content or link target).
fn template(sim: &Sim, volid: &str) -> BTreeMap<String, (char, u32, u64, Vec<u8>)> {
    let name = volid.rsplit('/').next().unwrap();
    let file = sim.sim_root.join("var/lib/vz/template/cache").join(name);
    let mut ar = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let h = e.header();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'f',
        };
        let (mode, uid) = (h.mode().unwrap() & 0o7777, h.uid().unwrap());
        let data = match e.link_name().unwrap() {
            Some(t) => t.to_string_lossy().as_bytes().to_vec(),
            None => {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut v).unwrap();
                v
            }
        };
        let path = if path == "." {
            ""
        } else {
            path.trim_start_matches("./")
        };
        out.insert(path.to_string(), (kind, mode, uid, data));
    }
    out
}

/// Three layers (gzip, zstd, plain tar) with a whiteout, a whited-out directory, an opaque
/// directory, a symlink, a hardlink, a set-uid file and a file of another owner.
fn rich_image(dir: &Path) -> (Layout, String) {
    let mut l = Layout::new(dir);
    let base = Tar::default()
        .dir("./", 0o755)
        .busybox()
        .dir("etc", 0o755)
        .file("etc/keep", 0o644, b"kept\n")
        .file("etc/gone", 0o644, b"deleted later\n")
        .dir("opq", 0o755)
        .file("opq/old", 0o644, b"hidden later\n")
        .dir("opq/sub", 0o700)
        .file("opq/sub/deep", 0o644, b"hidden later\n")
        .dir("data", 0o755)
        .file("data/x", 0o644, b"x\n")
        .file("suid", 0o4755, b"#!/bin/sh\n")
        .file_owned("owned", 0o640, (1000, 1000), b"mine\n")
        .symlink("link", "etc/keep")
        .file("marker", 0o644, b"from the image\n")
        .bytes();
    let second = Tar::default()
        .file("etc/.wh.gone", 0o644, b"")
        .dir("opq", 0o755)
        .file("opq/new", 0o600, b"new\n")
        .file("opq/.wh..wh..opq", 0o644, b"")
        .hardlink("hard", "etc/keep")
        .bytes();
    let third = Tar::default()
        .file(".wh.data", 0o644, b"")
        .file("bin/late", 0o700, b"late\n")
        .bytes();
    let id = l.image(
        &[(LAYER_GZIP, base), (LAYER_ZSTD, second), (LAYER_TAR, third)],
        "amd64",
        Some("rich"),
    );
    (l, id)
}

fn check_rich_template(sim: &Sim, volid: &str) {
    let t = template(sim, volid);
    let names: Vec<_> = t.keys().cloned().collect();
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
    for gone in [
        "etc/gone",
        "opq/old",
        "opq/sub",
        "opq/sub/deep",
        "data",
        "data/x",
    ] {
        assert!(!t.contains_key(gone), "{gone} whited out: {names:?}");
    }
    assert_eq!(t["etc/keep"], ('f', 0o644, 0, b"kept\n".to_vec()));
    assert_eq!(t["opq/new"], ('f', 0o600, 0, b"new\n".to_vec()));
    assert_eq!(t["link"], ('l', 0o777, 0, b"etc/keep".to_vec()));
    // A hardlink in the rootfs is packed as a copy (the packer reads files one by one).
    assert_eq!(t["hard"].3, b"kept\n");
    assert_eq!(t["suid"].1, 0o4755);
    assert_eq!(t["owned"], ('f', 0o640, 1000, b"mine\n".to_vec()));
    assert_eq!(t["bin/late"].1, 0o700);
    assert_eq!(t["bin/sh"], ('l', 0o777, 0, b"busybox".to_vec()));
    assert_eq!(t["bin/busybox"].1, 0o755);
    assert_eq!(t[""].0, 'd', "the root itself");
    assert!(t.contains_key(".proxmox-lxcri-init"), "{names:?}");
}

/// A bundle with busybox but without the image's files, whose config.json names `image` in
/// annotation `key`.
fn bundle_naming(sim: &Sim, name: &str, key: &str, image: &str) -> PathBuf {
    let b = sim.bundle(name, "cat /marker");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    spec["annotations"] = serde_json::json!({ key: image });
    write_spec(&b, &spec);
    b
}

/// `input` refused with `want` in one line (after the plain progress lines when found only
/// while unpacking, `unpacking`), nothing uploaded, nothing left in the temporary directory.
fn refused_at(sim: &Sim, input: &Path, extra: &[&str], want: &str, unpacking: bool) {
    let out = import(sim, input, extra);
    assert!(!out.status.success(), "{want}: {}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<_> = err.trim_end().lines().collect();
    let (last, before) = lines.split_last().unwrap();
    assert!(last.contains(want), "{err:?} does not say {want:?}");
    let progress = |l: &&str| {
        ["importing ", "image ", "unpacking layer "]
            .iter()
            .any(|p| l.starts_with(p))
    };
    assert!(
        if unpacking {
            before.iter().all(progress)
        } else {
            before.is_empty()
        },
        "one line: {err}"
    );
    assert!(out.stdout.is_empty());
    assert!(uploads(sim).is_empty(), "nothing uploaded");
    let left: Vec<_> = std::fs::read_dir(tmp(sim)).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

fn refused(sim: &Sim, input: &Path, extra: &[&str], want: &str) {
    refused_at(sim, input, extra, want, false)
}

#[test]
fn layers_whiteouts_and_the_cache_hit_of_create() {
    let r = Remote::ssh("oci_import_rich", "");
    let sim = &r.sim;
    let (layout, id) = rich_image(&sim.dir.path().join("layout"));
    let out = import(sim, &layout.dir, &[]);
    let volid = volid_of(&out);
    let err = stderr(&out);
    for step in [
        "unpacking layer 1/3",
        "unpacking layer 2/3",
        "unpacking layer 3/3",
        "packing",
        "uploading",
    ] {
        assert!(err.contains(step), "progress names {step}: {err}");
    }
    assert!(
        err.contains(&format!("image {id} (3 layers)\nunpacking layer 1/3")),
        "{err}"
    );
    check_rich_template(sim, &volid);
    // Imported again: found by the image ID before anything is unpacked.
    let again = import(sim, &layout.dir, &[]);
    assert_eq!(volid_of(&again), volid);
    assert!(!stderr(&again).contains("unpacking"), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("imported before"),
        "{}",
        stderr(&again)
    );
    let before = uploads(sim);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(
        std::fs::read_dir(tmp(sim)).unwrap().next().is_none(),
        "staging removed"
    );

    // CRI-O names the image ID (hex) in io.kubernetes.cri-o.ImageRef: create takes the imported
    // template, whose /marker the bundle's own rootfs does not have, and uploads nothing.
    let hex = id.trim_start_matches("sha256:");
    let b = bundle_naming(sim, "crio", "io.kubernetes.cri-o.ImageRef", hex);
    let c = create(sim, &b, "c1");
    assert_eq!(uploads(sim), before, "create uploaded nothing");
    assert_eq!(c.run(0).trim(), "from the image");
    c.delete();

    // A malformed org.proxmox.lxcri/image is refused in one line before anything is made.
    let b = bundle_naming(sim, "bad", "org.proxmox.lxcri/image", "latest");
    let out = sim.run(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("org.proxmox.lxcri/image") && err.contains("'latest'"),
        "{err}"
    );
    assert!(sim.no_cts());
}

#[test]
fn bad_images_are_refused_and_leave_nothing() {
    let r = Remote::ssh("oci_import_bad", "");
    let sim = &r.sim;
    let root = sim.dir.path();

    // One byte of the first layer's blob changed, its size kept.
    let (layout, _) = rich_image(&root.join("corrupt"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.dir.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.path_of(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bytes = std::fs::read(layout.path_of(&layer)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(layout.path_of(&layer), bytes).unwrap();
    refused_at(
        sim,
        &layout.dir,
        &[],
        &format!("blob {layer}: content does not match its digest"),
        true,
    );

    // One-layer images refused: (name, media type, layer, refusal, found while unpacking).
    let outside = root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let bzip2 = "application/vnd.oci.image.layer.v1.tar+bzip2";
    let cases = [
        (
            "bzip2",
            bzip2,
            Tar::default().busybox(),
            "media type 'application/vnd.oci.image.layer.v1.tar+bzip2' is not supported",
            false,
        ),
        (
            "dotdot",
            LAYER_TAR,
            Tar::default().raw_file("../escape", b"x"),
            "entry '../escape' leaves the rootfs",
            true,
        ),
        (
            "root-file",
            LAYER_TAR,
            Tar::default().raw_file("./", b"x"),
            "entry './' names the root as something else than a directory",
            true,
        ),
        (
            "hardlink-out",
            LAYER_TAR,
            Tar::default().hardlink("h", "../../etc/passwd"),
            "entry '../../etc/passwd' leaves the rootfs",
            true,
        ),
        // A symlink to a directory outside, then a file written through it.
        (
            "through-link",
            LAYER_TAR,
            Tar::default()
                .symlink("evil", outside.to_str().unwrap())
                .file("evil/pwned", 0o644, b"x"),
            "entry 'evil/pwned' goes through the symlink 'evil'",
            true,
        ),
        // Three bytes are no capability: the kernel refuses to store them.
        (
            "bad-cap",
            LAYER_TAR,
            Tar::default().file_xattrs(
                "ping",
                0o755,
                b"x",
                &[("security.capability", &b"\x01\x02\x03"[..])],
            ),
            "entry 'ping' has xattr security.capability that cannot be set",
            true,
        ),
    ];
    for (name, media_type, tar, want, unpacking) in cases {
        let mut l = Layout::new(&root.join(name));
        l.image(&[(media_type, tar.bytes())], "amd64", None);
        refused_at(sim, &l.dir, &[], want, unpacking);
    }
    assert!(!root.join("escape").exists() && !root.join("tmp/escape").exists());
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing written outside"
    );

    let rootfs = sim.bundle("plain", "true").join("rootfs");
    refused(
        sim,
        &rootfs,
        &["--ref", "x"],
        "--ref picks an image in an OCI image layout",
    );

    // Two images for this platform and no --ref; a --ref naming none.
    let mut l = Layout::new(&root.join("two"));
    l.image(
        &[(LAYER_TAR, Tar::default().busybox().bytes())],
        "amd64",
        Some("a"),
    );
    l.image(
        &[(LAYER_TAR, Tar::default().file("f", 0o644, b"b").bytes())],
        "amd64",
        Some("b"),
    );
    refused(
        sim,
        &l.dir,
        &[],
        "2 manifests for linux/amd64 (a, b); choose one with --ref NAME",
    );
    refused(sim, &l.dir, &["--ref", "c"], "no manifest named 'c'");
    let mut l = Layout::new(&root.join("arm"));
    l.image(
        &[(LAYER_TAR, Tar::default().busybox().bytes())],
        "arm64",
        None,
    );
    refused(sim, &l.dir, &[], "no manifest for linux/amd64");
    refused(
        sim,
        &root.join("corrupt/index.json"),
        &[],
        "index.json: neither a rootfs directory, an image layout nor an oci-archive",
    );
}

#[test]
fn the_platform_and_ref_choose_the_manifest() {
    let r = Remote::ssh("oci_import_choose", "");
    let sim = &r.sim;
    let mut l = Layout::new(&sim.dir.path().join("multi"));
    let marker = |text: &str| {
        Tar::default()
            .busybox()
            .file("marker", 0o644, text.as_bytes())
            .bytes()
    };
    l.image(&[(LAYER_GZIP, marker("arm\n"))], "arm64", Some("x"));
    let amd = l.image(&[(LAYER_GZIP, marker("amd\n"))], "amd64", Some("y"));
    let out = import(sim, &l.dir, &[]);
    let volid = volid_of(&out);
    assert!(stderr(&out).contains(&amd), "{}", stderr(&out));
    assert_eq!(template(sim, &volid)["marker"].3, b"amd\n");
    l.image(&[(LAYER_GZIP, marker("other\n"))], "amd64", Some("z"));
    let out = import(sim, &l.dir, &["--ref", "z"]);
    assert_eq!(template(sim, &volid_of(&out))["marker"].3, b"other\n");

    // On a terminal: one line redrawn in place, per layer, then packing and uploading.
    let mut l = Layout::new(&sim.dir.path().join("three"));
    let layers = [
        (LAYER_GZIP, marker("tty\n")),
        (LAYER_ZSTD, Tar::default().file("a", 0o644, b"a").bytes()),
        (LAYER_TAR, Tar::default().file("b", 0o644, b"b").bytes()),
    ];
    l.image(&layers, "amd64", None);
    let shown = import_on_a_terminal(sim, &l.dir);
    let redrawn = [
        "\runpacking layer 1/3: ",
        "\runpacking layer 3/3: ",
        "\ruploading: ",
    ];
    for step in redrawn.iter().chain(&["(100%)"]) {
        assert!(shown.contains(step), "{step:?} in {shown:?}");
    }
    assert!(shown.contains("local:vztmpl/proxmox-lxcri-"), "{shown:?}");
}

/// An image podman made (`podman import` of busybox-static, no registry), saved with
/// `podman save --format oci-dir` and `oci-archive`: both import to the same template, podman's
/// image ID is the one `images import` reports, and `podman run` naming it in the annotation
/// uploads nothing (without it, it does).
#[test]
fn podman_saved_layouts() {
    common::podman::ensure_image();
    let r = Remote::ssh("oci_import_podman", "");
    let sim = &r.sim;
    let dir = sim.dir.path().join("podman-dir");
    let archive = sim.dir.path().join("podman.tar");
    let docker_dir = sim.dir.path().join("docker-dir");
    let docker_archive = sim.dir.path().join("docker.tar");
    let saves = [
        ("oci-dir", &dir),
        ("oci-archive", &archive),
        ("docker-dir", &docker_dir),
        ("docker-archive", &docker_archive),
    ];
    for (format, dest) in saves {
        let out = Command::new("podman")
            .args(["save", "--format", format, "-o"])
            .arg(dest)
            .arg(common::podman::IMAGE)
            .output()
            .unwrap();
        assert!(out.status.success(), "podman save: {}", stderr(&out));
    }
    let out = Command::new("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            common::podman::IMAGE,
        ])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 64, "{id:?}");

    // podman's other two formats are no OCI layouts.
    refused(
        sim,
        &docker_dir,
        &[],
        "docker-dir: a docker-dir image, not an OCI image layout; save it with --format oci-dir",
    );
    refused(
        sim,
        &docker_archive,
        &[],
        "docker.tar: a docker-archive, not an OCI image layout; save it with --format oci-archive",
    );

    let out = import(sim, &archive, &[]);
    let volid = volid_of(&out);
    assert!(
        stderr(&out).contains(&format!("image sha256:{id} (1 layers)")),
        "{}",
        stderr(&out)
    );
    let t = template(sim, &volid);
    assert_eq!(t["bin/busybox"].1, 0o755);
    assert_eq!(t["bin/sh"].0, 'l');
    let before = uploads(sim);
    assert_eq!(before.len(), 1);

    let out = import(sim, &dir, &[]);
    assert_eq!(volid_of(&out), volid, "the directory is the same image");
    assert!(!stderr(&out).contains("uploading"), "{}", stderr(&out));
    assert_eq!(uploads(sim), before);
    assert!(
        std::fs::read_dir(tmp(sim)).unwrap().next().is_none(),
        "nothing left in TMPDIR"
    );

    // podman itself, with the image ID as annotation: the CT is created from the imported
    // template, nothing uploaded.
    let name = "plx-oci-import";
    let run = |extra: &[&str]| {
        let _ = common::podman::podman(sim, &["rm", "-f", name]);
        let mut args = vec!["run", "--rm", "--name", name];
        args.extend_from_slice(extra);
        args.extend([common::podman::IMAGE, "cat", "/etc/passwd"]);
        let out = common::podman::podman(sim, &args);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "root:x:0:0:root:/root:/bin/sh\n",
            "stderr: {}",
            stderr(&out)
        );
    };
    let annotation = format!("org.proxmox.lxcri/image=sha256:{id}");
    run(&["--annotation", &annotation]);
    assert_eq!(uploads(sim), before, "create uploaded nothing");
    // Without it the bundle's rootfs (podman's overlay: its root 0555 with the container's
    // creation time, an /etc/mtab podman added) is packed, and is not the image's archive.
    run(&[]);
    assert_eq!(uploads(sim).len(), 2, "podman's rootfs is another archive");
    assert!(sim.no_cts());
}
