//! `rebalance [--dry-run] [--threshold LOAD] [--max-moves N]`: migrate containers of this root
//! from the most to the least loaded nodes while the spread of load exceeds the threshold
//! (docs/cluster.md, "Rebalance").
//!
//! A node's load is the memory limit of its running guests (every CT and VM, not only ours:
//! they all hold the node's memory) over the node's memory. Memory, not CPU: it is what a
//! guest is given and keeps, while `cpu` in `/nodes` is a moment's sample that a migration
//! itself disturbs. The plan is greedy: take the most and least loaded online nodes; if their
//! spread exceeds the threshold, move the container of ours on the most loaded node whose move
//! leaves the smallest spread over all nodes, if that is smaller than before; repeat. Movable
//! are containers that `migrate` moves with their workload running (created or running ones;
//! stopped ones load nothing).

use std::collections::BTreeMap;

use anyhow::bail;

use super::{out, Ctx};
use crate::backend::migrate::{ClusterLoad, LOCAL_REFUSAL};
use crate::cli::RebalanceArgs;
use crate::state::Status;

/// A container that may move: its id, CT, node and memory limit (bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Movable {
    pub id: String,
    pub vmid: u32,
    pub node: String,
    pub mem: u64,
}

/// One planned migration.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub vmid: u32,
    pub from: String,
    pub to: String,
}

/// Each online node's load: running guests' memory limits over its memory.
pub fn loads(c: &ClusterLoad) -> BTreeMap<String, f64> {
    c.nodes
        .iter()
        .filter(|n| n.status == "online" && n.maxmem > 0)
        .map(|n| {
            let used: u64 = c
                .guests
                .iter()
                .filter(|g| g.running && g.node == n.node)
                .map(|g| g.maxmem)
                .sum();
            (n.node.clone(), used as f64 / n.maxmem as f64)
        })
        .collect()
}

fn spread(l: &BTreeMap<String, f64>) -> f64 {
    let max = l.values().cloned().fold(f64::MIN, f64::max);
    let min = l.values().cloned().fold(f64::MAX, f64::min);
    if l.is_empty() {
        0.0
    } else {
        max - min
    }
}

/// The greedy plan (module doc); `maxmem` is each node's memory.
pub fn plan(
    c: &ClusterLoad,
    mut movable: Vec<Movable>,
    threshold: f64,
    max_moves: usize,
) -> Vec<Step> {
    let mut l = loads(c);
    let maxmem: BTreeMap<&str, u64> = c
        .nodes
        .iter()
        .map(|n| (n.node.as_str(), n.maxmem))
        .collect();
    let mut steps = Vec::new();
    while steps.len() < max_moves {
        let before = spread(&l);
        if before <= threshold {
            break;
        }
        let by_load = |a: &(&String, &f64), b: &(&String, &f64)| {
            a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0))
        };
        let (Some((hi, _)), Some((lo, _))) = (
            l.iter().max_by(by_load).map(|(n, v)| (n.clone(), *v)),
            l.iter().min_by(by_load).map(|(n, v)| (n.clone(), *v)),
        ) else {
            break;
        };
        let after = |m: &Movable| {
            let mut next = l.clone();
            *next.get_mut(&hi).unwrap() -= m.mem as f64 / maxmem[hi.as_str()] as f64;
            *next.get_mut(&lo).unwrap() += m.mem as f64 / maxmem[lo.as_str()] as f64;
            next
        };
        let best = movable
            .iter()
            .enumerate()
            .filter(|(_, m)| m.node == hi)
            .map(|(i, m)| (i, after(m)))
            .min_by(|a, b| spread(&a.1).total_cmp(&spread(&b.1)).then(a.0.cmp(&b.0)));
        let Some((i, next)) = best.filter(|(_, next)| spread(next) < before) else {
            break;
        };
        let m = movable.remove(i);
        steps.push(Step {
            id: m.id,
            vmid: m.vmid,
            from: hi.clone(),
            to: lo.clone(),
        });
        l = next;
    }
    steps
}

pub fn run(ctx: &Ctx, args: &RebalanceArgs) -> anyhow::Result<()> {
    if args.threshold.is_nan() || args.threshold < 0.0 {
        bail!("rebalance: --threshold {}: not a load", args.threshold);
    }
    let cfg = ctx.config()?;
    let backend = ctx.backend(&cfg);
    if !backend.is_remote() {
        bail!("rebalance: {LOCAL_REFUSAL}");
    }
    let load = backend.cluster_load()?;
    let mut movable = Vec::new();
    for id in crate::state::list_ids(&ctx.root)? {
        let Ok(st) = ctx.dir(&id)?.load() else {
            continue;
        };
        let Some(vmid) = st.vmid else { continue };
        if !matches!(st.status(), Status::Created | Status::Running) {
            continue;
        }
        let Some(g) = load.guests.iter().find(|g| g.vmid == vmid.get()) else {
            continue;
        };
        movable.push(Movable {
            id,
            vmid: vmid.get(),
            node: g.node.clone(),
            mem: g.maxmem,
        });
    }
    let steps = plan(&load, movable, args.threshold, args.max_moves);
    if steps.is_empty() {
        return out(format!(
            "nothing to move: spread {:.2} (threshold {:.2})",
            spread(&loads(&load)),
            args.threshold
        ));
    }
    let mut failed = 0;
    for s in &steps {
        if args.dry_run {
            out(format!(
                "would move {} (CT {}) from {} to {}",
                s.id, s.vmid, s.from, s.to
            ))?;
            continue;
        }
        match super::migrate::move_one(ctx, &s.id, &s.to, args.timeout) {
            Ok(line) => out(line)?,
            Err(e) => {
                eprintln!("rebalance: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("rebalance: {failed} migration(s) failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NodeInfo;
    use crate::backend::migrate::Guest;

    fn node(name: &str, status: &str) -> NodeInfo {
        NodeInfo {
            node: name.into(),
            status: status.into(),
            cpu: 0.0,
            maxcpu: 4,
            mem: 0,
            maxmem: 1000,
            ssl_fingerprint: None,
        }
    }

    fn guest(vmid: u32, node: &str, running: bool, maxmem: u64) -> Guest {
        Guest {
            vmid,
            node: node.into(),
            running,
            maxmem,
        }
    }

    fn ours(id: &str, vmid: u32, node: &str, mem: u64) -> Movable {
        Movable {
            id: id.into(),
            vmid,
            node: node.into(),
            mem,
        }
    }

    #[test]
    fn load_is_running_guests_memory_over_the_nodes() {
        let c = ClusterLoad {
            nodes: vec![
                node("a", "online"),
                node("b", "online"),
                node("c", "offline"),
            ],
            guests: vec![
                guest(1, "a", true, 500),
                guest(2, "a", false, 500),
                guest(3, "b", true, 100),
                guest(4, "c", true, 900),
            ],
        };
        let l = loads(&c);
        assert_eq!(l.len(), 2, "offline nodes carry no load: {l:?}");
        assert_eq!((l["a"], l["b"]), (0.5, 0.1));
    }

    #[test]
    fn moves_from_the_most_to_the_least_loaded_until_within_the_threshold() {
        let c = ClusterLoad {
            nodes: vec![
                node("a", "online"),
                node("b", "online"),
                node("c", "online"),
            ],
            guests: vec![
                guest(1, "a", true, 400),
                guest(2, "a", true, 200),
                guest(3, "a", true, 200),
                guest(9, "b", true, 200),
            ],
        };
        let movable = vec![
            ours("x", 1, "a", 400),
            ours("y", 2, "a", 200),
            ours("z", 3, "a", 200),
        ];
        let steps = plan(&c, movable.clone(), 0.25, 10);
        // a 0.8, b 0.2, c 0: x (0.4) to c leaves 0.4/0.2/0.4, spread 0.2.
        assert_eq!(
            steps,
            vec![Step {
                id: "x".into(),
                vmid: 1,
                from: "a".into(),
                to: "c".into()
            }]
        );
        assert!(plan(&c, movable.clone(), 0.9, 10).is_empty(), "within");
        assert_eq!(plan(&c, movable, 0.0, 1).len(), 1, "max moves");
    }

    #[test]
    fn no_move_that_does_not_narrow_the_spread() {
        let c = ClusterLoad {
            nodes: vec![node("a", "online"), node("b", "online")],
            guests: vec![guest(1, "a", true, 1000)],
        };
        // Moving the one guest only swaps the nodes' loads.
        assert!(plan(&c, vec![ours("x", 1, "a", 1000)], 0.1, 10).is_empty());
        // Another's guest is never moved.
        assert!(plan(&c, vec![], 0.1, 10).is_empty());
    }
}
