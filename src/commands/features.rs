//! `features`: what this runtime implements (runtime-spec features.md). Only claims what works.

pub fn document() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "create=dir", "create=file"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "apparmor": {"enabled": true},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "io.github.proxmox-lxcri.backend": "pct"
        }
    })
}

pub fn run() -> anyhow::Result<()> {
    super::out(serde_json::to_string_pretty(&document())?)?;
    Ok(())
}
