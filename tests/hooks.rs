//! OCI hooks at their points, in their namespaces, with the state on stdin; a failing hook
//! before start leaves nothing behind.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;

/// A hook that appends `<name> <status from stdin>` to the file given as its second argument.
fn hook_script(rootfs: &Path) {
    let script = "#!/bin/sh\nstatus=$(cat | grep -o '\"status\": *\"[a-z]*\"' | sed 's/.*\"\\([a-z]*\\)\"/\\1/')\necho \"$1 $status\" >> \"$2\"\n";
    let path = rootfs.join("hook.sh");
    write_script(&path, script);
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let sim = Sim::new("hooks_order");
    let bundle = sim.bundle("b", "echo workload >> /hooklog");
    let rootfs = bundle.join("rootfs");
    hook_script(&rootfs);
    let host_script = rootfs.join("hook.sh").display().to_string();
    let host_log = rootfs.join("hooklog").display().to_string();
    let hook = |path: &str, name: &str, log: &str| serde_json::json!({"path": path, "args": ["hook.sh", name, log]});
    edit_spec(&bundle, |spec| {
        spec["hooks"] = serde_json::json!({
            "prestart": [hook(&host_script, "prestart", &host_log)],
            "createRuntime": [hook(&host_script, "createRuntime", &host_log)],
            // In the CT's namespaces: the log path is the CT's view of the same file.
            "createContainer": [hook(&host_script, "createContainer", "/hooklog")],
            "startContainer": [hook("/hook.sh", "startContainer", "/hooklog")],
            "poststart": [hook(&host_script, "poststart", &host_log)],
            "poststop": [hook(&host_script, "poststop", &host_log)],
        });
    });
    let c = create(&sim, &bundle, "h1");
    c.run(0);
    c.delete();
    let log = std::fs::read_to_string(rootfs.join("hooklog")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let expected = [
        "prestart creating",
        "createRuntime creating",
        "createContainer creating",
        "startContainer created",
    ];
    assert_eq!(&lines[..4], expected, "{log}");
    // poststart runs after the workload started; the short workload may finish first.
    let rest: Vec<&str> = lines[4..].to_vec();
    assert!(
        rest.contains(&"workload") && rest.contains(&"poststart running"),
        "{log}"
    );
    assert_eq!(lines.last(), Some(&"poststop stopped"), "{log}");
}

#[test]
fn a_failing_create_runtime_hook_leaves_nothing() {
    let sim = Sim::new("hooks_fail");
    let bundle = sim.bundle("b", "true");
    let fail = sim.dir.path().join("fail.sh");
    write_script(&fail, "#!/bin/sh\necho broken hook >&2\nexit 3\n");
    edit_spec(
        &bundle,
        |spec| {
            spec["hooks"] = serde_json::json!({"createRuntime": [{"path": fail.to_str().unwrap()}]})
        },
    );
    let out = sim
        .runtime()
        .args(["create", "-b"])
        .arg(&bundle)
        .arg("hf")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("createRuntime hook")
            && err.contains("exit status 3")
            && err.contains("broken hook"),
        "{err}"
    );
    assert!(sim.no_cts(), "CT left behind");
    assert!(!sim.state_root.join("hf").exists(), "state dir left behind");
}

#[test]
fn hooks_get_no_preserved_fds() {
    let sim = Sim::new("hooks_fds");
    let bundle = sim.bundle("b", "true");
    let out = sim.dir.path().join("fds");
    let script = sim.dir.path().join("fds.sh");
    // dash reads the script on fd 10: fd 3 is there only if the hook inherited it.
    let check = "#!/bin/sh\nreadlink /proc/$$/fd/3 > \"$1\" 2>/dev/null || echo none > \"$1\"\n";
    write_script(&script, check);
    edit_spec(&bundle, |spec| {
        spec["hooks"] = serde_json::json!({"createRuntime": [
            {"path": script, "args": ["fds.sh", out]}]});
    });
    // fd 3 is the container's, as conmon passes it with --preserve-fds 1.
    let extra = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsRawFd;
    let fd = extra.as_raw_fd();
    let mut cmd = sim.runtime();
    // SAFETY: between fork and exec the hook makes only async-signal-safe calls (fcntl, dup2).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // dup2 onto itself would keep close-on-exec: clear it then.
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let st = cmd
        .args(["create", "--preserve-fds", "1", "--bundle"])
        .arg(&bundle)
        .arg("f1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // A file, not a pipe: the shim keeps the container's stdio.
        .stderr(std::fs::File::create(sim.dir.path().join("err")).unwrap())
        .status()
        .unwrap();
    let err = std::fs::read_to_string(sim.dir.path().join("err")).unwrap();
    assert!(st.success(), "{err}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "none\n",
        "the hook got fd 3"
    );
    let d = sim.run(&["delete", "--force", "f1"]);
    assert!(d.status.success(), "{}", stderr(&d));
}
