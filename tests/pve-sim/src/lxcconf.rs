//! Generates `lxc/<vmid>/config` the way `update_lxc_config` in pve-container src/PVE/LXC.pm
//! does, in Proxmox's order. Where this machine forces a difference, the line says so:
//!
//! * The rootfs (a bind directory or a dir storage volume) is used directly as
//!   `lxc.rootfs.path = dir:<path>` (Proxmox mounts volumes in its prestart hook and points LXC
//!   at `/var/lib/lxc/<vmid>/rootfs`);
//!   `ro=1`, `mountoptions` and `idmap=passthrough` become `lxc.rootfs.options` (`ro`, ...,
//!   `idmap=container`, LXC's idmapped mount in the CT's user namespace).
//! * `mpN` bind mounts become `lxc.mount.entry` rbind lines with `create=dir` (Proxmox mounts
//!   them in the prestart hook), with the same options.
//! * No AppArmor and no PVE seccomp profile files exist here, so no such lines.
//! * Limits follow the host's cgroup layout as Proxmox does (v1 keys where the controller is on
//!   v1). Raw `lxc.cgroup2.*` keys are passed through but LXC ignores them on a v1/hybrid host,
//!   so their v1 equivalents are added, otherwise they would not be enforced.
//! * LXC < 6 (this machine has 5.0) has no `lxc.environment.runtime`/`.hooks`: env entries
//!   become `lxc.environment` (which LXC 5 also applies to `lxc-attach`ed processes), and raw
//!   `lxc.environment.hooks` lines are dropped with a warning.
//! * `devN`: the prestart hook's nodes are made by `pct start` before `lxc-start`, and the
//!   autodev hook is a script of the sim's (src/passthrough.rs).
//! * `netN`: veth whose host end the sim's `lxcnetaddbr` up-script plugs into the bridge (with
//!   the VLAN tag on a VLAN-aware bridge) if the node has that bridge (src/netns.rs), else it
//!   stays unplugged; `host-managed` static addresses are configured by LXC, as Proxmox does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use proxmox_lxcri::pve::confkeys::{FEATURES_FORMAT, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::CtConfig;

use crate::sim::Sim;
use crate::storage;

const CONFIG_DIR: &str = "/usr/share/lxc/config";
const MIB: u64 = 1024 * 1024;

/// Controllers on cgroup v1 and on v2 (`PVE::CGroup::get_cgroup_controllers`).
struct Cgroups {
    v1: BTreeSet<String>,
    v2: BTreeSet<String>,
}

fn cgroups() -> Cgroups {
    let mut v1 = BTreeSet::new();
    for line in fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
    {
        let mut f = line.splitn(3, ':');
        let (_, ctrls) = (f.next(), f.next().unwrap_or(""));
        v1.extend(
            ctrls
                .split(',')
                .filter(|c| !c.is_empty() && !c.starts_with("name="))
                .map(str::to_string),
        );
    }
    let unified = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup/cgroup.controllers"
    } else {
        "/sys/fs/cgroup/unified/cgroup.controllers"
    };
    let v2 = fs::read_to_string(unified)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Cgroups { v1, v2 }
}

/// Major version of the installed LXC (`lxc-start --version`).
fn lxc_major() -> u32 {
    std::process::Command::new("lxc-start")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .split('.')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(5)
}

/// `fstab` escaping for paths in `lxc.mount.entry`.
fn fstab_escape(p: &str) -> String {
    p.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

/// Mount options of a rootfs/mp property string, LXC style.
fn mount_options(
    props: &BTreeMap<String, String>,
    unprivileged: bool,
    warnings: &mut Vec<String>,
    what: &str,
) -> Vec<String> {
    let ro = props.get("ro").is_some_and(|v| v == "1");
    let mut opts = Vec::new();
    if ro {
        opts.push("ro".to_string());
    }
    if let Some(mo) = props.get("mountoptions") {
        // Read-only mounts keep only nodev/noexec/nosuid (Proxmox drops the rest).
        opts.extend(
            mo.split(';')
                .filter(|o| !ro || matches!(*o, "nodev" | "noexec" | "nosuid"))
                .map(str::to_string),
        );
    }
    match props.get("idmap").map(String::as_str) {
        Some("passthrough") if unprivileged => opts.push("idmap=container".into()),
        Some(_) if !unprivileged => warnings.push(format!(
            "{what}: idmap is ignored for privileged containers"
        )),
        Some(custom) => warnings.push(format!(
            "{what}: pve-sim does not support the custom idmap '{custom}'; ignored"
        )),
        None => {}
    }
    opts
}

/// The host directory of a rootfs/mp volume: a bind directory, or a storage volume's
/// directory (files in it are already owned by the CT's mapped ids, so no idmapped mount).
fn volume_source(sim: &Sim, volume: &str, key: &str) -> Result<String, String> {
    if volume.starts_with("/dev/") {
        return Err(format!(
            "{key}: pve-sim does not simulate device mount points ('{volume}')"
        ));
    }
    if !volume.starts_with('/') {
        let path = storage::data_path(sim, volume)?;
        if !path.exists() {
            return Err(format!("volume '{volume}' does not exist"));
        }
        if !path.is_dir() {
            return Err(format!(
                "{key}: pve-sim only simulates directory volumes ('{volume}')"
            ));
        }
        return Ok(path.to_string_lossy().into_owned());
    }
    if !Path::new(volume).is_dir() {
        return Err(format!("directory '{volume}' does not exist"));
    }
    Ok(volume.to_string())
}

/// `PVE::CGroup::clamp_cpu_shares` for v1 (default 1024, 2..=262144) or v2 (100, 1..=10000).
fn clamp_shares(v: Option<&str>, v1: bool) -> u64 {
    let (def, min, max) = if v1 {
        (1024, 2, 262_144)
    } else {
        (100, 1, 10_000)
    };
    v.and_then(|s| s.parse().ok())
        .unwrap_or(def)
        .clamp(min, max)
}

/// The CPUs this host lets CTs use.
fn host_cpus() -> Vec<u32> {
    let text = fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.effective_cpus")
        .or_else(|_| fs::read_to_string("/sys/fs/cgroup/cpuset.cpus.effective"))
        .or_else(|_| fs::read_to_string("/sys/devices/system/cpu/online"))
        .unwrap_or_default();
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<u32>().ok()),
        }
    }
    cpus
}

/// A random `cores`-sized subset of the host CPUs, like Proxmox picks one.
fn pick_cpus(cores: usize) -> Option<String> {
    let mut cpus = host_cpus();
    if cpus.is_empty() {
        return None;
    }
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    while cpus.len() > cores {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        cpus.remove((seed % cpus.len() as u64) as usize);
    }
    Some(
        cpus.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// v1 value of a v2 memory limit (`max` is unlimited).
fn v2_bytes(v: &str) -> Option<i64> {
    if v.trim() == "max" {
        Some(-1)
    } else {
        v.trim().parse().ok()
    }
}

/// Builds the LXC config for CT `vmid` from its (pending-applied) config. `Err` is the task
/// error. `inject_failure` adds a pre-start hook that fails (`PVE_SIM_FAIL=start`), so the start
/// fails inside LXC exactly where a real broken CT would.
pub fn generate(
    sim: &Sim,
    vmid: u32,
    conf: &CtConfig,
    inject_failure: bool,
) -> Result<(String, Vec<String>), String> {
    let cg = cgroups();
    let mut out = String::new();
    let mut warnings = Vec::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "{k} = {v}");
    };
    let opt = |k: &str| conf.options.get(k).map(String::as_str);

    line("lxc.cgroup.relative", "0");
    line("lxc.cgroup.dir.monitor", &format!("lxc.monitor/{vmid}"));
    line("lxc.cgroup.dir.container", &format!("lxc/{vmid}"));
    line("lxc.cgroup.dir.container.inner", "ns");

    let arch = opt("arch").ok_or("missing 'arch' - internal error")?;
    line("lxc.arch", arch);

    let custom_idmap = !conf.lxc_values("lxc.idmap").is_empty();
    let unprivileged = opt("unprivileged") == Some("1") || custom_idmap;
    let ostype = opt("ostype").ok_or("missing 'ostype' - internal error")?;
    let inc = |kind: &str| {
        let specific = format!("{CONFIG_DIR}/{ostype}.{kind}.conf");
        if Path::new(&specific).is_file() {
            specific
        } else {
            format!("{CONFIG_DIR}/{kind}.conf")
        }
    };
    line("lxc.include", &inc("common"));
    if unprivileged {
        line("lxc.include", &inc("userns"));
    }

    let features = opt("features")
        .map(|f| FEATURES_FORMAT.parse(f))
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let feature = |k: &str| features.get(k).is_some_and(|v| v == "1");
    if feature("fuse") {
        line(
            "lxc.mount.entry",
            "/dev/fuse dev/fuse none bind,create=file 0 0",
        );
    }
    if unprivileged && !feature("force_rw_sys") {
        line("lxc.mount.auto", "sys:mixed");
    }
    let entrypoint = opt("entrypoint");
    if entrypoint.is_some_and(|e| e != "/sbin/init") {
        line(
            "lxc.mount.entry",
            "shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0",
        );
    }
    // Passthrough devices (`devN`): allowed in the device cgroup, bound in by the autodev hook
    // (src/passthrough.rs).
    let devs = crate::passthrough::devices(conf)?;
    for d in &devs {
        let rule = format!("{} {}:{} rw", d.kind, d.major, d.minor);
        if cg.v1.contains("devices") {
            line("lxc.cgroup.devices.allow", &rule);
        } else {
            line("lxc.cgroup2.devices.allow", &rule);
        }
    }
    if !devs.is_empty() {
        let hook = sim.ct_dir(vmid).join("passthrough/autodev-hook");
        line("lxc.hook.autodev", &hook.to_string_lossy());
    }
    line("lxc.monitor.unshare", "1");
    if unprivileged && !custom_idmap {
        line("lxc.idmap", "u 0 100000 65536");
        line("lxc.idmap", "g 0 100000 65536");
    }
    if opt("console") == Some("0") {
        line("lxc.console.path", "none");
        if cg.v1.contains("devices") {
            line("lxc.cgroup.devices.deny", "c 5:1 rwm");
        } else {
            line("lxc.cgroup2.devices.deny", "c 5:1 rwm");
        }
    }
    line("lxc.tty.max", opt("tty").unwrap_or("2"));
    line("lxc.environment", "TERM=linux");
    let utsname = opt("hostname")
        .map(str::to_string)
        .unwrap_or_else(|| format!("CT{vmid}"));
    line("lxc.uts.name", &utsname);

    // Raw cgroup2 limits override the config-derived ones (see the module comment).
    let raw_v2 = |k: &str| {
        conf.lxc
            .iter()
            .rev()
            .find(|(rk, _)| rk == &format!("lxc.cgroup2.{k}"))
            .map(|(_, v)| v.as_str())
    };
    let memory: u64 = opt("memory").and_then(|m| m.parse().ok()).unwrap_or(512);
    let swap: u64 = opt("swap").and_then(|s| s.parse().ok()).unwrap_or(0);
    if cg.v1.contains("memory") {
        let limit = raw_v2("memory.max")
            .and_then(v2_bytes)
            .unwrap_or((memory * MIB) as i64);
        let swap_b = raw_v2("memory.swap.max")
            .and_then(v2_bytes)
            .unwrap_or((swap * MIB) as i64);
        line("lxc.cgroup.memory.limit_in_bytes", &limit.to_string());
        let memsw = if limit < 0 || swap_b < 0 {
            -1
        } else {
            limit + swap_b
        };
        line("lxc.cgroup.memory.memsw.limit_in_bytes", &memsw.to_string());
        if let Some(high) = raw_v2("memory.high").and_then(v2_bytes) {
            line("lxc.cgroup.memory.soft_limit_in_bytes", &high.to_string());
        }
    } else if cg.v2.contains("memory") {
        let max = memory * MIB;
        let high = if memory >= 16 * 1024 {
            (memory - 128) * MIB
        } else {
            memory * 1024 * 1016
        };
        line("lxc.cgroup2.memory.max", &max.to_string());
        line("lxc.cgroup2.memory.high", &high.to_string());
        line("lxc.cgroup2.memory.swap.max", &(swap * MIB).to_string());
    }
    let cpulimit: f64 = opt("cpulimit").and_then(|c| c.parse().ok()).unwrap_or(0.0);
    if cg.v1.contains("cpu") {
        let raw_max = raw_v2("cpu.max").map(|v| {
            let mut f = v.split_whitespace();
            let quota = f.next().map_or(-1, |q| q.parse::<i64>().unwrap_or(-1));
            let period = f
                .next()
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(100_000);
            (quota, period)
        });
        if let Some((quota, period)) = raw_max {
            line("lxc.cgroup.cpu.cfs_period_us", &period.to_string());
            line("lxc.cgroup.cpu.cfs_quota_us", &quota.to_string());
        } else if cpulimit > 0.0 {
            line("lxc.cgroup.cpu.cfs_period_us", "100000");
            line(
                "lxc.cgroup.cpu.cfs_quota_us",
                &((100_000.0 * cpulimit) as u64).to_string(),
            );
        }
        let shares = match raw_v2("cpu.weight").and_then(|w| w.trim().parse::<u64>().ok()) {
            Some(w) => (w * 1024 / 100).clamp(2, 262_144),
            None => clamp_shares(opt("cpuunits"), true),
        };
        line("lxc.cgroup.cpu.shares", &shares.to_string());
    } else if cg.v2.contains("cpu") {
        if cpulimit > 0.0 {
            line(
                "lxc.cgroup2.cpu.max",
                &format!("{} 100000", (100_000.0 * cpulimit) as u64),
            );
        }
        if opt("cpuunits").is_some() {
            line(
                "lxc.cgroup2.cpu.weight",
                &clamp_shares(opt("cpuunits"), false).to_string(),
            );
        }
    }

    let rootfs = opt("rootfs").ok_or("missing 'rootfs' configuration")?;
    // An older pve-container cannot parse a mount point with a newer option: the rootfs is a
    // start error (`parse_volume`), mount points are skipped (`foreach_volume` with noerr).
    if let Err(e) = crate::cli::check_new_options(&sim.version, "rootfs", rootfs) {
        return Err(e
            .trim_start_matches("invalid format - ")
            .trim_end()
            .to_string());
    }
    let rootfs = ROOTFS_FORMAT
        .parse(rootfs)
        .map_err(|e| format!("rootfs: {e}"))?;
    let src = volume_source(sim, &rootfs["volume"], "rootfs")?;
    // Machine difference: the volume's directory itself is LXC's rootfs (see module comment).
    line("lxc.rootfs.path", &format!("dir:{src}"));
    let ropts = mount_options(&rootfs, unprivileged, &mut warnings, "rootfs");
    if !ropts.is_empty() {
        line("lxc.rootfs.options", &ropts.join(","));
    }

    // Mount points, parents before children (Proxmox mounts them sorted by path).
    let mut mps = Vec::new();
    for (k, v) in conf.options.iter().filter(|(k, _)| k.starts_with("mp")) {
        if crate::cli::check_new_options(&sim.version, k, v).is_err() {
            continue;
        }
        let p = MP_FORMAT.parse(v).map_err(|e| format!("{k}: {e}"))?;
        mps.push((p["mp"].clone(), k.clone(), p));
    }
    mps.sort();
    for (target, key, p) in mps {
        let src = volume_source(sim, &p["volume"], &key)?;
        let mut o = vec!["rbind".to_string(), "create=dir".to_string()];
        o.extend(mount_options(&p, unprivileged, &mut warnings, &key));
        let rel = target.trim_start_matches('/');
        line(
            "lxc.mount.entry",
            &format!(
                "{} {} none {} 0 0",
                fstab_escape(&src),
                fstab_escape(rel),
                o.join(",")
            ),
        );
    }

    if let Some(e) = entrypoint {
        line("lxc.init.cmd", e);
    }

    let has_net = conf.options.keys().any(|k| k.starts_with("net"));
    let bridges = if has_net {
        crate::netns::bridges(sim)
    } else {
        Vec::new()
    };
    for (k, v) in conf.options.iter().filter(|(k, _)| k.starts_with("net")) {
        let idx = &k[3..];
        let net = NET_FORMAT.parse(v).map_err(|e| format!("{k}: {e}"))?;
        line(&format!("lxc.net.{idx}.type"), "veth");
        line(
            &format!("lxc.net.{idx}.veth.pair"),
            &format!("veth{vmid}i{idx}"),
        );
        if let Some(hw) = net.get("hwaddr") {
            line(&format!("lxc.net.{idx}.hwaddr"), hw);
        }
        line(&format!("lxc.net.{idx}.name"), &net["name"]);
        line(
            &format!("lxc.net.{idx}.mtu"),
            net.get("mtu").map_or("1500", String::as_str),
        );
        // pve-container's `lxcnetaddbr` up-script plugs the port (src/netns.rs); a bridge the
        // node does not have is left out, as before bridges were simulated.
        if let Some(br) = net
            .get("bridge")
            .filter(|b| bridges.iter().any(|x| x.name == **b))
        {
            line(
                &format!("lxc.net.{idx}.script.up"),
                &crate::netns::up_script(
                    sim,
                    br,
                    net.get("tag").map(String::as_str),
                    net.get("trunks").map(String::as_str),
                ),
            );
        }
        if net.get("host-managed").is_some_and(|h| h == "1") {
            for (key, lxc_key, gw_key) in [("ip", "ipv4", "gw"), ("ip6", "ipv6", "gw6")] {
                if let Some(ip) = net.get(key).filter(|ip| ip.contains('/')) {
                    line(&format!("lxc.net.{idx}.{lxc_key}.address"), ip);
                    if let Some(gw) = net.get(gw_key) {
                        line(&format!("lxc.net.{idx}.{lxc_key}.gateway"), gw);
                    }
                }
            }
            line(&format!("lxc.net.{idx}.flags"), "up");
        }
    }

    let old_lxc = lxc_major() < 6;
    let env_key = if old_lxc {
        "lxc.environment"
    } else {
        "lxc.environment.runtime"
    };
    for e in &conf.env {
        line(env_key, e);
    }

    let mut had_cpuset = false;
    for (k, v) in &conf.lxc {
        had_cpuset |= k == "lxc.cgroup.cpuset.cpus" || k == "lxc.cgroup2.cpuset.cpus";
        if old_lxc && k == "lxc.environment.hooks" {
            warnings.push(format!("{k}: not supported by LXC < 6; dropped"));
            continue;
        }
        line(k, v);
        // v1 equivalents of raw cgroup2 keys that are not handled with the limits above.
        if let Some(sub) = k.strip_prefix("lxc.cgroup2.") {
            let ctrl = sub.split('.').next().unwrap_or("");
            if cg.v1.contains(ctrl) && !cg.v2.contains(ctrl) {
                if let Some(v1key) = match sub {
                    "pids.max" | "cpuset.cpus" | "cpuset.mems" | "devices.allow"
                    | "devices.deny" => Some(sub),
                    _ => None,
                } {
                    line(&format!("lxc.cgroup.{v1key}"), v);
                }
            }
        }
    }

    if let Some(cores) = opt("cores").and_then(|c| c.parse::<usize>().ok()) {
        if !had_cpuset {
            if let Some(cpus) = pick_cpus(cores) {
                let ver = if cg.v1.contains("cpuset") { "" } else { "2" };
                line(&format!("lxc.cgroup{ver}.cpuset.cpus"), &cpus);
            }
        }
    }

    if let Some(msg) = crate::prestart::failure(sim, vmid, conf) {
        line(
            "lxc.hook.pre-start",
            &crate::prestart::failing_hook(&msg, &sim.stderr_path(vmid)),
        );
    }
    if inject_failure {
        line("lxc.hook.pre-start", "/bin/false");
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_fstab_fields() {
        assert_eq!(fstab_escape("/a b\\c"), "/a\\040b\\134c");
    }

    #[test]
    fn shares_are_clamped() {
        assert_eq!(clamp_shares(None, true), 1024);
        assert_eq!(clamp_shares(Some("0"), true), 2);
        assert_eq!(clamp_shares(Some("500000"), false), 10_000);
    }
}
