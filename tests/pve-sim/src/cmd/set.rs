//! `pct set <vmid> [OPTIONS] [--delete LIST] [--revert LIST]` (pve-container: `update_vm` in
//! src/PVE/API2/LXC/Config.pm, `update_pct_config` in src/PVE/LXC/Config.pm) and
//! `pct unlock <vmid>`.
//!
//! Stopped CT: every change is applied at once. Running CT: the fast-plug keys are applied,
//! `memory`/`swap`/`cpulimit`/`cpuunits` are applied to the CT's cgroup, everything else stays
//! in `[pve:pending]` for the next start. (Hot-plugging `netN`, new `mpN` and `devN` is not
//! simulated: those stay pending too.)

use std::collections::BTreeMap;

use proxmox_lxcri::pve::config::parse_delete_list;
use proxmox_lxcri::pve::confkeys::{self, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT};
use proxmox_lxcri::pve::{propstr, CtConfig};

use super::{apply_pending, check_lock};
use crate::cli::{usage, Params};
use crate::fail::{Failure, Result};
use crate::sim::Sim;
use crate::{ct, storage, store};

const FASTPLUG: &[&str] = &[
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "cores",
    "tags",
    "lock",
];
const NOT_CONFIG: &[&str] = &["delete", "revert", "digest"];

fn set_usage() -> String {
    usage(
        &super::commands()
            .into_iter()
            .find(|c| c.name == "set")
            .expect("set is a command"),
    )
}

fn normalise(key: &str, value: &str) -> Result<String> {
    let fail = |e: String| Failure::die(format!("{key}: {e}"));
    Ok(if key == "tags" {
        confkeys::normalize_tags(value)
    } else if key == "nameserver" || key == "searchdomain" {
        confkeys::split_list(value).collect::<Vec<_>>().join(" ")
    } else if key == "rootfs" {
        ROOTFS_FORMAT
            .print(
                &ROOTFS_FORMAT
                    .parse(value)
                    .map_err(|e| fail(e.to_string()))?,
            )
            .map_err(|e| fail(e.to_string()))?
    } else if key.starts_with("mp") {
        MP_FORMAT
            .print(&MP_FORMAT.parse(value).map_err(|e| fail(e.to_string()))?)
            .map_err(|e| fail(e.to_string()))?
    } else if key.starts_with("net") {
        let mut m = NET_FORMAT.parse(value).map_err(|e| fail(e.to_string()))?;
        m.insert("type".into(), "veth".into());
        NET_FORMAT.print(&m).map_err(|e| fail(e.to_string()))?
    } else {
        value.to_string()
    })
}

/// The volume of a rootfs/mp value: a directory path or an existing storage volume (the sim
/// does not allocate volumes on `set`).
fn check_volume(sim: &Sim, key: &str, value: &str) -> Result<()> {
    let fmt = if key == "rootfs" {
        &ROOTFS_FORMAT
    } else {
        &MP_FORMAT
    };
    let vol = fmt
        .parse(value)
        .map_err(|e| Failure::die(format!("{key}: {e}")))?["volume"]
        .clone();
    if vol.starts_with('/') {
        return Ok(());
    }
    let (sid, size) = storage::parse_volume_id(&vol).map_err(Failure::die)?;
    let st = storage::storage_config(sim, sid).map_err(Failure::die)?;
    if propstr::is_number(size) {
        return Err(Failure::die(
            "pve-sim: allocating a volume with 'pct set' is not simulated",
        ));
    }
    if !st.allows("rootdir") {
        return Err(Failure::die(format!(
            "storage '{sid}' does not allow content type 'rootdir' (Container)"
        )));
    }
    storage::resolve(sim, &vol)
        .map(|_| ())
        .map_err(Failure::die)
}

/// Writes a limit into the running CT's cgroup (v1 layout of this host), found as Proxmox finds
/// it (`ct::limit_cgroup`).
fn cgroup_write(sim: &Sim, vmid: u32, file: &str, value: &str) -> std::result::Result<(), String> {
    let ctrl = file.split('.').next().unwrap_or("");
    let path = format!("{}/{file}", ct::limit_cgroup(sim, vmid, ctrl));
    std::fs::write(&path, value).map_err(|e| format!("unable to write '{path}' - {e}"))
}

/// `vmconfig_hotplug_pending` for the keys the sim can change live.
fn hotplug(sim: &Sim, vmid: u32, conf: &mut CtConfig, errors: &mut Vec<(String, String)>) {
    for k in FASTPLUG {
        if let Some(v) = conf.pending.remove(*k) {
            conf.set(k, &v);
        }
    }
    let deletes: Vec<String> = conf
        .pending_delete
        .iter()
        .map(|d| d.trim_start_matches('!').to_string())
        .collect();
    for key in deletes {
        let res = match key.as_str() {
            k if FASTPLUG.contains(&k) => Ok(()),
            // No swap: the memory+swap limit equals the memory limit.
            "swap" => {
                let mem = conf
                    .options
                    .get("memory")
                    .and_then(|m| m.parse::<u64>().ok())
                    .unwrap_or(512);
                cgroup_write(
                    sim,
                    vmid,
                    "memory.memsw.limit_in_bytes",
                    &(mem * 1024 * 1024).to_string(),
                )
            }
            "cpulimit" => cgroup_write(sim, vmid, "cpu.cfs_quota_us", "-1"),
            "cpuunits" => cgroup_write(sim, vmid, "cpu.shares", "1024"),
            _ => continue,
        };
        match res {
            Ok(()) => {
                conf.remove(&key);
                conf.pending_delete
                    .retain(|x| x.trim_start_matches('!') != key);
            }
            Err(e) => errors.push((key.clone(), format!("unable to hotplug {key}: {e}"))),
        }
    }

    let mib = |v: &str| v.parse::<u64>().unwrap_or(0) * 1024 * 1024;
    let mem = conf
        .pending
        .get("memory")
        .or(conf.options.get("memory"))
        .cloned()
        .unwrap_or_else(|| "512".into());
    let swap = conf
        .pending
        .get("swap")
        .or(conf.options.get("swap"))
        .cloned()
        .unwrap_or_else(|| "0".into());
    let mut applied = Vec::new();
    if conf.pending.contains_key("memory") || conf.pending.contains_key("swap") {
        let (m, s) = (mib(&mem), mib(&swap));
        // Raise memsw first when growing, the memory limit first when shrinking (v1 rule).
        let cur = std::fs::read_to_string(format!(
            "{}/memory.limit_in_bytes",
            ct::limit_cgroup(sim, vmid, "memory")
        ))
        .ok()
        .and_then(|c| c.trim().parse::<u64>().ok())
        .unwrap_or(0);
        let steps: Vec<(&str, String)> = if m >= cur {
            vec![
                ("memory.memsw.limit_in_bytes", (m + s).to_string()),
                ("memory.limit_in_bytes", m.to_string()),
            ]
        } else {
            vec![
                ("memory.limit_in_bytes", m.to_string()),
                ("memory.memsw.limit_in_bytes", (m + s).to_string()),
            ]
        };
        let res = steps
            .iter()
            .try_for_each(|(f, v)| cgroup_write(sim, vmid, f, v));
        for k in ["memory", "swap"] {
            if conf.pending.contains_key(k) {
                match &res {
                    Ok(()) => applied.push(k.to_string()),
                    Err(e) => errors.push((k.to_string(), format!("unable to hotplug {k}: {e}"))),
                }
            }
        }
    }
    if let Some(v) = conf.pending.get("cpulimit").cloned() {
        let quota = (v.parse::<f64>().unwrap_or(0.0) * 100_000.0) as i64;
        let quota = if quota == 0 { -1 } else { quota };
        let res = cgroup_write(sim, vmid, "cpu.cfs_period_us", "100000")
            .and_then(|_| cgroup_write(sim, vmid, "cpu.cfs_quota_us", &quota.to_string()));
        match res {
            Ok(()) => applied.push("cpulimit".into()),
            Err(e) => errors.push((
                "cpulimit".into(),
                format!("unable to hotplug cpulimit: {e}"),
            )),
        }
    }
    if let Some(v) = conf.pending.get("cpuunits").cloned() {
        let shares = v.parse::<u64>().unwrap_or(1024).clamp(2, 262_144);
        match cgroup_write(sim, vmid, "cpu.shares", &shares.to_string()) {
            Ok(()) => applied.push("cpuunits".into()),
            Err(e) => errors.push((
                "cpuunits".into(),
                format!("unable to hotplug cpuunits: {e}"),
            )),
        }
    }
    for k in applied {
        if let Some(v) = conf.pending.remove(&k) {
            conf.set(&k, &v);
        }
    }
}

pub fn run(sim: &Sim, p: &Params) -> Result<()> {
    let vmid = p.vmid;
    let params: BTreeMap<&str, &str> = p
        .opts
        .iter()
        .filter(|(k, _)| !NOT_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let delete: Vec<String> = p.get("delete").map(parse_delete_list).unwrap_or_default();
    let revert: Vec<String> = p.get("revert").map(parse_delete_list).unwrap_or_default();
    if params.is_empty() && delete.is_empty() && revert.is_empty() {
        return Err(Failure::die("no options specified"));
    }
    for k in delete.iter().chain(revert.iter()) {
        if params.contains_key(k.as_str()) {
            return Err(Failure::die(format!(
                "unable to delete parameter '{k}' - option is used in the same call"
            )));
        }
    }

    let _lock = store::lock(sim, vmid)?;
    let mut conf = store::load(sim, vmid)?;
    if let Some(d) = p.get("digest") {
        let raw = std::fs::read(sim.conf_path(vmid)).unwrap_or_default();
        if sha1_hex(&raw) != d {
            return Err(Failure::die(
                "detected modified configuration - file changed by other user? Try again.",
            ));
        }
    }
    check_lock(&conf)?;
    let protected = conf.options.get("protection").is_some_and(|v| v == "1");

    for k in &revert {
        conf.pending.remove(k);
        conf.pending_delete
            .retain(|d| d.trim_start_matches('!') != k);
    }
    for k in &delete {
        if conf.get(k).is_none() && !conf.pending.contains_key(k) {
            eprintln!("cannot delete '{k}' - not set in current configuration!");
            continue;
        }
        match k.as_str() {
            "memory" | "rootfs" | "ostype" => {
                return Err(Failure::die(format!(
                    "unable to delete required option '{k}'"
                )))
            }
            "unprivileged" => {
                return Err(Failure::die(format!(
                    "unable to delete read-only option: '{k}'"
                )))
            }
            _ if (k.starts_with("mp") || k.starts_with("unused")) && protected => {
                return Err(Failure::die(format!(
                    "can't remove CT {vmid} drive '{k}' - protection mode enabled"
                )))
            }
            _ => {}
        }
        if !conf
            .pending_delete
            .iter()
            .any(|d| d.trim_start_matches('!') == k)
        {
            conf.pending_delete.push(k.clone());
        }
        conf.pending.remove(k);
    }
    for (k, v) in &params {
        if *k == "unprivileged" {
            return Err(Failure::die(format!(
                "unable to modify read-only option: '{k}'"
            )));
        }
        if *k == "rootfs" || k.starts_with("mp") {
            if protected {
                return Err(Failure::die(format!(
                    "can't update CT {vmid} drive '{k}' - protection mode enabled"
                )));
            }
            check_volume(sim, k, v)?;
        }
        if k.starts_with("net") {
            crate::netns::update_check(sim, k, v).map_err(Failure::die)?;
        }
        let value = normalise(k, v)?;
        conf.pending.insert(k.to_string(), value);
        conf.pending_delete
            .retain(|d| d.trim_start_matches('!') != *k);
    }
    // `cleanup_pending`: pending values equal to the current ones are dropped.
    let current: Vec<String> = conf
        .pending
        .keys()
        .filter(|k| conf.get(k).as_ref() == conf.pending.get(*k))
        .cloned()
        .collect();
    for k in current {
        conf.pending.remove(&k);
    }

    let mut errors = Vec::new();
    if ct::is_running(sim, vmid) {
        hotplug(sim, vmid, &mut conf, &mut errors);
    } else {
        apply_pending(&mut conf);
    }
    store::write(sim, vmid, &conf)?;
    if !errors.is_empty() {
        return Err(Failure::Param {
            errors,
            usage: set_usage(),
        });
    }
    Ok(())
}

pub fn unlock(sim: &Sim, p: &Params) -> Result<()> {
    let _lock = store::lock(sim, p.vmid)?;
    let mut conf = store::load(sim, p.vmid)?;
    if conf.remove("lock") {
        store::write(sim, p.vmid, &conf)?;
    }
    Ok(())
}

/// SHA-1 of the raw config (Proxmox's `digest`), small and local to avoid a dependency.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
