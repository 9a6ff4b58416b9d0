//! The Debian package (docs/packaging.md): `contrib/deb/build.sh` builds it from this build's
//! binaries, `apt-get install` installs it, the installed runtime runs `--version`, `doctor`
//! against pve-sim and a podman container, and `apt-get purge` leaves nothing: no file of the
//! package, no /etc/proxmox-lxcri, no audit log directory, no systemd enablement or mask, no
//! CRI-O link, while a file of the admin's beside that link stays.
//!
//! It installs into this machine's /usr/bin and /etc, so it refuses to run where anything the
//! package would write or purge already exists, and passes as skipped where proxmox-lxcri is
//! installed from a package already. One test: its steps must not run concurrently.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::podman::{ensure_image, IMAGE};
use common::*;

const PKG: &str = "proxmox-lxcri";
const BIN: &str = "/usr/bin/proxmox-lxcri";
const CRIO_DIR: &str = "/etc/crio/crio.conf.d";
const CRIO_LINK: &str = "/etc/crio/crio.conf.d/50-proxmox-lxcri.conf";
const CRIO_PACKAGED: &str = "/usr/share/proxmox-lxcri/crio/50-proxmox-lxcri.conf";
/// What purge must remove beyond the package's files.
const PURGED_DIRS: [&str; 2] = ["/etc/proxmox-lxcri", LOG_DIR];
/// The audit log's directory by default.
const LOG_DIR: &str = "/var/log/proxmox-lxcri";
/// The units the package ships; the timer and the metrics service have an [Install] section.
const UNITS: [&str; 3] = [
    "proxmox-lxcri-gc.service",
    "proxmox-lxcri-gc.timer",
    "proxmox-lxcri-metrics.service",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// dpkg's status of the package, e.g. `install ok installed`; empty when dpkg does not know it.
fn dpkg_status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PKG])
        .output()
        .unwrap();
    text(&out)
}

/// apt-get, non-interactive, waiting for dpkg's lock rather than failing on it.
fn apt_get(args: &[&str]) -> Output {
    run(Command::new("apt-get")
        .args(["-y", "-q", "-o", "DPkg::Lock::Timeout=120"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Every symlink under `dir` (recursively) whose name or target mentions the package.
fn links_mentioning_package(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            found.extend(links_mentioning_package(&p));
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&p).unwrap_or_default();
            if p.to_string_lossy().contains(PKG) || target.to_string_lossy().contains(PKG) {
                found.push(p);
            }
        }
    }
    found
}

/// Files of the state deb-systemd-helper keeps about the package's units.
fn helper_state() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [
        "/var/lib/systemd/deb-systemd-helper-enabled",
        "/var/lib/systemd/deb-systemd-helper-masked",
    ] {
        let mut stack = vec![PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().contains(PKG) {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// The package's regular files and symlinks as absolute paths (`dpkg-deb -c`), directories left
/// out (most are shared, such as /usr/bin).
fn package_files(deb: &Path) -> Vec<PathBuf> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    text(&out)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| PathBuf::from(p.trim_start_matches('.')))
        .collect()
}

/// Purges the package, the admin's activation the test made and the directories it created, also
/// when the test fails half way.
struct Installed {
    made_dirs: Vec<PathBuf>,
    admin_file: PathBuf,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !dpkg_status().is_empty() {
            let _ = Command::new("apt-get")
                .args(["-y", "-q", "-o", "DPkg::Lock::Timeout=120", "purge", PKG])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output();
        }
        let _ = std::fs::remove_file(&self.admin_file);
        if std::fs::symlink_metadata(CRIO_LINK).is_ok() {
            let _ = std::fs::remove_file(CRIO_LINK);
        }
        for d in self.made_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Builds the package from the binaries this test runs with; the .deb's path.
fn build(out_dir: &Path) -> PathBuf {
    let bin_dir = runtime_bin().parent().unwrap().to_path_buf();
    sibling_bin("proxmox-lxcri-init");
    // cargo names the dev profile's directory `debug`; every other profile's is its name.
    let profile = match bin_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    let built = Command::new(repo().join("contrib/deb/build.sh"))
        .args(["--no-build", "--profile", &profile, "--output"])
        .arg(out_dir)
        .env("CARGO_TARGET_DIR", bin_dir.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "contrib/deb/build.sh (cargo-deb is installed by contrib/setup-host.sh): {}{}",
        text(&built),
        stderr(&built)
    );
    let deb = out_dir.join(format!("{PKG}_{}-1_amd64.deb", env!("CARGO_PKG_VERSION")));
    assert!(deb.is_file(), "no {}: {}", deb.display(), text(&built));
    deb
}

/// What the package holds: both binaries, every man page gzipped, the completions, the
/// config as a conffile, the units, and the CRI-O drop-in outside CRI-O's directory.
fn check_contents(deb: &Path) {
    let files: BTreeSet<String> = package_files(deb)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut want: Vec<String> = vec![
        BIN.into(),
        "/usr/bin/proxmox-lxcri-init".into(),
        "/usr/share/bash-completion/completions/proxmox-lxcri".into(),
        "/usr/share/zsh/vendor-completions/_proxmox-lxcri".into(),
        "/usr/share/fish/vendor_completions.d/proxmox-lxcri.fish".into(),
        "/etc/proxmox-lxcri/config.toml".into(),
        CRIO_PACKAGED.into(),
    ];
    want.extend(UNITS.iter().map(|u| format!("/usr/lib/systemd/system/{u}")));
    for e in std::fs::read_dir(repo().join("man")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let section = name.rsplit('.').next().unwrap().to_string();
        want.push(format!("/usr/share/man/man{section}/{name}.gz"));
    }
    for w in &want {
        assert!(files.contains(w), "{w} not in the package: {files:#?}");
    }
    assert!(
        !files.iter().any(|f| f.starts_with("/etc/crio")),
        "the CRI-O drop-in must not be active: {files:#?}"
    );
    let conffiles = run(Command::new("dpkg-deb").arg("-I").arg(deb).arg("conffiles"));
    assert_eq!(text(&conffiles).trim(), "/etc/proxmox-lxcri/config.toml");
}

/// The installed files are the ones of this checkout, pointing at /usr/bin, and nothing is
/// enabled or active.
fn check_installed(deb: &Path) {
    assert_eq!(dpkg_status(), "install ok installed");
    let listed = text(&run(Command::new("dpkg").args(["-L", PKG])));
    for f in package_files(deb) {
        assert!(f.exists(), "{} not installed", f.display());
        assert!(
            listed.lines().any(|l| Path::new(l) == f),
            "dpkg -L lacks {}",
            f.display()
        );
    }
    let version = run(Command::new(BIN).arg("--version"));
    assert!(
        text(&version).starts_with(&format!(
            "proxmox-lxcri version {}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        text(&version)
    );
    // Inert: the example, whose values are the defaults (tests/man_pages.rs checks that).
    assert_eq!(
        std::fs::read(repo().join("contrib/config.toml.example")).unwrap(),
        std::fs::read("/etc/proxmox-lxcri/config.toml").unwrap()
    );
    for page in ["man1/proxmox-lxcri.1", "man5/proxmox-lxcri-config.5"] {
        let unzipped = run(Command::new("zcat").arg(format!("/usr/share/man/{page}.gz")));
        let name = Path::new(page).file_name().unwrap();
        assert_eq!(
            unzipped.stdout,
            std::fs::read(repo().join("man").join(name)).unwrap()
        );
    }
    for unit in UNITS {
        let text = std::fs::read_to_string(format!("/usr/lib/systemd/system/{unit}")).unwrap();
        let source = std::fs::read_to_string(repo().join("contrib/systemd").join(unit)).unwrap();
        assert_eq!(
            text,
            source.replace("/usr/local/bin/proxmox-lxcri", BIN),
            "{unit}"
        );
    }
    let exec = std::fs::read_to_string("/usr/lib/systemd/system/proxmox-lxcri-gc.service").unwrap();
    assert!(exec.contains(&format!("ExecStart={BIN} ")), "{exec}");
    let dropin = std::fs::read_to_string(CRIO_PACKAGED).unwrap();
    assert!(
        dropin.contains(&format!("runtime_path = \"{BIN}\"")),
        "{dropin}"
    );
    assert!(
        std::fs::symlink_metadata(CRIO_LINK).is_err(),
        "{CRIO_LINK} made by the package"
    );
    let enabled = links_mentioning_package(Path::new("/etc/systemd/system"));
    assert!(enabled.is_empty(), "enabled by the package: {enabled:?}");
    // The bash completion loads and completes a subcommand (clap names its function).
    let complete = run(Command::new("bash").arg("-c").arg(
        "source /usr/share/bash-completion/completions/proxmox-lxcri \
         && f=$(complete -p proxmox-lxcri | sed -E 's/.* -F ([^ ]+) .*/\\1/') \
         && COMP_WORDS=(proxmox-lxcri doc) COMP_CWORD=1 COMP_LINE='proxmox-lxcri doc' COMP_POINT=17 \
         && \"$f\" proxmox-lxcri doc proxmox-lxcri && echo \"${COMPREPLY[@]}\"",
    ));
    assert!(text(&complete).contains("doctor"), "{}", text(&complete));
    let zsh = std::fs::read_to_string("/usr/share/zsh/vendor-completions/_proxmox-lxcri").unwrap();
    assert!(zsh.starts_with("#compdef proxmox-lxcri"), "{zsh}");
    let fish =
        std::fs::read_to_string("/usr/share/fish/vendor_completions.d/proxmox-lxcri.fish").unwrap();
    assert!(fish.contains("complete -c proxmox-lxcri"), "{fish}");
}

/// The sim's config for the installed runtime: init_path empty (so the init beside
/// /usr/bin/proxmox-lxcri is used) and the audit log at its default place, which purge removes.
fn installed_config(sim: &Sim) {
    let conf = std::fs::read_to_string(&sim.config).unwrap();
    let (conf, _audit) = conf.split_once("\n[audit]").unwrap();
    let conf: Vec<&str> = conf
        .lines()
        .filter(|l| !l.starts_with("init_path"))
        .collect();
    std::fs::write(&sim.config, conf.join("\n") + "\n").unwrap();
}

fn installed_runtime(sim: &Sim, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--root")
        .arg(&sim.state_root)
        .arg("--config")
        .arg(&sim.config)
        .args(args)
        .output()
        .unwrap()
}

/// `doctor` and one podman container through the installed runtime.
fn check_runs(sim: &Sim) {
    installed_config(sim);
    assert!(sim.pct(&["list"]).status.success());
    let doctor = installed_runtime(sim, &["doctor"]);
    let report = text(&doctor);
    assert!(
        doctor.status.success(),
        "doctor: {report}{}",
        stderr(&doctor)
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("✓ init binary: /usr/bin/proxmox-lxcri-init (static")),
        "{report}"
    );

    ensure_image();
    let out = Command::new("podman")
        .args(["--runtime", BIN, "--runtime-flag"])
        .arg(format!("config={}", sim.config.display()))
        .args([
            "run",
            "--rm",
            IMAGE,
            "sh",
            "-c",
            "echo from-the-package; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "podman run: {}", stderr(&out));
    assert_eq!(text(&out), "from-the-package\n");
    assert!(
        sim.pct_calls().contains(&"create".to_string()),
        "{:?}",
        sim.pct_calls()
    );
    assert!(sim.no_cts(), "CT left: {:?}", sim.cts());
    let audit = std::fs::read_to_string(Path::new(LOG_DIR).join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"operation\":\"create\""), "{audit}");
}

/// What the admin does to activate the package's parts (docs/packaging.md): link the CRI-O
/// drop-in, enable the timer and the metrics service. A file of the admin's sits beside the link.
fn activate(installed: &mut Installed) {
    for d in ["/etc/crio", CRIO_DIR] {
        if !Path::new(d).exists() {
            std::fs::create_dir(d).unwrap();
            installed.made_dirs.push(d.into());
        }
    }
    std::os::unix::fs::symlink(CRIO_PACKAGED, CRIO_LINK).unwrap();
    std::fs::write(&installed.admin_file, "# the admin's own\n").unwrap();
    run(Command::new("systemctl").args([
        "enable",
        "proxmox-lxcri-gc.timer",
        "proxmox-lxcri-metrics.service",
    ]));
    let enabled = links_mentioning_package(Path::new("/etc/systemd/system"));
    assert_eq!(enabled.len(), 2, "systemctl enable made: {enabled:?}");
}

/// After purge: dpkg knows nothing, every file and every trace is gone, the admin's file stays.
fn check_purged(deb: &Path, installed: &Installed) {
    assert_eq!(dpkg_status(), "", "dpkg still knows {PKG}");
    let listed = Command::new("dpkg").args(["-L", PKG]).output().unwrap();
    assert!(
        !listed.status.success() && listed.stdout.is_empty(),
        "dpkg -L: {}",
        text(&listed)
    );
    for f in package_files(deb) {
        assert!(
            std::fs::symlink_metadata(&f).is_err(),
            "{} left",
            f.display()
        );
    }
    for d in PURGED_DIRS
        .iter()
        .chain(&["/usr/share/proxmox-lxcri", "/usr/share/doc/proxmox-lxcri"])
    {
        assert!(!Path::new(d).exists(), "{d} left");
    }
    let links = links_mentioning_package(Path::new("/etc/systemd/system"));
    assert!(links.is_empty(), "enablement or mask left: {links:?}");
    let state = helper_state();
    assert!(state.is_empty(), "deb-systemd-helper state left: {state:?}");
    assert!(
        std::fs::symlink_metadata(CRIO_LINK).is_err(),
        "{CRIO_LINK} left"
    );
    assert!(
        installed.admin_file.is_file(),
        "the admin's file beside the link went too"
    );
}

/// Why this machine must not run the test (something the package would overwrite or purge is
/// here and not from this test), or None.
fn occupied(deb: &Path) -> Option<String> {
    let mut paths = package_files(deb);
    paths.extend(PURGED_DIRS.iter().map(PathBuf::from));
    paths.push(CRIO_LINK.into());
    paths.extend(
        UNITS
            .iter()
            .map(|u| Path::new("/etc/systemd/system").join(u)),
    );
    let there: Vec<String> = paths
        .iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    (!there.is_empty()).then(|| there.join(", "))
}

#[test]
fn package_installs_runs_and_purges_clean() {
    require_root();
    let status = dpkg_status();
    if !status.is_empty() {
        println!("skipped: {PKG} is known to dpkg here ({status}); this test installs and purges its own package and leaves an admin's alone");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deb = build(dir.path());
    check_contents(&deb);
    if let Some(there) = occupied(&deb) {
        panic!("refusing to install {PKG} here: {there} already exist(s) without the package; installing and purging it would overwrite or remove them");
    }
    let sim = Sim::new("package");
    let mut installed = Installed {
        made_dirs: Vec::new(),
        admin_file: PathBuf::from(CRIO_DIR).join("49-plx-package-test.conf"),
    };
    // apt takes a local file only as a path with a slash.
    apt_get(&["install", deb.to_str().unwrap()]);
    check_installed(&deb);
    check_runs(&sim);
    activate(&mut installed);
    apt_get(&["purge", PKG]);
    check_purged(&deb, &installed);
}
