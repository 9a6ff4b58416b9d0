//! `create`'s cleanup, step by step, on a node in memory: whichever step fails, no CT, no state
//! dir and no shim are left, and the error names the step.

use std::path::Path;

use super::create;
use super::Ctx;
use crate::backend::memory::Memory;
use crate::cli::CreateArgs;

struct Case {
    _dir: tempfile::TempDir,
    ctx: Ctx,
    args: CreateArgs,
    node: Memory,
    root: std::path::PathBuf,
}

fn case() -> Case {
    case_with(|_| {})
}

/// A case whose config.json `edit` changes first.
fn case_with(edit: impl FnOnce(&mut oci_spec::runtime::Spec)) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run");
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let mut spec = oci_spec::runtime::Spec::default();
    let mut process = spec.process().clone().unwrap();
    process.set_terminal(Some(false));
    spec.set_process(Some(process));
    edit(&mut spec);
    spec.save(bundle.join("config.json")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "node = \"mem\"\nvmid_range = [700000, 700004]\nnode_version = \"6.1.10\"\n\
         init_path = \"/bin/true\"\nunprivileged = false\n",
    )
    .unwrap();
    let node = Memory::default();
    let handed = node.clone();
    let ctx = Ctx::with_backends(
        root.clone(),
        config,
        Box::new(move |_| Box::new(handed.clone())),
    );
    let args = CreateArgs {
        bundle,
        pid_file: None,
        console_socket: None,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        id: "t1".into(),
    };
    Case {
        _dir: dir,
        ctx,
        args,
        node,
        root,
    }
}

/// Run `create` with the node set up by `setup`; the error, after checking nothing is left.
fn fails(setup: impl FnOnce(&mut crate::backend::memory::Node)) -> (String, Vec<String>) {
    fails_in(case(), setup)
}

fn fails_in(
    c: Case,
    setup: impl FnOnce(&mut crate::backend::memory::Node),
) -> (String, Vec<String>) {
    setup(&mut c.node.0.borrow_mut());
    let err = create::run(&c.ctx, &c.args, None).expect_err("create must fail");
    let n = c.node.0.borrow();
    assert!(n.cts.is_empty(), "CT left behind: {:?}", n.cts.keys());
    assert!(!c.root.join("t1").exists(), "state dir left behind");
    assert!(no_state_below(&c.root), "state files left behind");
    (format!("{err:#}"), n.calls.clone())
}

fn no_state_below(root: &Path) -> bool {
    std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .all(|e| e.file_name().to_string_lossy().starts_with('.'))
        })
        .unwrap_or(true)
}

#[test]
fn a_refused_storage_leaves_nothing() {
    let (err, calls) = fails(|n| n.fail = Some("check_storages"));
    assert!(err.contains("pct check_storages"), "{err}");
    assert!(!calls.contains(&"create".to_string()), "{calls:?}");
}

#[test]
fn without_quorum_nothing_is_made() {
    let (err, calls) = fails(|n| {
        n.quorum = Some(crate::backend::quorum::Quorum {
            cluster: Some("prod".into()),
            quorate: false,
        })
    });
    assert!(
        err.starts_with("node mem: cluster prod has no quorum;"),
        "{err}"
    );
    assert_eq!(calls, ["quorum"], "asked before anything else");
}

#[test]
fn a_failed_template_leaves_nothing() {
    let (err, calls) = fails(|n| n.fail = Some("template"));
    assert!(err.contains("template"), "{err}");
    assert!(!calls.contains(&"create".to_string()), "{calls:?}");
}

#[test]
fn a_failed_pct_create_leaves_nothing() {
    let (err, calls) = fails(|n| n.fail = Some("create"));
    assert!(err.contains("pct create"), "{err}");
    // The CT may exist half-made: the cleanup asks whose it is (none here) before destroying.
    assert!(calls.contains(&"is_ours".to_string()), "{calls:?}");
}

#[test]
fn a_failed_start_destroys_the_ct() {
    let (err, calls) = fails(|n| n.fail = Some("start"));
    assert!(err.contains("starting CT"), "{err}");
    let order: Vec<&str> = calls
        .iter()
        .map(String::as_str)
        .filter(|c| ["create", "start", "is_ours", "destroy"].contains(c))
        .collect();
    assert_eq!(order, ["create", "start", "is_ours", "destroy"]);
}

#[test]
fn a_failed_status_destroys_the_ct() {
    let (err, calls) = fails(|n| n.fail = Some("status"));
    assert!(err.contains("pct status"), "{err}");
    assert!(
        calls.ends_with(&["is_ours".into(), "destroy".into()]),
        "{calls:?}"
    );
}

#[test]
fn a_ct_that_stops_at_once_is_destroyed() {
    let (err, calls) = fails(|n| n.stops_at_once = true);
    assert!(err.contains("stopped right after start"), "{err}");
    assert!(calls.contains(&"destroy".to_string()), "{calls:?}");
}

#[test]
fn taken_vmids_are_skipped_until_the_range_is_spent() {
    let (err, calls) = fails(|n| n.taken = (700000..=700004).collect());
    assert!(err.contains("no free VMID in [700000, 700004]"), "{err}");
    assert_eq!(calls.iter().filter(|c| *c == "create").count(), 5);
    assert!(
        !calls.contains(&"destroy".to_string()),
        "someone else's CTs are never destroyed"
    );
}

#[test]
fn a_destroy_that_fails_keeps_the_state_for_delete_force() {
    let c = case();
    {
        let mut n = c.node.0.borrow_mut();
        n.fail = Some("destroy");
        n.stops_at_once = true;
    }
    create::run(&c.ctx, &c.args, None).expect_err("the CT stops at once");
    let n = c.node.0.borrow();
    assert_eq!(n.cts.len(), 1, "the CT could not be destroyed");
    let st: crate::state::State =
        serde_json::from_slice(&std::fs::read(c.root.join("t1").join("state.json")).unwrap())
            .unwrap();
    assert_eq!(st.vmid.map(|v| v.get()), n.cts.keys().next().copied());
}

#[test]
fn a_failing_create_runtime_hook_destroys_the_ct() {
    let c = case_with(|spec| {
        let hook: oci_spec::runtime::Hook =
            serde_json::from_str(r#"{"path": "/bin/false"}"#).unwrap();
        let mut hooks = oci_spec::runtime::Hooks::default();
        hooks.set_create_runtime(Some(vec![hook]));
        spec.set_hooks(Some(hooks));
    });
    let (err, calls) = fails_in(c, |_| {});
    assert!(
        err.contains("createRuntime hook /bin/false failed"),
        "{err}"
    );
    assert!(
        calls.ends_with(&["is_ours".into(), "destroy".into()]),
        "{calls:?}"
    );
}

#[test]
fn a_console_socket_nobody_listens_on_destroys_the_ct() {
    let mut c = case_with(|spec| {
        let mut process = spec.process().clone().unwrap();
        process.set_terminal(Some(true));
        spec.set_process(Some(process));
    });
    c.args.console_socket = Some(c._dir.path().join("nobody.sock"));
    let (err, calls) = fails_in(c, |_| {});
    assert!(err.contains("nobody.sock"), "{err}");
    assert!(
        calls.ends_with(&["is_ours".into(), "destroy".into()]),
        "{calls:?}"
    );
}
