//! Helpers for the mapping's unit tests: specs from JSON snippets merged into a minimal bundle.

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde_json::Value;

use super::{map, Launch, MapContext, MapError, Mapped, Owner};
use crate::pve::version::NodeCaps;

/// The smallest config.json that maps without errors or warnings.
pub const BASE: &str = r#"{
  "ociVersion": "1.0.2",
  "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
  "root": {"path": "rootfs"},
  "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}
}"#;

pub const INIT_HOST: &str = "/usr/libexec/proxmox-lxcri/init";
pub const INIT_CT: &str = "/dev/.proxmox-lxcri-init";

/// Deep-merge `patch` into `base`: objects merge, anything else replaces, `null` deletes.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// `BASE` with `patch` merged in.
pub fn spec_with(patch: &str) -> Spec {
    let mut v: Value = serde_json::from_str(BASE).unwrap();
    merge(&mut v, &serde_json::from_str(patch).expect("patch is JSON"));
    serde_json::from_value(v).expect("valid spec")
}

/// The description lines [`ctx`]'s owner gives, after the id line.
pub const OWNER_LINES: &str =
    "proxmox-lxcri host: 0123456789abcdef0123456789abcdef\nproxmox-lxcri root: /run/proxmox-lxcri";

pub fn ctx() -> MapContext {
    MapContext {
        id: "ctr1".into(),
        owner: Owner {
            host: "0123456789abcdef0123456789abcdef".into(),
            root: "/run/proxmox-lxcri".into(),
        },
        bundle: PathBuf::from("/b"),
        launch: Launch::Init {
            host_path: INIT_HOST.into(),
            ct_path: INIT_CT.into(),
        },
        strict: true,
        unprivileged: true,
        arch: "amd64".into(),
        bind_kinds: Default::default(),
        node: current_node(),
        host_devices: Some(Default::default()),
        canonical: Default::default(),
        memory: Default::default(),
        cgroup: Default::default(),
    }
}

/// A node of the newest pve-container the mapping knows (Proxmox VE 9.1.x).
pub fn current_node() -> NodeCaps {
    NodeCaps::of_str("6.1.10").unwrap()
}

pub fn entry_ctx() -> MapContext {
    MapContext {
        launch: Launch::Entrypoint,
        ..ctx()
    }
}

pub fn loose(c: MapContext) -> MapContext {
    MapContext { strict: false, ..c }
}

pub fn map_ok(spec: &Spec, c: &MapContext) -> Mapped {
    match map(spec, c) {
        Ok(m) => m,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

pub fn map_err(spec: &Spec, c: &MapContext) -> MapError {
    match map(spec, c) {
        Ok(m) => panic!("expected an error, got {:#?}", m.ct),
        Err(e) => e,
    }
}

pub fn is_unsupported(e: &MapError, f: &str) -> bool {
    matches!(e, MapError::Unsupported { field, .. } if field == f)
}

pub fn is_invalid(e: &MapError, f: &str) -> bool {
    matches!(e, MapError::Invalid { field, .. } if field == f)
}

/// Values of raw key `key`, in order.
pub fn lxc<'a>(m: &'a Mapped, key: &str) -> Vec<&'a str> {
    m.ct.lxc
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub fn opt<'a>(m: &'a Mapped, key: &str) -> Option<&'a str> {
    m.ct.options.get(key).map(String::as_str)
}

/// Strict mode fails naming `f` as unsupported; non-strict maps with a warning naming it.
pub fn assert_unsupported(spec: &Spec, c: &MapContext, f: &str) -> Mapped {
    let e = map_err(spec, c);
    assert!(is_unsupported(&e, f), "expected Unsupported {f}, got {e:?}");
    let m = map_ok(spec, &loose(c.clone()));
    assert!(
        m.warnings
            .iter()
            .any(|w| w.starts_with(&format!("config.json: {f}: "))),
        "no warning for {f}: {:?}",
        m.warnings
    );
    m
}
