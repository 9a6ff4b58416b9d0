//! `update [--resources FILE|-] [runc's limit flags] ID`: new limits for the running CT, mapped by
//! the rules `create` uses (`mapping::resources_to_ct`). API keys go through the backend live; raw
//! `lxc.cgroup2.*` keys replace the CT config's values and are written to the CT's cgroup.

use std::io::Read;

use anyhow::{anyhow, bail, Context};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use super::Ctx;
use crate::cli::UpdateArgs;
use crate::mapping::{self, MapError};
use crate::state::Status;

pub fn run(ctx: &Ctx, args: &UpdateArgs) -> anyhow::Result<()> {
    let id = &args.id;
    let dir = ctx.dir(id)?;
    let _lock = dir.lock()?;
    let st = dir.load()?;
    if !matches!(
        st.status(),
        Status::Created | Status::Running | Status::Paused
    ) {
        bail!("container not running: {id}");
    }
    let strict = st.config.strict;
    let mut input = match args.resources.as_deref() {
        Some(src) => read_json(src).with_context(|| format!("update {id}"))?,
        None => Value::Object(Map::new()),
    };
    apply_flags(&mut input, args).with_context(|| format!("update {id}"))?;
    let res: LinuxResources = serde_json::from_value(input.clone())
        .with_context(|| format!("update {id}: invalid resources JSON"))?;
    let mut unknown = Vec::new();
    unknown_fields(&input, &serde_json::to_value(&res)?, "", &mut unknown);
    for f in unknown {
        if strict {
            bail!("update {id}: linux.resources.{f}: unknown field");
        }
        log::warn!("update {id}: linux.resources.{f}: unknown field, ignored");
    }
    let backend = ctx.backend(&st.config);
    let upd = mapping::resources_to_ct(&res, strict, backend.node_memory(), backend.cgroup_mode())
        .map_err(|e| match e {
            MapError::Unsupported { field, reason } | MapError::Invalid { field, reason } => {
                anyhow!("update {id}: {field}: {reason}")
            }
        })?;
    for w in &upd.warnings {
        log::warn!("update {id}: {}", w.trim_start_matches("config.json: "));
    }
    if upd.ct.options.is_empty() && upd.ct.lxc.is_empty() && upd.unset.is_empty() {
        return Ok(());
    }
    let (vmid, init) = crate::access::ct_of(&st)?;
    let notes = backend.update(vmid, init, &upd.ct, &upd.unset)?;
    for n in notes {
        log::warn!("update {id}: {n}");
    }
    Ok(())
}

/// The resources document from a file or (`-`) stdin.
fn read_json(src: &str) -> anyhow::Result<Value> {
    let data = if src == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("read resources from stdin")?;
        b
    } else {
        std::fs::read(src).with_context(|| format!("read resources {src}"))?
    };
    let v: Value = serde_json::from_slice(&data).context("invalid resources JSON")?;
    if !v.is_object() {
        bail!("invalid resources JSON: not an object");
    }
    Ok(v)
}

/// runc's individual flags, on top of `--resources`.
fn apply_flags(v: &mut Value, a: &UpdateArgs) -> anyhow::Result<()> {
    let int = |flag: &str, s: &str| -> anyhow::Result<i64> {
        s.parse()
            .map_err(|_| anyhow!("invalid value for --{flag}: {s}"))
    };
    let bytes = |flag: &str, s: &str| -> anyhow::Result<i64> {
        parse_bytes(s).ok_or_else(|| anyhow!("invalid value for --{flag}: {s}"))
    };
    let mut set = |section: &str, key: &str, val: Value| {
        let obj = v.as_object_mut().expect("checked to be an object");
        let sec = obj.entry(section).or_insert_with(|| json!({}));
        if !sec.is_object() {
            *sec = json!({});
        }
        sec[key] = val;
    };
    if let Some(s) = &a.memory {
        set("memory", "limit", bytes("memory", s)?.into());
    }
    if let Some(s) = &a.memory_swap {
        set("memory", "swap", bytes("memory-swap", s)?.into());
    }
    if let Some(s) = &a.cpu_quota {
        set("cpu", "quota", int("cpu-quota", s)?.into());
    }
    if let Some(s) = &a.cpu_period {
        set("cpu", "period", unsigned("cpu-period", s)?.into());
    }
    if let Some(s) = &a.cpu_share {
        set("cpu", "shares", unsigned("cpu-share", s)?.into());
    }
    if let Some(s) = &a.cpuset_cpus {
        set("cpu", "cpus", s.as_str().into());
    }
    if let Some(s) = &a.pids_limit {
        set("pids", "limit", int("pids-limit", s)?.into());
    }
    Ok(())
}

fn unsigned(flag: &str, s: &str) -> anyhow::Result<u64> {
    s.parse()
        .map_err(|_| anyhow!("invalid value for --{flag}: {s}"))
}

/// A size as runc takes it (docker's `RAMInBytes`): bytes, or a number with a binary unit
/// `k`, `m`, `g`, `t`, `p` (any case, optionally followed by `i` and/or `b`); `-1` is unlimited.
pub fn parse_bytes(s: &str) -> Option<i64> {
    if s == "-1" {
        return Some(-1);
    }
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() || num.starts_with('.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mut unit = unit.strip_prefix(' ').unwrap_or(unit).chars().peekable();
    let power = match unit.peek().map(|c| c.to_ascii_lowercase()) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            unit.next();
            "kmgtp".find(c).expect("listed") as i32 + 1
        }
        _ => 0,
    };
    if unit.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        unit.next();
    }
    if unit.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        unit.next();
    }
    if unit.next().is_some() {
        return None;
    }
    let v = n * 1024f64.powi(power);
    (v < i64::MAX as f64).then_some(v as i64)
}

/// Keys of `input` that did not survive parsing into `LinuxResources` (typos, unknown sections).
fn unknown_fields(input: &Value, parsed: &Value, path: &str, out: &mut Vec<String>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (input, parsed) {
        (Value::Object(i), Value::Object(p)) => {
            for (k, v) in i.iter().filter(|(_, v)| !v.is_null()) {
                match p.get(k) {
                    Some(pv) => unknown_fields(v, pv, &join(k), out),
                    None => out.push(join(k)),
                }
            }
        }
        (Value::Array(i), Value::Array(p)) => {
            for (n, (iv, pv)) in i.iter().zip(p).enumerate() {
                unknown_fields(iv, pv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc_reads_them() {
        let mib = 1 << 20;
        for (s, want) in [
            ("1024", 1024),
            ("-1", -1),
            ("512m", 512 * mib),
            ("512M", 512 * mib),
            ("512mb", 512 * mib),
            ("512MiB", 512 * mib),
            ("1g", 1 << 30),
            ("1.5k", 1536),
            ("2 kb", 2048),
            ("10b", 10),
        ] {
            assert_eq!(parse_bytes(s), Some(want), "{s}");
        }
        for bad in ["", "m", "1x", "-2", "1mm", ".5k", "1 k b"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    fn args(argv: &[&str]) -> UpdateArgs {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(
            ["proxmox-lxcri", "update"]
                .iter()
                .chain(argv)
                .chain(&["id"]),
        )
        .unwrap();
        match cli.command {
            Some(crate::cli::Command::Update(u)) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_become_linux_resources() {
        let a = args(&[
            "--memory",
            "256m",
            "--memory-swap=-1",
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--cpu-share",
            "512",
            "--cpuset-cpus",
            "0-1",
            "--pids-limit",
            "64",
        ]);
        let mut v = json!({"memory": {"reservation": 1}, "cpu": {"quota": 1}});
        apply_flags(&mut v, &a).unwrap();
        assert_eq!(
            v,
            json!({
                "memory": {"reservation": 1, "limit": 268435456, "swap": -1},
                "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0-1"},
                "pids": {"limit": 64}
            })
        );
        let r: LinuxResources = serde_json::from_value(v).unwrap();
        let m = mapping::resources_to_ct(&r, true, None, mapping::CgroupMode::Unified).unwrap();
        assert_eq!(m.ct.options["memory"], "256");
        assert_eq!(m.ct.options["cpulimit"], "0.5");
        let e = apply_flags(&mut json!({}), &args(&["--memory", "lots"])).unwrap_err();
        assert_eq!(e.to_string(), "invalid value for --memory: lots");
    }

    #[test]
    fn unknown_keys_are_found() {
        let input = json!({"memory": {"limit": 1, "limt": 2, "swap": null}, "cpus": {},
                           "devices": [{"allow": true, "acess": "r"}]});
        let res: LinuxResources = serde_json::from_value(input.clone()).unwrap();
        let mut out = Vec::new();
        unknown_fields(&input, &serde_json::to_value(&res).unwrap(), "", &mut out);
        out.sort();
        assert_eq!(out, ["cpus", "devices[0].acess", "memory.limt"]);
    }
}
