//! The library's modules import one way (docs/architecture.md, "Layers"): each only from its own
//! layer or those below, and without cycles. Read from the `crate::` paths in `src/` (tests
//! modules left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first.
const LAYERS: &[&[&str]] = &[
    &["sys"],
    &[
        "config", "pve", "logging", "audit", "nsfile", "procexit", "seccomp", "apparmor", "rootfs",
        "console", "ctstats", "prom", "httpd", "progress", "opstats",
    ],
    &["mapping", "state", "vztmpl", "oci", "transport", "api"],
    &["backend"],
    &[
        "cgroups_path",
        "nsenter",
        "process",
        "launch",
        "hooks",
        "pending",
        "remote",
        "access",
        "follow",
        "failover",
        "shim",
        "doctor",
    ],
    &["commands", "cli"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` has no layer in tests/layers.rs"))
}

/// The crate's top-level modules each file of `src/` imports from.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            if rel == "init" || rel == "lib.rs" || rel == "main.rs" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let top = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let deps = out.entry(top.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    group[..group.find('}').unwrap_or(0)]
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or(""))
                        .collect()
                } else {
                    vec![rest
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap()]
                };
                for n in names.into_iter().filter(|n| !n.is_empty() && *n != top) {
                    deps.insert(n.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn modules_import_only_from_their_layer_or_below() {
    let mut upward = Vec::new();
    for (m, deps) in imports() {
        for d in deps {
            if layer_of(&d) > layer_of(&m) {
                upward.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports that reach up: {upward:?}");
}

#[test]
fn there_are_no_import_cycles() {
    let graph = imports();
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            cycles.push(format!("{} -> {m}", path[i..].join(" -> ")));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, path, done, cycles);
        }
        path.pop();
    }
    let (mut done, mut cycles) = (BTreeSet::new(), Vec::new());
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}
