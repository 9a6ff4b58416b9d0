//! contrib/grafana/proxmox-lxcri.json: importable into Grafana (one `DS_PROMETHEUS` input that
//! every panel and variable uses, a grid that fits), every query valid PromQL (`promtool check
//! rules`, Debian's `prometheus` package), and every metric and label it draws one that
//! `proxmox-lxcri metrics` emits on pve-sim.

mod common;

use common::cases;
use common::remote::ApiRemote;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/grafana/proxmox-lxcri.json"
);

/// The runtime's operation metrics and their labels, as agreed for issue 13 (docs/monitoring.md,
/// "Runtime operations"): the dashboard draws them by exactly these names.
const OPERATION_METRICS: &[(&str, &[&str])] = &[
    ("proxmox_lxcri_operations_total", &["subcommand", "result"]),
    (
        "proxmox_lxcri_operation_duration_seconds",
        &["subcommand", "le"],
    ),
    (
        "proxmox_lxcri_operation_failures_total",
        &["subcommand", "reason"],
    ),
    (
        "proxmox_lxcri_backend_calls_total",
        &["backend", "call", "result"],
    ),
    (
        "proxmox_lxcri_backend_call_duration_seconds",
        &["backend", "call", "le"],
    ),
    (
        "proxmox_lxcri_container_restarts_total",
        &["id", "vmid", "node", "backend"],
    ),
];

fn dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every panel that draws something (rows hold none here: they are not collapsed).
fn panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// (panel title, expr, legendFormat) of every target.
fn targets(d: &Value) -> Vec<(String, String, String)> {
    panels(d)
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            p["targets"].as_array().into_iter().flatten().map(move |t| {
                (
                    title.clone(),
                    t["expr"].as_str().unwrap_or_default().to_string(),
                    t["legendFormat"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect()
}

/// `expr` as Grafana sends it with every variable at "All": its interval variables and each
/// template variable's `allValue`.
fn substituted(d: &Value, expr: &str) -> String {
    let mut e = expr
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "30s");
    for v in d["templating"]["list"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let all = v["allValue"].as_str().unwrap_or(".*");
        e = e
            .replace(&format!("${{{name}}}"), all)
            .replace(&format!("${name}"), all);
    }
    assert!(
        !e.contains('$'),
        "a variable the dashboard does not define: {expr}"
    );
    e
}

/// The `proxmox_lxcri_` names in `expr`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("proxmox_lxcri_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// A histogram's series name to its family (`_bucket` of a family that is a histogram).
fn family<'a>(name: &'a str, histograms: &BTreeSet<String>) -> &'a str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|f| histograms.contains(*f)))
        .unwrap_or(name)
}

/// Labels an expression groups or names series by: `by (...)` clauses and the legend's `{{x}}`.
fn used_labels(expr: &str, legend: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("by (") {
        let tail = &rest[i + 4..];
        let end = tail.find(')').expect("closing parenthesis");
        labels.extend(tail[..end].split(',').map(|l| l.trim().to_string()));
        rest = &tail[end..];
    }
    let mut rest = legend;
    while let Some(i) = rest.find("{{") {
        let tail = &rest[i + 2..];
        let end = tail.find("}}").expect("closing }}");
        labels.insert(tail[..end].trim().to_string());
        rest = &tail[end..];
    }
    labels.retain(|l| !l.is_empty());
    labels
}

#[test]
fn imports_with_one_prometheus_datasource_input() {
    let d = dashboard();
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    assert_eq!(inputs[0]["name"], "DS_PROMETHEUS");
    assert_eq!(inputs[0]["type"], "datasource");
    assert_eq!(inputs[0]["pluginId"], "prometheus");
    // The classic model as current Grafana writes it (older schemas are migrated on import).
    assert!(d["schemaVersion"].as_u64().unwrap() >= 41);
    assert_eq!(d["uid"], "proxmox-lxcri");
    assert!(
        d["id"].is_null(),
        "an export for import carries no database id"
    );
    let ds = |v: &Value, what: &str| {
        assert_eq!(v["datasource"]["type"], "prometheus", "{what}");
        assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}", "{what}");
    };
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap();
        assert!(ids.insert(p["id"].as_u64().unwrap()), "{title}: id taken");
        if p["type"] == "row" {
            continue;
        }
        ds(p, title);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            ds(t, title);
            assert!(!t["expr"].as_str().unwrap().is_empty(), "{title}");
        }
        assert!(
            ["timeseries", "stat", "bargauge"].contains(&p["type"].as_str().unwrap()),
            "{title}: a core panel type"
        );
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        ds(v, v["name"].as_str().unwrap());
    }
}

#[test]
fn panels_fit_the_grid_without_overlapping() {
    let d = dashboard();
    let boxes: Vec<(String, [u64; 4])> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let g = &p["gridPos"];
            let n = |k: &str| g[k].as_u64().unwrap();
            (
                p["title"].as_str().unwrap().to_string(),
                [n("x"), n("y"), n("w"), n("h")],
            )
        })
        .collect();
    for (t, [x, _, w, h]) in &boxes {
        assert!(
            x + w <= 24 && *w > 0 && *h > 0,
            "{t}: outside the 24 columns"
        );
    }
    for (i, (a, [ax, ay, aw, ah])) in boxes.iter().enumerate() {
        for (b, [bx, by, bw, bh]) in &boxes[i + 1..] {
            let apart = ax + aw <= *bx || bx + bw <= *ax || ay + ah <= *by || by + bh <= *ay;
            assert!(apart, "{a} and {b} overlap");
        }
    }
}

/// promtool's verdict on a rules file recording each of `exprs`.
fn check_rules(exprs: &[String]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": e}))
        .collect();
    // JSON is YAML: promtool reads it as the rules file it is.
    let file = dir.path().join("rules.yml");
    let text = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, text.to_string()).unwrap();
    Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (Debian package prometheus) must be installed")
}

#[test]
fn every_query_is_valid_promql() {
    let d = dashboard();
    let mut exprs: Vec<String> = targets(&d)
        .iter()
        .map(|(_, e, _)| substituted(&d, e))
        .collect();
    // A variable's label_values(SELECTOR, LABEL): its selector is PromQL too.
    for v in d["templating"]["list"].as_array().unwrap() {
        let q = v["query"]["query"].as_str().unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{q}: label_values(SELECTOR, LABEL)"));
        let (selector, _label) = inner.rsplit_once(',').unwrap();
        exprs.push(substituted(&d, selector));
    }
    assert!(exprs.len() > 20, "{exprs:?}");
    let out = check_rules(&exprs);
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check has teeth: a broken expression is refused.
    let broken = check_rules(&["sum by (id (proxmox_lxcri_container_pids)".to_string()]);
    assert!(
        !broken.status.success(),
        "promtool took a broken expression"
    );
}

/// Family name -> label names of its samples, from an exposition.
fn families(text: &str) -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let mut fams: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut histograms = BTreeSet::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix("# TYPE ") {
            let mut it = t.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            fams.entry(name.to_string()).or_default();
            if kind == "histogram" {
                histograms.insert(name.to_string());
            }
        } else if !l.starts_with('#') && !l.is_empty() {
            let name_end = l.find(['{', ' ']).unwrap();
            let fam = family(&l[..name_end], &histograms).to_string();
            let labels = fams.entry(fam).or_default();
            if let Some(body) = l[name_end..]
                .strip_prefix('{')
                .and_then(|b| b.split_once('}'))
            {
                // Label values here have no `,` or `=` of their own worth parsing around.
                for pair in body.0.split("\",") {
                    if let Some((k, _)) = pair.split_once('=') {
                        labels.insert(k.trim().to_string());
                    }
                }
            }
        }
    }
    (fams, histograms)
}

#[test]
fn every_metric_and_label_it_draws_is_emitted_on_pve_sim() {
    // What tests/metrics.rs sees: a local pct CT and an api CT under one --root, the api
    // backend's two nodes, their storages and the quorum.
    let r = ApiRemote::new("grafana_api", "sim,sim2", "sim", "");
    let mut local = Sim::new("grafana_local");
    local.state_root = r.sim.state_root.clone();
    cases::running(&local, "l1");
    let rb = r.sim.bundle("rb", "sleep 1000");
    create(&r.sim, &rb, "r1").start();
    let out = r.sim.run(&["metrics"]);
    assert!(out.status.success(), "metrics: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let (fams, histograms) = families(&text);

    let d = dashboard();
    let shared: BTreeMap<&str, &[&str]> = OPERATION_METRICS.iter().copied().collect();
    let mut drawn = BTreeSet::new();
    for (title, expr, legend) in targets(&d) {
        let names = metric_names(&expr);
        assert!(
            !names.is_empty(),
            "{title}: draws no proxmox_lxcri_ metric: {expr}"
        );
        let mut labels_there = BTreeSet::new();
        for n in &names {
            let f = family(n, &histograms);
            let f = shared
                .keys()
                .find(|s| {
                    n.strip_prefix(**s)
                        .is_some_and(|x| x.is_empty() || x == "_bucket")
                })
                .copied()
                .unwrap_or(f);
            drawn.insert(f.to_string());
            if let Some(labels) = shared.get(f) {
                labels_there.extend(labels.iter().map(|l| l.to_string()));
                continue;
            }
            let labels = fams.get(f).unwrap_or_else(|| {
                panic!("panel {title:?} draws {f}, which `proxmox-lxcri metrics` does not emit on pve-sim:\n{text}")
            });
            labels_there.extend(labels.iter().cloned());
        }
        for l in used_labels(&expr, &legend) {
            assert!(
                labels_there.contains(&l),
                "panel {title:?} groups or names by {l:?}, a label none of {names:?} has ({labels_there:?})"
            );
        }
    }
    // The variables' label_values() too.
    for v in d["templating"]["list"].as_array().unwrap() {
        let q = v["query"]["query"].as_str().unwrap();
        let label = q.trim_end_matches(')').rsplit(',').next().unwrap().trim();
        for n in metric_names(q) {
            let labels = fams
                .get(&n)
                .unwrap_or_else(|| panic!("{q}: {n} not emitted"));
            assert!(labels.contains(label), "{q}: {n} has no label {label}");
        }
    }
    // The panels an operator looks at first are all there.
    for f in [
        "proxmox_lxcri_container_state",
        "proxmox_lxcri_container_cpu_seconds_total",
        "proxmox_lxcri_container_memory_usage_bytes",
        "proxmox_lxcri_container_network_receive_bytes_total",
        "proxmox_lxcri_container_block_io_bytes_total",
        "proxmox_lxcri_container_oom_kills_total",
        "proxmox_lxcri_node_up",
        "proxmox_lxcri_node_memory_used_bytes",
        "proxmox_lxcri_node_storage_used_bytes",
        "proxmox_lxcri_cluster_quorate",
    ]
    .iter()
    .chain(shared.keys())
    {
        assert!(drawn.contains(*f), "no panel draws {f}");
    }
}

/// The operation metrics the dashboard draws by their agreed names are emitted once a runtime
/// has run operations (a create, a failed state, backend calls); fails naming each one missing.
#[test]
fn the_operation_metrics_it_draws_are_emitted() {
    let sim = Sim::new("grafana_ops");
    let b = sim.bundle("b", "sleep 1000");
    // Running, so that it has its restarts line; the Sim's drop deletes it.
    create(&sim, &b, "c1").start();
    assert!(!sim.run(&["state", "no-such-container"]).status.success());
    let out = sim.run(&["metrics"]);
    assert!(out.status.success(), "metrics: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let (fams, _) = families(&text);
    let missing: Vec<String> = OPERATION_METRICS
        .iter()
        .filter_map(|(name, labels)| match fams.get(*name) {
            None => Some(format!("{name} (not emitted)")),
            Some(have) => {
                let lacking: Vec<&&str> = labels.iter().filter(|l| !have.contains(**l)).collect();
                (!lacking.is_empty()).then(|| format!("{name} (without labels {lacking:?})"))
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard draws these operation metrics, which `proxmox-lxcri metrics` does not emit as agreed: {}\n{text}",
        missing.join(", ")
    );
}
