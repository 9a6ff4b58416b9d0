//! The mounts CRI-O gives a Kubernetes container: file binds (/etc/hosts, resolv.conf, hostname,
//! termination log), a read-only secret directory under /var/run/secrets where the image has
//! /var/run -> /run, a writable volume, and a tmpfs.

mod common;

use common::*;

#[test]
fn kubernetes_style_mounts() {
    let sim = Sim::new("k8s_mounts");
    let script = "cat /etc/hosts /etc/resolv.conf /etc/hostname; cat /var/run/secrets/kubernetes.io/serviceaccount/token; \
                  echo x > /var/run/secrets/kubernetes.io/serviceaccount/new 2>/dev/null && echo secret-writable || echo secret-readonly; \
                  echo term > /dev/termination-log; echo vol > /data/out; touch /scratch/t && echo tmpfs-ok";
    let bundle = sim.bundle("b", script);
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("run")).unwrap();
    std::fs::create_dir_all(rootfs.join("var")).unwrap();
    std::os::unix::fs::symlink("../run", rootfs.join("var/run")).unwrap();
    let host = sim.dir.path().join("host");
    let secret = host.join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("token"), "tok-123\n").unwrap();
    let volume = host.join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    for (f, text) in [
        ("hosts", "127.0.0.1 localhost k8s-pod\n"),
        ("resolv.conf", "nameserver 192.0.2.53\n"),
        ("hostname", "k8s-pod\n"),
        ("termination-log", ""),
    ] {
        std::fs::write(host.join(f), text).unwrap();
    }
    let h = |f: &str| host.join(f).display().to_string();
    edit_spec(&bundle, |spec| {
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for (src, dst, ro) in [
            (h("hosts"), "/etc/hosts", false),
            (h("resolv.conf"), "/etc/resolv.conf", true),
            (h("hostname"), "/etc/hostname", true),
            (h("termination-log"), "/dev/termination-log", false),
            (
                secret.display().to_string(),
                "/var/run/secrets/kubernetes.io/serviceaccount",
                true,
            ),
            (volume.display().to_string(), "/data", false),
        ] {
            let mut opts = vec!["rbind", "rprivate"];
            if ro {
                opts.push("ro");
            }
            mounts.push(serde_json::json!({"destination": dst, "type": "bind", "source": src, "options": opts}));
        }
        mounts.push(serde_json::json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]}));
    });
    let c = create(&sim, &bundle, "k1");
    let out = c.run(0);
    let err = c.stderr();
    for want in [
        "k8s-pod",
        "nameserver 192.0.2.53",
        "tok-123",
        "secret-readonly",
        "tmpfs-ok",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in {out:?} (stderr {err:?})"
        );
    }
    assert_eq!(
        std::fs::read_to_string(host.join("termination-log")).unwrap(),
        "term\n"
    );
    assert_eq!(
        std::fs::read_to_string(volume.join("out")).unwrap(),
        "vol\n"
    );
    assert!(!secret.join("new").exists(), "ro bind refused the write");
    c.delete();
    assert!(
        secret.join("token").exists() && volume.join("out").exists(),
        "delete keeps bind sources"
    );
    assert!(
        rootfs.join("var/run").is_symlink(),
        "the image's symlink is untouched"
    );
}

#[test]
fn host_paths_reach_proxmox_without_symlinks() {
    // A real node refuses a rootfs or mount point source with a symlink on the way, as CRI-O's
    // /var/run/... paths have: the CT config must name the canonical paths.
    let sim = Sim::new("host_path_links");
    let bundle = sim.bundle("b", "cat /data/in");
    let volume = sim.dir.path().join("real-volume");
    std::fs::create_dir_all(&volume).unwrap();
    std::fs::write(volume.join("in"), "through-link\n").unwrap();
    let link = sim.dir.path().join("link");
    std::os::unix::fs::symlink(sim.dir.path(), &link).unwrap();
    edit_spec(&bundle, |spec| {
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "destination": "/data", "type": "bind",
                "source": link.join("real-volume"), "options": ["rbind", "ro"]
            }));
    });
    // The init binary, configured through a link too.
    let init = sibling_bin("proxmox-lxcri-init");
    let init_link = sim.dir.path().join("init-link");
    std::os::unix::fs::symlink(&init, &init_link).unwrap();
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let init_line = format!("init_path = \"{}\"", init.display());
    assert!(conf.contains(&init_line));
    std::fs::write(
        &sim.config,
        conf.replace(
            &init_line,
            &format!("init_path = \"{}\"", init_link.display()),
        ),
    )
    .unwrap();
    let c = create(&sim, &link.join("b"), "l1");
    let vmid = sim.cts()[0].0;
    let raw = String::from_utf8_lossy(&sim.pct(&["config", &vmid.to_string()]).stdout).into_owned();
    let canonical_init = init.canonicalize().unwrap();
    assert!(
        raw.contains(&format!("lxc.mount.entry: {} ", canonical_init.display())),
        "{raw}"
    );
    let real = sim.dir.path().canonicalize().unwrap();
    let rootfs = sim.conf_value(vmid, "rootfs").unwrap();
    assert_eq!(rootfs, real.join("b/rootfs").display().to_string());
    let mp0 = sim.conf_value(vmid, "mp0").unwrap();
    assert!(
        mp0.starts_with(&format!("{},mp=/data", real.join("real-volume").display())),
        "{mp0}"
    );
    assert_eq!(c.run(0), "through-link\n");
    c.delete();
}
