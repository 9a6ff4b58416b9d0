//! `pve-sim sshd NODE --listen ADDR:PORT --host-key FILE --authorized-keys FILE [--path PATH]`:
//! the node's own OpenSSH server (README.md, "The cluster"). It runs on the node (its freezer
//! cgroup, `crate::power`), listens on the node's address and its sessions run the sim's tools
//! as that node (`PVE_SIM_ROOT`, `PVE_SIM_NODE` set by sshd's `SetEnv`, which wins over an
//! `authorized_keys` `environment=`). The process becomes `sshd -D` (same pid), so whoever
//! started it stops it with a signal.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::power;
use crate::sim::Sim;

const USAGE: &str = "usage: pve-sim sshd NODE --listen ADDR:PORT --host-key FILE \
--authorized-keys FILE [--path PATH]";

/// Runs `pve-sim sshd ARGS`; returns only on failure, with the exit status.
pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("pve-sim sshd: {e}");
            2
        }
    }
}

fn run(args: &[String]) -> Result<std::convert::Infallible, String> {
    let sim = Sim::from_env();
    let Some((node, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    let (mut listen, mut host_key, mut keys, mut path) = (None, None, None, None);
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a}: missing value\n{USAGE}"))?;
        match a.as_str() {
            "--listen" => listen = Some(v.clone()),
            "--host-key" => host_key = Some(PathBuf::from(v)),
            "--authorized-keys" => keys = Some(PathBuf::from(v)),
            "--path" => path = Some(v.clone()),
            other => return Err(format!("unknown option '{other}'\n{USAGE}")),
        }
    }
    let (Some(listen), Some(host_key), Some(keys)) = (listen, host_key, keys) else {
        return Err(USAGE.into());
    };
    let (addr, port) = listen
        .rsplit_once(':')
        .ok_or(format!("--listen {listen}: expected ADDR:PORT"))?;
    if !sim.pve_dir().join("nodes").join(node).is_dir() {
        return Err(format!("no such cluster node '{node}'"));
    }
    let dir = sim.root.join("run/pve-sim");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The privilege separation directory Debian's sshd insists on.
    std::fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
    let mut env = format!(
        "SetEnv PVE_SIM_ROOT={} PVE_SIM_NODE={node}",
        sim.root.display()
    );
    if let Some(p) = path {
        env.push_str(&format!(" PATH={p}"));
    }
    let cfg = dir.join(format!("sshd-{node}.conf"));
    let text = format!(
        "Port {port}\n\
         ListenAddress {addr}\n\
         HostKey {}\n\
         AuthorizedKeysFile {}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitUserEnvironment yes\n\
         UsePAM no\n\
         PidFile none\n\
         StrictModes no\n\
         Subsystem sftp internal-sftp\n\
         LogLevel ERROR\n\
         {env}\n",
        host_key.display(),
        keys.display(),
    );
    std::fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    power::join(&sim.root, node)?;
    power::register_daemon(&sim.root, node, "sshd")?;
    let err = std::process::Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&cfg)
        .exec();
    Err(format!("/usr/sbin/sshd: {err}"))
}
