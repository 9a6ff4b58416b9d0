//! Storage: a stock node's `storage.cfg` (`local` for templates, the thin pool `local-lvm` for
//! CT volumes), OS templates as `vztmpl` volumes, CT volumes on lvmthin and on a dir storage
//! (extracted with the CT's id mapping), their removal, and `pvesm`. VMIDs 93501-93599.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{code, err, out, owner, pack, root_node, Node, NODE};

const PVESM: &str = env!("CARGO_BIN_EXE_pvesm");

fn pvesm(n: &Node, args: &[&str]) -> Output {
    Command::new(PVESM)
        .args(args)
        .env("PVE_SIM_ROOT", &n.root)
        .env("PVE_SIM_NODE", NODE)
        .stdin(Stdio::null())
        .output()
        .expect("running pvesm")
}

fn vz(n: &Node) -> PathBuf {
    n.root.join("var/lib/vz")
}

/// Packs the test rootfs as `template/cache/<name>` (where uploads land), `tar` flags for the
/// compression, and returns its size.
fn make_template(n: &Node, name: &str, tar_flags: &[&str]) -> u64 {
    let cache = vz(n).join("template/cache");
    fs::create_dir_all(&cache).unwrap();
    pack(&n.rootfs, &cache.join(name), tar_flags);
    fs::metadata(cache.join(name)).unwrap().len()
}

/// Where the sim keeps the LV `vm-<vmid>-disk-<disk>` of the stock `local-lvm` (VG `pve`,
/// thin pool `data`).
fn lv(n: &Node, vmid: u32, disk: u32) -> PathBuf {
    n.root.join(format!(
        "var/lib/pve-sim-lvm/pve/data/vm-{vmid}-disk-{disk}"
    ))
}

/// Where the sim mounts the image volume `<sid>:<volname>` while its CT runs.
fn volume_mount(n: &Node, sid: &str, volname: &str) -> PathBuf {
    n.root.join("run/pve-sim/volumes").join(sid).join(volname)
}

/// Whether something is mounted on `dir`.
fn mounted(dir: &std::path::Path) -> bool {
    let want = format!(" {} ", dir.display());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(&want))
}

/// Loop devices backed by a file under `dir`.
fn loops_under(dir: &std::path::Path) -> String {
    let o = Command::new("losetup").arg("-a").output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(&*dir.to_string_lossy()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Adds a dir storage `ct` for CT volumes at `<tmp>/ct` and returns its path.
fn add_dir_storage(n: &Node) -> PathBuf {
    let path = n.dir.path().join("ct");
    fs::create_dir_all(&path).unwrap();
    let cfg = n.root.join("etc/pve/storage.cfg");
    // The first pvesm call writes the stock file.
    assert_eq!(code(&pvesm(n, &["status"])), 0);
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "
dir: ct
	path {}
	content rootdir,images
",
        path.display()
    ));
    fs::write(&cfg, text).unwrap();
    path
}

#[test]
fn template_volume_becomes_an_unprivileged_ct_on_lvmthin() {
    let Some(n) = root_node() else { return };
    make_template(&n, "x.tar", &[]);
    let o = n.create_from(
        93501,
        "local:vztmpl/x.tar",
        "local-lvm:1",
        &[
            "--mp0",
            "local-lvm:0.5,mp=/mnt/data",
            "--unprivileged",
            "1",
            "--memory",
            "64",
        ],
    );
    let tmpl = vz(&n).join("template/cache/x.tar");
    assert!(o.starts_with(&format!("extracting archive '{}'\n", tmpl.display())));
    let conf = n.conf(93501);
    assert!(
        conf.contains("rootfs: local-lvm:vm-93501-disk-0,size=1G\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp0: local-lvm:vm-93501-disk-1,mp=/mnt/data,size=512M\n"),
        "{conf}"
    );
    let shown = n.ok(&["config", "93501"]);
    assert!(shown.contains("rootfs: local-lvm:vm-93501-disk-0,size=1G\n"));

    // Extracted inside the CT's user namespace: on the host everything is 100000-owned.
    let root = lv(&n, 93501, 0);
    assert_eq!(owner(&root), (100_000, 100_000));
    assert_eq!(owner(&root.join("bin/busybox")), (100_000, 100_000));
    assert_eq!(owner(&root.join("bin/sh")), (100_000, 100_000));
    assert_eq!(
        fs::read_to_string(root.join("etc/hello")).unwrap(),
        "hello from the image\n"
    );
    // The sized mount point is an ext4 image (a file standing in for the LV's device).
    assert!(lv(&n, 93501, 1).is_file());

    // `pvesm path` names the LV's device, as on a node.
    let o = pvesm(&n, &["path", "local-lvm:vm-93501-disk-0"]);
    assert_eq!(out(&o), "/dev/pve/vm-93501-disk-0\n");
    let o = pvesm(&n, &["list", "local-lvm", "--vmid", "93501"]);
    assert_eq!(
        out(&o),
        "Volid                     Format  Type           Size VMID\n\
         local-lvm:vm-93501-disk-0 raw     rootdir           0 93501\n\
         local-lvm:vm-93501-disk-1 raw     rootdir   536870912 93501\n"
    );

    let o = n.pct(&["start", "93501"]);
    assert_eq!(code(&o), 0, "start: {}", err(&o));
    let lxc = fs::read_to_string(n.lxc_path().join("93501/config")).unwrap();
    assert!(lxc.contains(&format!("lxc.rootfs.path = dir:{}\n", root.display())));
    assert!(lxc.contains("lxc.idmap = u 0 100000 65536\n"));
    assert!(
        !lxc.contains("idmap=container"),
        "files are already shifted: {lxc}"
    );
    assert!(lxc.contains("lxc.init.cmd = /bin/sleep 100000\n"));
    let o = n.sh_ok(
        93501,
        "id -u; stat -c %u:%g /bin/busybox /etc/hello /; cat /etc/hello; echo hi > /mnt/data/f",
    );
    assert_eq!(o, "0\n0:0\n0:0\n0:0\nhello from the image\n");
    let mnt = volume_mount(&n, "local-lvm", "vm-93501-disk-1");
    assert_eq!(owner(&mnt.join("f")), (100_000, 100_000));
    n.ok(&["stop", "93501"]);
    assert!(!mounted(&mnt), "unmounted at stop");

    n.ok(&["destroy", "93501", "--purge", "1"]);
    assert!(!root.exists() && !lv(&n, 93501, 1).exists());
    assert!(tmpl.exists(), "the template stays");
    assert!(!n.conf_path(93501).exists());
}

#[test]
fn privileged_ct_from_a_compressed_template_with_the_default_rootfs() {
    let Some(n) = root_node() else { return };
    make_template(&n, "y.tar.gz", &["-z"]);
    let ct = add_dir_storage(&n);
    n.track(93502);
    let create = |extra: &[&str]| {
        let mut args = vec![
            "create",
            "93502",
            "local:vztmpl/y.tar.gz",
            "--unprivileged",
            "0",
        ];
        args.extend(["--ostype", "unmanaged", "--arch", "amd64"]);
        args.extend(extra);
        n.pct(&args)
    };
    // No --rootfs: Proxmox allocates `<storage>:4`, and `--storage` defaults to `local`, which
    // holds no CT volumes on a stock node.
    let o = create(&[]);
    assert_eq!(
        (code(&o), err(&o)),
        (
            255,
            "400 Parameter verification failed.\n\
             storage: storage 'local' does not support container directories\n\
             pct create <vmid> <ostemplate> [OPTIONS]\n"
                .to_string()
        )
    );
    assert!(!n.conf_path(93502).exists());
    // A dir storage with `rootdir` content makes directory volumes ("subvol").
    let o = create(&["--storage", "ct"]);
    assert_eq!(code(&o), 0, "create: {}", err(&o));
    assert!(n
        .conf(93502)
        .contains("rootfs: ct:93502/subvol-93502-disk-0.subvol,size=4G\n"));
    let root = ct.join("images/93502/subvol-93502-disk-0.subvol");
    assert_eq!(owner(&root.join("bin/busybox")), (0, 0));
    let o = pvesm(&n, &["path", "ct:93502/subvol-93502-disk-0.subvol"]);
    assert_eq!(out(&o), format!("{}\n", root.display()));
    let o = pvesm(&n, &["list", "ct"]);
    assert_eq!(
        out(&o),
        "Volid                               Format  Type      Size VMID\n\
         ct:93502/subvol-93502-disk-0.subvol subvol  rootdir   0 93502\n"
    );
    // Without --purge too: a CT's own volumes go with it.
    n.ok(&["destroy", "93502"]);
    assert!(!root.exists() && !ct.join("images/93502").exists());
}

#[test]
fn failed_creates_leave_no_volume_and_no_config() {
    let Some(n) = root_node() else { return };
    make_template(&n, "x.tar", &[]);
    n.track(93503);
    let create = |tmpl: &str, rootfs: &str, env: &[(&str, &str)]| {
        n.pct_env(
            env,
            &[
                "create",
                "93503",
                tmpl,
                "--rootfs",
                rootfs,
                "--ostype",
                "unmanaged",
                "--arch",
                "amd64",
            ],
        )
    };
    let nothing_left = || {
        assert!(!n.conf_path(93503).exists());
        assert!(!lv(&n, 93503, 0).exists());
    };
    for (tmpl, rootfs, msg) in [
        (
            "local:vztmpl/missing.tar",
            "local-lvm:1",
            "volume 'local:vztmpl/missing.tar' does not exist\n",
        ),
        (
            "local:vztmpl/x.zip",
            "local-lvm:1",
            "unable to parse directory volume name 'vztmpl/x.zip'\n",
        ),
        (
            "local:93503/subvol-93503-disk-0.subvol",
            "local-lvm:1",
            "unable to use volume local:93503/subvol-93503-disk-0.subvol - content type needs to be 'vztmpl'\n",
        ),
        // A thin pool holds no templates: its volume names are LV names.
        (
            "local-lvm:vztmpl/x.tar",
            "local-lvm:1",
            "lvm name 'vztmpl/x.tar' contains illegal characters\n",
        ),
        (
            "local-lvm:vm-93503-disk-0",
            "local-lvm:1",
            "unable to use volume local-lvm:vm-93503-disk-0 - content type needs to be 'vztmpl'\n",
        ),
        ("nope:vztmpl/x.tar", "local-lvm:1", "storage 'nope' does not exist\n"),
        ("local:vztmpl/x.tar", "nope:1", "storage 'nope' does not exist\n"),
    ] {
        let o = create(tmpl, rootfs, &[]);
        assert_eq!((code(&o), err(&o)), (255, msg.to_string()), "{tmpl} {rootfs}");
        nothing_left();
    }

    // A storage without `rootdir` content cannot hold CT volumes: the stock `local`, or any.
    let o = create("local:vztmpl/x.tar", "local:1", &[]);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\n\
         storage: storage 'local' does not support container directories\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    nothing_left();
    let cfg = n.root.join("etc/pve/storage.cfg");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\ndir: tmpl\n\tpath {}\n\tcontent vztmpl\n",
        vz(&n).display()
    ));
    fs::write(&cfg, text).unwrap();
    let o = create("local:vztmpl/x.tar", "tmpl:1", &[]);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\n\
         storage: storage 'tmpl' does not support container directories\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    nothing_left();

    // Failures after the volume exists: a broken archive, and the injected create fault.
    fs::write(vz(&n).join("template/cache/bad.tar.gz"), "not gzip").unwrap();
    let o = create("local:vztmpl/bad.tar.gz", "local-lvm:1", &[]);
    assert_eq!(code(&o), 255);
    assert!(
        err(&o).starts_with("unable to create CT 93503 - command '"),
        "{}",
        err(&o)
    );
    nothing_left();
    let o = create(
        "local:vztmpl/x.tar",
        "local-lvm:1",
        &[("PVE_SIM_FAIL", "create")],
    );
    assert_eq!(code(&o), 255);
    nothing_left();
    assert!(
        n.root.join("var/lib/pve-sim-lvm/pve/data").is_dir(),
        "the thin pool stays"
    );
}

#[test]
fn pvesm_lists_resolves_frees_and_reports_storages() {
    let Some(n) = root_node() else { return };
    let a = make_template(&n, "a.tar.zst", &["--zstd"]);
    let b = make_template(&n, "b.tar", &[]);
    // Column widths follow the longest volume ID and the largest size; volumes without an
    // owner come sorted by format.
    let w = a.max(b).to_string().len();
    let o = pvesm(&n, &["list", "local", "--content", "vztmpl"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        out(&o),
        format!(
            "Volid                  Format  Type      {:>w$} VMID\n\
             local:vztmpl/b.tar     ttar    vztmpl    {b:>w$}\n\
             local:vztmpl/a.tar.zst tzst    vztmpl    {a:>w$}\n",
            "Size"
        )
    );
    let cfg = fs::read_to_string(n.root.join("etc/pve/storage.cfg")).unwrap();
    assert_eq!(
        cfg,
        format!(
            "dir: local\n\tpath {}\n\tcontent iso,vztmpl,backup\n\n\
             lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n",
            vz(&n).display()
        )
    );
    // The thin pool has no templates; its content types are rootdir and images only.
    let o = pvesm(&n, &["list", "local-lvm", "--content", "vztmpl"]);
    assert_eq!(
        (code(&o), out(&o).as_str()),
        (0, "Volid Format  Type      Size VMID\n")
    );

    let o = pvesm(&n, &["path", "local:vztmpl/a.tar.zst"]);
    assert_eq!(
        out(&o),
        format!("{}\n", vz(&n).join("template/cache/a.tar.zst").display())
    );
    let o = pvesm(&n, &["free", "local:vztmpl/a.tar.zst"]);
    assert_eq!(
        (code(&o), out(&o)),
        (0, "Removed volume 'local:vztmpl/a.tar.zst'\n".into())
    );
    assert!(!vz(&n).join("template/cache/a.tar.zst").exists());
    let o = pvesm(&n, &["free", "b.tar"]);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\n\
         volume: no storage specified - incomplete volume ID\n\
         pvesm free <volume> [OPTIONS]\n"
    );
    let o = pvesm(&n, &["free", "vztmpl/b.tar", "--storage", "local"]);
    assert_eq!(out(&o), "Removed volume 'local:vztmpl/b.tar'\n");
    let o = pvesm(&n, &["list", "local"]);
    assert_eq!(out(&o), "Volid Format  Type      Size VMID\n");

    let o = pvesm(&n, &["path", "bad"]);
    assert_eq!(
        (code(&o), err(&o)),
        (
            255,
            "400 Parameter verification failed.\n\
             volume: invalid format - unable to parse volume ID 'bad'\n\n\
             pvesm path <volume>\n"
                .to_string()
        )
    );
    let o = pvesm(&n, &["list", "nope"]);
    assert_eq!(
        (code(&o), err(&o)),
        (255, "storage 'nope' does not exist\n".into())
    );
    let o = pvesm(&n, &["path", "nope:vztmpl/x.tar"]);
    assert_eq!(err(&o), "storage 'nope' does not exist\n");

    let o = pvesm(&n, &["status"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "Name             Type     Status           Total            Used       Available        %"
        )
    );
    for (name, kind) in [("local", "dir"), ("local-lvm", "lvmthin")] {
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(row[..3], [name, kind, "active"]);
        let total: u64 = row[3].parse().unwrap();
        assert!(total > 0 && row[6].ends_with('%'));
    }
    assert!(lines.next().is_none());
    let o = pvesm(&n, &["status", "--storage", "nope"]);
    assert_eq!(
        err(&o),
        "400 Parameter verification failed.\nstorage: No such storage.\npvesm status [OPTIONS]\n"
    );
}

#[test]
fn sized_mount_points_are_ext4_images_that_refuse_writes_past_their_size() {
    let Some(n) = root_node() else { return };
    make_template(&n, "x.tar", &[]);
    let ct = add_dir_storage(&n);
    n.create_from(
        93510,
        "local:vztmpl/x.tar",
        "local-lvm:1",
        &[
            "--mp0",
            "local-lvm:0.0625,mp=/data",
            "--mp1",
            "ct:0.0625,mp=/more",
            "--unprivileged",
            "1",
            "--memory",
            "64",
        ],
    );
    let conf = n.conf(93510);
    assert!(
        conf.contains("mp0: local-lvm:vm-93510-disk-1,mp=/data,size=64M\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp1: ct:93510/vm-93510-disk-0.raw,mp=/more,size=64M\n"),
        "{conf}"
    );
    let raw = ct.join("images/93510/vm-93510-disk-0.raw");
    assert_eq!(fs::metadata(&raw).unwrap().len(), 64 << 20);
    let o = pvesm(&n, &["path", "ct:93510/vm-93510-disk-0.raw"]);
    assert_eq!(out(&o), format!("{}\n", raw.display()));

    n.ok(&["start", "93510"]);
    for dir in ["/data", "/more"] {
        // 100 MiB into 64 MiB: the file system is full.
        let o = n.pct(&[
            "exec",
            "93510",
            "--",
            "/bin/sh",
            "-c",
            &format!("dd if=/dev/zero of={dir}/big bs=1M count=100 2>&1"),
        ]);
        assert_ne!(code(&o), 0, "{dir}: {}", out(&o));
        assert!(
            out(&o).contains("No space left on device"),
            "{dir}: {}",
            out(&o)
        );
        n.sh_ok(93510, &format!("rm {dir}/big; echo kept > {dir}/f"));
    }
    n.ok(&["stop", "93510"]);
    let lvmnt = volume_mount(&n, "local-lvm", "vm-93510-disk-1");
    let ctmnt = volume_mount(&n, "ct", "93510/vm-93510-disk-0.raw");
    assert!(!mounted(&lvmnt) && !mounted(&ctmnt), "unmounted at stop");
    assert_eq!(loops_under(&n.root), "", "loop devices released");
    assert_eq!(loops_under(&ct), "", "loop devices released");

    // The data is on the images: there again after a restart.
    n.ok(&["start", "93510"]);
    assert_eq!(n.sh_ok(93510, "cat /data/f /more/f"), "kept\nkept\n");
    n.ok(&["destroy", "93510", "--force", "1", "--purge", "1"]);
    assert!(!raw.exists() && !lv(&n, 93510, 1).exists());
    assert!(!mounted(&lvmnt) && !mounted(&ctmnt));
    assert_eq!(loops_under(&n.root), "");
    assert_eq!(loops_under(&ct), "");
}

#[test]
fn move_volume_reassigns_a_mount_point_to_another_ct_with_its_data() {
    let Some(n) = root_node() else { return };
    make_template(&n, "x.tar", &[]);
    let ct = add_dir_storage(&n);
    let base = ["--unprivileged", "1", "--memory", "64"];
    let mut a = vec![
        "--mp0",
        "local-lvm:0.0625,mp=/data",
        "--mp1",
        "ct:0.0625,mp=/more",
    ];
    a.extend(base);
    n.create_from(93520, "local:vztmpl/x.tar", "local-lvm:1", &a);
    n.create_from(93521, "local:vztmpl/x.tar", "local-lvm:1", &base);
    n.ok(&["start", "93520"]);
    n.sh_ok(93520, "echo lv > /data/f; echo raw > /more/f");
    // Not while the source runs.
    let o = n.pct(&["move-volume", "93520", "mp0", "--target-vmid", "93521"]);
    assert_ne!(code(&o), 0);
    assert_eq!(
        err(&o),
        "Cannot move in-use volume while the source CT is running - detach or shutdown first\n"
    );
    n.ok(&["stop", "93520"]);
    let o = n.pct(&["move-volume", "93520", "rootfs", "--target-vmid", "93521"]);
    assert_eq!(err(&o), "Cannot move to/from 'rootfs'\n");
    let o = n.pct(&["move-volume", "93520", "mp0", "--target-vmid", "93599"]);
    assert_eq!(err(&o), "could not find CT 93599\n");

    let o = n.ok(&["move-volume", "93520", "mp0", "--target-vmid", "93521"]);
    assert_eq!(
        o,
        "moving volume 'mp0' from container '93520' to '93521'\n\
         removing volume 'mp0' from container '93520' config\n\
         target container '93521' updated with 'mp0'\n"
    );
    n.ok(&[
        "move-volume",
        "93520",
        "mp1",
        "--target-vmid",
        "93521",
        "--target-volume",
        "mp3",
    ]);
    let (src, dst) = (n.conf(93520), n.conf(93521));
    assert!(!src.contains("mp0:") && !src.contains("mp1:"), "{src}");
    // Renamed to the target's first free disk names, options kept.
    assert!(
        dst.contains("mp0: local-lvm:vm-93521-disk-1,mp=/data,size=64M\n"),
        "{dst}"
    );
    assert!(
        dst.contains("mp3: ct:93521/vm-93521-disk-0.raw,mp=/more,size=64M\n"),
        "{dst}"
    );
    assert!(!lv(&n, 93520, 1).exists() && lv(&n, 93521, 1).is_file());
    assert!(!ct.join("images/93520").exists());
    let o = n.pct(&["move-volume", "93520", "mp0", "--target-vmid", "93521"]);
    assert_eq!(
        err(&o),
        "volume 'mp0' for container '93520' does not exist\n"
    );

    n.ok(&["start", "93521"]);
    assert_eq!(n.sh_ok(93521, "cat /data/f /more/f"), "lv\nraw\n");
    n.ok(&["destroy", "93521", "--force", "1", "--purge", "1"]);
    n.ok(&["destroy", "93520", "--purge", "1"]);
    assert!(!lv(&n, 93521, 1).exists());
    assert_eq!(loops_under(&n.root), "");
}
