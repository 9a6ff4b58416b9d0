//! Backup and restore: `vzdump` writes a real tar.zst (config first, then the CT's tree) to the
//! storage's `dump/`, in the mode Proxmox would use; `pct restore` makes a new CT from it with
//! new volumes, the data and the merged config; `pvesm` lists and frees the archive. VMIDs
//! 93971–93979.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{code, err, out, pack, root_node, Node, NODE};

fn tool(n: &Node, bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("PVE_SIM_ROOT", &n.root)
        .env("PVE_SIM_NODE", NODE)
        .env_remove("PVE_SIM_VERSION")
        .env_remove("PVE_SIM_FAIL")
        .stdin(Stdio::null())
        .output()
        .expect("running a sim tool")
}

fn vzdump(n: &Node, args: &[&str]) -> Output {
    tool(n, env!("CARGO_BIN_EXE_vzdump"), args)
}

fn pvesm(n: &Node, args: &[&str]) -> Output {
    tool(n, env!("CARGO_BIN_EXE_pvesm"), args)
}

/// A running unprivileged CT on `local-lvm` made from the test rootfs.
fn running_ct(n: &Node, vmid: u32) {
    let cache = n.root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&cache).unwrap();
    pack(&n.rootfs, &cache.join("x.tar"), &[]);
    n.create_from(
        vmid,
        "local:vztmpl/x.tar",
        "local-lvm:1",
        &["--hostname", "keep", "--memory", "64", "--swap", "0"],
    );
    n.ok(&["start", &vmid.to_string()]);
}

/// The archive path vzdump logged.
fn archive_of(log: &str) -> PathBuf {
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("INFO: creating vzdump archive '"))
        .unwrap_or_else(|| panic!("no archive line in {log}"));
    PathBuf::from(line.trim_end_matches('\''))
}

fn members(archive: &PathBuf) -> Vec<String> {
    let o = Command::new("tar")
        .args(["--zstd", "-tf"])
        .arg(archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "tar -t: {}", err(&o));
    out(&o).lines().map(String::from).collect()
}

#[test]
fn backup_destroy_restore_keeps_the_data() {
    let Some(n) = root_node() else { return };
    running_ct(&n, 93971);
    let data = n.sh_ok(93971, "echo payload-$$ > /keep.txt; cat /keep.txt");

    // snapshot on storages without snapshots falls back to suspend (PVE/VZDump.pm).
    let o = vzdump(
        &n,
        &[
            "93971",
            "--storage",
            "local",
            "--mode",
            "snapshot",
            "--compress",
            "zstd",
        ],
    );
    let log = err(&o);
    assert_eq!(code(&o), 0, "vzdump: {log}");
    for line in [
        "INFO: starting new backup job: vzdump 93971 --storage local --mode snapshot --compress zstd",
        "INFO: Starting Backup of VM 93971 (lxc)",
        "INFO: status = running",
        "INFO: CT Name: keep",
        "INFO: including mount point rootfs ('/') in backup",
        "INFO: mode failure - some volumes do not support snapshots",
        "INFO: trying 'suspend' mode instead",
        "INFO: backup mode: suspend",
        "INFO: suspending guest",
        "INFO: resuming guest",
        "INFO: Backup job finished successfully",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing in {log}");
    }
    let archive = archive_of(&log);
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(archive.parent().unwrap(), n.root.join("var/lib/vz/dump"));
    assert!(
        name.starts_with("vzdump-lxc-93971-") && name.ends_with(".tar.zst"),
        "{name}"
    );
    assert!(n
        .root
        .join("var/lib/vz/dump")
        .join(name.replace(".tar.zst", ".log"))
        .is_file());
    let m = members(&archive);
    assert_eq!(
        &m[..2],
        ["./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw"],
        "{m:?}"
    );
    assert!(m.contains(&"./keep.txt".to_string()), "{m:?}");
    // The tree is stored as the CT's root sees it (tar in the CT's user namespace).
    let o = Command::new("tar")
        .args(["--zstd", "--numeric-owner", "-tvf"])
        .arg(&archive)
        .arg("./keep.txt")
        .output()
        .unwrap();
    assert!(out(&o).contains(" 0/0 "), "{}", out(&o));
    assert_eq!(n.ok(&["status", "93971"]), "status: running\n");
    assert!(!n.conf(93971).contains("lock:"), "the backup lock is gone");

    let volid = format!("local:backup/{name}");
    let listed = out(&pvesm(&n, &["list", "local", "--content", "backup"]));
    assert!(listed.contains(&volid), "{listed}");

    n.ok(&["stop", "93971"]);
    n.ok(&["destroy", "93971", "--purge"]);

    n.track(93972);
    let shown = n.ok(&["restore", "93972", &volid, "--storage", "local-lvm"]);
    assert!(shown.contains(&format!(
        "recovering backed-up configuration from '{volid}'"
    )));
    let conf = n.conf(93972);
    assert!(conf.contains("hostname: keep\n"), "{conf}");
    assert!(
        conf.contains("rootfs: local-lvm:vm-93972-disk-0,size=1G\n"),
        "{conf}"
    );
    assert!(conf.contains("unprivileged: 1\n"), "{conf}");
    assert!(!conf.contains("lock:"), "{conf}");
    let lv = n.root.join("var/lib/pve-sim-lvm/pve/data/vm-93972-disk-0");
    assert_eq!(fs::read_to_string(lv.join("keep.txt")).unwrap(), data);
    assert_eq!(fs::metadata(lv.join("keep.txt")).unwrap().uid(), 100_000);
    assert!(
        !lv.join("etc/vzdump/pct.conf").exists(),
        "the archive's config is not left in the CT"
    );
    n.ok(&["start", "93972"]);
    assert_eq!(n.sh_ok(93972, "cat /keep.txt"), data);

    // stop mode shuts the CT down and starts it again.
    // The test init ignores the shutdown signal: --stopwait 0 kills it at once.
    let o = vzdump(
        &n,
        &[
            "93972",
            "--storage",
            "local",
            "--mode",
            "stop",
            "--compress",
            "zstd",
            "--stopwait",
            "0",
        ],
    );
    let log = err(&o);
    assert_eq!(code(&o), 0, "vzdump: {log}");
    assert!(
        log.contains("INFO: backup mode: stop\n") && log.contains("INFO: stopping virtual guest\n"),
        "{log}"
    );
    assert_eq!(n.ok(&["status", "93972"]), "status: running\n");
    let second = archive_of(&log);
    assert!(members(&second).contains(&"./keep.txt".to_string()));

    let second_volid = format!(
        "local:backup/{}",
        second.file_name().unwrap().to_string_lossy()
    );
    let o = pvesm(&n, &["free", &second_volid]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(!second.exists());
}

#[test]
fn volume_mount_points_with_backup_go_into_the_archive_and_their_volume() {
    let Some(n) = root_node() else { return };
    let cache = n.root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&cache).unwrap();
    pack(&n.rootfs, &cache.join("x.tar"), &[]);
    n.create_from(
        93973,
        "local:vztmpl/x.tar",
        "local-lvm:1",
        &[
            "--memory",
            "64",
            "--swap",
            "0",
            "--mp0",
            "local-lvm:0.5,mp=/mnt/data,backup=1",
        ],
    );
    n.ok(&["start", "93973"]);
    n.sh_ok(93973, "echo on-the-volume > /mnt/data/v.txt");
    let o = vzdump(&n, &["93973", "--storage", "local", "--compress", "zstd"]);
    let log = err(&o);
    assert_eq!(code(&o), 0, "{log}");
    assert!(
        log.contains("INFO: including mount point mp0 ('/mnt/data') in backup\n"),
        "{log}"
    );
    let archive = archive_of(&log);
    assert!(members(&archive).contains(&"./mnt/data/v.txt".to_string()));
    n.ok(&["stop", "93973"]);
    n.ok(&["destroy", "93973", "--purge"]);

    n.track(93974);
    let volid = format!(
        "local:backup/{}",
        archive.file_name().unwrap().to_string_lossy()
    );
    n.ok(&["restore", "93974", &volid, "--storage", "local-lvm"]);
    let conf = n.conf(93974);
    assert!(
        conf.contains("mp0: local-lvm:vm-93974-disk-1,mp=/mnt/data,backup=1,size=512M\n"),
        "{conf}"
    );
    // The sized volume is an ext4 image (mounted while the CT runs): the file is in it, not
    // left in the rootfs below the mount point.
    n.ok(&["start", "93974"]);
    assert_eq!(n.sh_ok(93974, "cat /mnt/data/v.txt"), "on-the-volume\n");
    assert!(!n
        .root
        .join("var/lib/pve-sim-lvm/pve/data/vm-93974-disk-0/mnt/data/v.txt")
        .exists());
}

#[test]
fn bad_input_leaves_nothing() {
    let Some(n) = root_node() else { return };
    let o = vzdump(&n, &["93979", "--storage", "local"]);
    assert_eq!(code(&o), 255);
    assert!(
        err(&o).contains("ERROR: Backup of VM 93979 failed - unable to find VM 93979\n"),
        "{}",
        err(&o)
    );

    n.track(93978);
    let o = n.pct(&[
        "restore",
        "93978",
        "local:backup/vzdump-lxc-1-2020_01_01-00_00_00.tar.zst",
    ]);
    assert_eq!(code(&o), 255);
    assert_eq!(
        err(&o),
        "can't find file 'local:backup/vzdump-lxc-1-2020_01_01-00_00_00.tar.zst'\n"
    );
    assert!(!n.conf_path(93978).exists());

    // An archive without a CT config.
    let dump = n.root.join("var/lib/vz/dump");
    fs::create_dir_all(&dump).unwrap();
    pack(
        &n.rootfs,
        &dump.join("vzdump-lxc-2-2020_01_01-00_00_00.tar.zst"),
        &["--zstd"],
    );
    let o = n.pct(&[
        "restore",
        "93978",
        "local:backup/vzdump-lxc-2-2020_01_01-00_00_00.tar.zst",
        "--storage",
        "local-lvm",
    ]);
    assert_eq!(code(&o), 255);
    assert!(err(&o).contains("no ./etc/vzdump/pct.conf"), "{}", err(&o));
    assert!(!n.conf_path(93978).exists());
    let lvs = n.root.join("var/lib/pve-sim-lvm/pve/data");
    assert!(
        fs::read_dir(&lvs).map_or(true, |mut d| d.next().is_none()),
        "no volume left"
    );
}
