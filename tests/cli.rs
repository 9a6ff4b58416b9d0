//! The binary's command line as conmon, CRI-O and podman use it (docs/callers.md).

use std::process::{Command, Output};

/// The runtime, with a configuration that keeps its audit log in cargo's temp dir for tests
/// rather than the host's /var/log (a `--config` given replaces it).
fn bin() -> Command {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let conf = dir.join("cli-config.toml");
    let text = format!(
        "[audit]\npath = \"{}\"\n",
        dir.join("cli-audit.jsonl").display()
    );
    if std::fs::read_to_string(&conf).ok().as_deref() != Some(text.as_str()) {
        // Whole or not at all: tests run in parallel.
        let tmp = dir.join(format!("cli-config.{:?}", std::thread::current().id()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &conf).unwrap();
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_proxmox-lxcri"));
    c.env("PROXMOX_LXCRI_CONFIG", conf);
    c
}

fn rt(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_features() {
    for v in ["--version", "-v"] {
        let o = rt(&[v]);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("proxmox-lxcri version "));
    }
    let o = rt(&["features"]);
    assert!(o.status.success());
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["ociVersionMax"].is_string());
    let opts = f["mountOptions"].as_array().unwrap();
    assert!(
        !opts.iter().any(|o| o == "rro"),
        "rro is not implemented, so not claimed"
    );
}

#[test]
fn checkpoint_probe_fails_so_podman_reports_unsupported() {
    let o = rt(&["checkpoint", "--help"]);
    assert!(!o.status.success());
}

#[test]
fn commands_on_an_unknown_id_fail_clearly() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    for argv in [
        vec![
            "--root",
            r,
            "exec",
            "--process",
            "/tmp/p.json",
            "--detach",
            "--pid-file",
            "/tmp/x",
            "--tty",
            "id",
        ],
        vec!["--root", r, "update", "--resources", "-", "id"],
        vec!["--root", r, "pause", "id"],
        vec!["--root", r, "resume", "id"],
    ] {
        let o = rt(&argv);
        assert!(!o.status.success(), "{argv:?}");
        assert!(
            err(&o).contains("container does not exist: id"),
            "{argv:?}: {}",
            err(&o)
        );
        assert_eq!(err(&o).lines().count(), 1);
    }
}

#[test]
fn state_of_unknown_id_with_both_root_spellings() {
    let root = tempfile::tempdir().unwrap();
    let single = format!("--root={}", root.path().display());
    for argv in [
        vec![single.as_str(), "state", "abc"],
        vec!["--root", root.path().to_str().unwrap(), "state", "abc"],
    ] {
        let o = rt(&argv);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(err(&o), "container does not exist: abc\n");
    }
}

#[test]
fn list_of_an_empty_root_and_json_format() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let o = rt(&["--root", r, "list", "--format", "json"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    let o = rt(&["--root", r, "list", "-q"]);
    assert!(o.status.success() && o.stdout.is_empty());
}

#[test]
fn a_broken_config_file_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "bogus_key = 1\n").unwrap();
    let o = bin()
        .args(["--root", dir.path().to_str().unwrap()])
        .arg(format!("--config={}", cfg.display()))
        .args(["delete", "--force", "x"])
        .output()
        .unwrap();
    // delete --force of an unknown ID needs no config; create does.
    assert!(o.status.success(), "{}", err(&o));
    let o = bin()
        .args([
            "--root",
            dir.path().to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ])
        .args(["create", "--bundle", "/nonexistent", "x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(err(&o).contains("bogus_key"), "{}", err(&o));
    assert!(err(&o).contains(cfg.to_str().unwrap()), "{}", err(&o));
}

#[test]
fn json_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let o = bin()
        .args(["--root", dir.path().to_str().unwrap(), "--log-format=json"])
        .arg(format!("--log={}", log.display()))
        .args(["state", "nope"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist: nope");
    assert!(line["time"].as_str().unwrap().contains('T'));
}

/// The hidden `completion SHELL` the Debian package's completions come from: each script names
/// the subcommands; tests/package.rs runs the bash one.
#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _proxmox__lxcri"),
        ("zsh", "#compdef proxmox-lxcri"),
        ("fish", "complete -c proxmox-lxcri"),
    ] {
        let o = rt(&["completion", shell]);
        assert!(o.status.success(), "{shell}: {}", err(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in ["create", "doctor", "images"] {
            assert!(script.contains(sub), "{shell}: no {sub}");
        }
    }
    let o = rt(&["completion", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("invalid value 'tcsh'"), "{}", err(&o));
}
