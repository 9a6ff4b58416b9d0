//! `delete` on a node in memory: the CT is destroyed only if it names the container, a failed
//! destroy keeps the state for a retry, and the retry finishes the job.

use super::delete;
use super::Ctx;
use crate::backend::memory::Memory;
use crate::cli::DeleteArgs;
use crate::pve::{CtConfig, Vmid};
use crate::state::{ContainerDir, State};

const VMID: u32 = 700001;

struct Case {
    _dir: tempfile::TempDir,
    ctx: Ctx,
    node: Memory,
    root: std::path::PathBuf,
}

/// A stopped container `d1` whose CT (VMID 700001) has `description`.
fn case(description: &str) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "node = \"mem\"\nvmid_range = [700000, 700004]\n").unwrap();
    let node = Memory::default();
    node.0.borrow_mut().cts.insert(
        VMID,
        CtConfig {
            description: description.into(),
            ..Default::default()
        },
    );
    let handed = node.clone();
    let ctx = Ctx::with_backends(
        root.clone(),
        config,
        Box::new(move |_| Box::new(handed.clone())),
    );
    let d = ContainerDir::new(&root, "d1").unwrap();
    let _lock = d.create().unwrap();
    d.save(&State::stopped_for_tests(
        "d1",
        Some(Vmid::new(VMID).unwrap()),
    ))
    .unwrap();
    Case {
        _dir: dir,
        ctx,
        node,
        root,
    }
}

fn delete(c: &Case) -> anyhow::Result<()> {
    delete::run(
        &c.ctx,
        &DeleteArgs {
            force: false,
            id: "d1".into(),
        },
    )
}

#[test]
fn a_stopped_container_loses_its_ct_and_its_state() {
    let c = case("proxmox-lxcri id: d1\n");
    delete(&c).unwrap();
    assert!(c.node.0.borrow().cts.is_empty());
    assert!(!c.root.join("d1").exists());
}

#[test]
fn a_failed_destroy_keeps_the_state_and_a_retry_finishes() {
    let c = case("proxmox-lxcri id: d1\n");
    c.node.0.borrow_mut().fail = Some("destroy");
    let err = delete(&c).unwrap_err();
    assert!(format!("{err:#}").contains("pct destroy"), "{err:#}");
    assert!(
        c.root.join("d1").join("state.json").exists(),
        "kept for a retry"
    );
    assert_eq!(c.node.0.borrow().cts.len(), 1);
    c.node.0.borrow_mut().fail = None;
    delete(&c).unwrap();
    assert!(c.node.0.borrow().cts.is_empty());
    assert!(!c.root.join("d1").exists());
}

#[test]
fn a_ct_that_names_another_container_is_left_alone() {
    let c = case("proxmox-lxcri id: someone-else\n");
    delete(&c).unwrap();
    let n = c.node.0.borrow();
    assert_eq!(n.cts.len(), 1, "another container's CT is never destroyed");
    assert!(!n.calls.contains(&"destroy".to_string()), "{:?}", n.calls);
    assert!(!c.root.join("d1").exists(), "our state goes");
}
