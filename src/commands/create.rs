//! `create`: map config.json, create and start the CT with the idle init, fork the shim, write
//! the pid file. Prints nothing on success (stdio belongs to the container); on failure it leaves
//! no CT, no state dir and no process behind.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use oci_spec::runtime::Spec;

use super::{BadInput, Ctx};
use crate::backend::{self, Backend, BackendError};
use crate::cli::CreateArgs;
use crate::config::Config;
use crate::hooks::{self};
use crate::mapping::{self, Launch, MapContext};
use crate::process::Target;
use crate::pve::Vmid;
use crate::shim::{self, Shim};
use crate::state::{ContainerDir, ProcRef, State, Status, SPEC_COPY};
use crate::vztmpl::Origin;

/// How many VMIDs to try when others are taken.
const VMID_ATTEMPTS: u32 = 32;

pub fn run(ctx: &Ctx, args: &CreateArgs, log_fd: Option<RawFd>) -> anyhow::Result<()> {
    run_from(ctx, args, log_fd, None)
}

/// `create`, or with `restore` (a backup's volid) the container whose CT is restored from
/// that archive instead of made from the bundle's rootfs (`restore`).
pub fn run_from(
    ctx: &Ctx,
    args: &CreateArgs,
    log_fd: Option<RawFd>,
    restore: Option<&str>,
) -> anyhow::Result<()> {
    crate::pending::sweep(&ctx.root);
    let dir = ctx.dir(&args.id)?;
    // `node = "auto"` is decided once, here; the state keeps the node for every later command.
    let cfg = backend::api::place(&ctx.config()?)?;
    let backend = ctx.backend(&cfg);
    // Before anything is made: without quorum Proxmox refuses the CT anyway.
    backend::quorum::require(backend.as_ref(), &ctx.root, &cfg)?;
    if let Some(archive) = restore {
        super::restore::check_archive(backend.as_ref(), &cfg, archive)?;
    }
    let lock = dir.create()?;
    let mut made = Made::default();
    // The shim's own, used after the fork (where this one's connections are not its).
    let shim_backend = ctx.backend(&cfg);
    let owner = ctx.owner(&cfg);
    let result = create(
        &cfg,
        owner,
        args,
        &dir,
        backend.as_ref(),
        shim_backend,
        &mut made,
        log_fd,
        restore,
    );
    if result.is_err() {
        made.undo(backend.as_ref(), &dir);
    }
    drop(lock);
    result
}

/// What this create has made so far, to undo on failure.
#[derive(Default)]
struct Made {
    vmid: Option<Vmid>,
    shim: Option<i32>,
    cgroups_path: Option<String>,
    /// Kept volumes were moved into the CT: undo makes it their holder with this description
    /// instead of destroying it (docs/storage.md).
    holder: Option<String>,
}

impl Made {
    fn undo(&self, backend: &dyn Backend, dir: &ContainerDir) {
        if let Some(pid) = self.shim {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // A cgroup with the shim still in it cannot be removed: give the kill a moment.
        if let Some(shim) = self.shim.and_then(ProcRef::of) {
            shim.wait_gone(std::time::Duration::from_secs(2));
        }
        if let Some(vmid) = self.vmid {
            // A CT that does not name this container (or none at all) is left alone; one that
            // cannot be destroyed keeps the state, and its VMID, for `delete --force`.
            let gone = match (backend.is_ours(vmid, &dir.id), &self.holder) {
                (Ok(false), _) => Ok(()),
                (_, Some(desc)) => backend
                    .stop(vmid)
                    .and_then(|()| {
                        let mut ct = crate::pve::CtConfig::default();
                        ct.options.insert("description".into(), desc.clone());
                        backend.update(vmid, 0, &ct, &[]).map(drop)
                    })
                    .map_err(|e| e.to_string()),
                _ => backend.destroy(vmid).map_err(|e| e.to_string()),
            };
            if let Err(e) = gone {
                log::error!(
                    "cleanup: CT {vmid} of {} is left to delete --force: {e}",
                    dir.id
                );
                return;
            }
        }
        // The path may be the CT's own cgroup (src/mapping/cgroups.rs): empty once it is destroyed.
        if let Some(cp) = &self.cgroups_path {
            crate::cgroups_path::remove(cp);
        }
        let _ = dir.remove();
    }
}

#[allow(clippy::too_many_arguments)]
fn create(
    cfg: &Config,
    owner: mapping::Owner,
    args: &CreateArgs,
    dir: &ContainerDir,
    backend: &dyn Backend,
    shim_backend: Box<dyn Backend>,
    made: &mut Made,
    log_fd: Option<RawFd>,
    restore: Option<&str>,
) -> anyhow::Result<()> {
    let bundle = std::path::absolute(&args.bundle)
        .with_context(|| format!("bundle {}", args.bundle.display()))?;
    let config_path = bundle.join("config.json");
    let state_root = dir.path.parent().unwrap_or(Path::new("/"));
    let mut spec = Spec::load(&config_path)
        .map_err(|e| BadInput(format!("{}: {e}", config_path.display())))?;
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| anyhow!("{}: process is not set", config_path.display()))?;
    if process.scheduler().is_some() || process.exec_cpu_affinity().is_some() {
        let field = if process.scheduler().is_some() {
            "scheduler"
        } else {
            "execCPUAffinity"
        };
        bail!(
            "{}: process.{field}: not supported yet",
            config_path.display()
        );
    }
    // HA is decided here and recorded in the state's config: the shim and `delete` read it.
    let annotations: BTreeMap<String, String> = spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let ha = mapping::ha_request(&annotations, &cfg.cluster).map_err(|e| {
        anyhow!(
            "{}: {}",
            config_path.display(),
            e.to_string().trim_start_matches("config.json: ")
        )
    })?;
    if ha.is_some() && !backend.is_remote() {
        bail!(
            "{}: annotations[\"{}\"]: HA needs the ssh or api backend; with the pct backend Kubernetes reschedules",
            config_path.display(),
            mapping::HA_ANNOTATION
        );
    }
    let volumes = crate::commands::create_volumes::requested(
        &annotations,
        backend.is_remote(),
        &config_path,
    )?;
    // The image the caller made the rootfs from, if it says: a template imported from it is used.
    let image = crate::oci::bundle_image(&annotations).map_err(|e| {
        anyhow!(
            "{}: {}",
            config_path.display(),
            e.trim_start_matches("config.json: ")
        )
    })?;
    let cfg = &crate::commands::create_ha::effective(cfg, ha.as_ref());
    let terminal = process.terminal() == Some(true);
    let access = crate::access::of(backend);
    if terminal && args.console_socket.is_none() {
        bail!(
            "{}: process.terminal needs --console-socket",
            config_path.display()
        );
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| anyhow!("{}: root is not set", config_path.display()))?;
    let rootfs = bundle.join(root.path());
    if !rootfs.is_dir() {
        bail!("rootfs {} does not exist", rootfs.display());
    }
    let init = cfg.init_binary();
    if !init.is_file() {
        bail!("init binary {} does not exist", init.display());
    }
    // Like every host path the CT config names: without symlinks (docs/mapping.md).
    let init = std::fs::canonicalize(&init).unwrap_or(init);
    if let Some(mounts) = spec.mounts().clone() {
        let resolved = mounts
            .into_iter()
            .map(|mut m| {
                m.set_destination(crate::rootfs::resolve(&rootfs, m.destination()));
                m
            })
            .collect();
        spec.set_mounts(Some(resolved));
    }
    // AppArmor, special files at mount destinations, hooks: before any CT exists.
    access
        .prepare(&mut spec, &mut process, &rootfs, cfg)
        .map_err(|e| anyhow!("{}: {e}", config_path.display()))?;
    let ns_paths = access.ns_paths(&spec, state_root)?;
    // What the node's pve-container accepts decides options against raw keys (docs/mapping.md).
    let node = backend::nodever::learn(backend, cfg, state_root);
    if !node.caps.entrypoint_env && !backend.writes_raw_keys() {
        bail!(
            "node {} runs {}; the api backend needs pve-container {} (Proxmox VE 9.1) for entrypoint",
            node.node,
            node.describe(),
            crate::pve::version::ENTRYPOINT_ENV
        );
    }
    // Per-container interfaces (docs/network.md), checked before anything is made.
    let nets = mapping::net::net_requests(&annotations, &node.caps).map_err(|e| {
        anyhow!(
            "{}: {}",
            config_path.display(),
            e.to_string().trim_start_matches("config.json: ")
        )
    })?;
    if let Some(n) = nets.first().filter(|_| !backend.is_remote()) {
        bail!(
            "{}: annotations[\"{}\"]: a CT of the pct backend joins the pod's network namespace; netN annotations need the ssh or api backend",
            config_path.display(),
            n.annotation
        );
    }
    // The CT's Proxmox firewall (docs/network.md "Firewall"), checked before anything is made.
    let firewall = mapping::firewall::firewall_request(&annotations).map_err(|e| {
        anyhow!(
            "{}: {}",
            config_path.display(),
            e.to_string().trim_start_matches("config.json: ")
        )
    })?;
    if let Some(fw) = firewall.as_ref().filter(|_| !backend.is_remote()) {
        bail!(
            "{}: annotations[\"{}\"]: a CT of the pct backend joins the pod's network namespace and has no Proxmox interface to filter; firewall annotations need the ssh or api backend",
            config_path.display(),
            fw.annotations[0]
        );
    }
    let place = access.placement(&node.caps);
    let map_ctx = MapContext {
        id: args.id.clone(),
        owner,
        bundle: bundle.clone(),
        launch: Launch::Init {
            host_path: init.clone(),
            ct_path: place.init_in_ct.into(),
        },
        strict: cfg.strict,
        unprivileged: cfg.unprivileged || place.force_unprivileged,
        arch: arch().into(),
        bind_kinds: mapping::bind_kinds(&spec, &bundle),
        node: place.node,
        host_devices: place
            .sees_node_devices
            .then(|| mapping::host_devices(&spec)),
        canonical: mapping::host_paths(&spec, &bundle),
        memory: mapping::MemoryDefaults {
            node: backend.node_memory(),
            fallback: (cfg.default_memory > 0).then_some((cfg.default_memory, cfg.default_swap)),
        },
        cgroup: backend.cgroup_mode(),
    };
    let in_config = |e: mapping::MapError| {
        anyhow!(
            "{}: {}",
            config_path.display(),
            e.to_string().trim_start_matches("config.json: ")
        )
    };
    let mapped = mapping::map(&spec, &map_ctx).map_err(in_config)?;
    let (mut mapped, mut extras) = access
        .adapt(&spec, &bundle, mapped, cfg, backend, &map_ctx.node)
        .map_err(in_config)?;
    mapping::net::apply(&mut mapped.ct.options, &nets);
    // Kept volumes on holder CTs, or in use by another container (refused here).
    let attaches = if volumes.volumes.iter().any(|v| v.keep) {
        let cts = backend.tagged_cts().context("looking for kept volumes")?;
        crate::commands::create_volumes::plan(
            &cts,
            &volumes,
            &map_ctx.owner,
            &cfg.node_name(),
            &config_path,
        )?
    } else {
        Vec::new()
    };
    for dest in crate::commands::create_volumes::apply(
        &mut mapped.ct,
        &mut extras.copies,
        &volumes,
        &attaches,
        &cfg.rootfs_storage,
    ) {
        log::info!("{}: the volume at {dest} replaces its bind mount", args.id);
    }
    if firewall.is_some() {
        mapping::firewall::enable_on_interfaces(&mut mapped.ct.options);
    }
    for w in &mapped.warnings {
        log::warn!("{}: {w}", args.id);
    }
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    // The filter is compiled here and loaded by our init right before the workload's exec (also
    // in a remote CT), after what the filter may forbid (a read-only remount, setuid). Never
    // LXC's `lxc.seccomp.profile`: LXC would load it into our init at once.
    let seccomp = seccomp.filter(|_| mapped.seccomp.is_some());
    if let Some(profile) = &seccomp {
        // Fail at create, not at start, on a profile this libseccomp cannot build.
        crate::seccomp::build(profile).map_err(|e| anyhow!("{}: {e}", config_path.display()))?;
    }
    let target = Target {
        init_pid: 0,
        ns_paths,
        preserve_fds: args.preserve_fds,
        readonly_root: mapped.readonly_root,
        sysctls: mapped.sysctls.clone(),
        seccomp,
        console: None,
        new_session: true,
    };

    let mut state = State {
        id: args.id.clone(),
        oci_version: spec.version().clone(),
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        vmid: None,
        shim: None,
        workload: None,
        init_pid: None,
        monitor: None,
        started: false,
        paused: false,
        cgroups_path: None,
        template: None,
        restarts: 0,
        config: cfg.clone(),
    };
    // exec reads the container's spec from here: later edits to the bundle must not matter.
    let spec_json = serde_json::to_vec(&spec)?;
    crate::sys::fs::write_atomic(&dir.file(SPEC_COPY), &spec_json, 0o600)?;
    dir.save(&state)?;

    super::create_checks::node_accepts(
        backend,
        cfg,
        state_root,
        &config_path,
        &nets,
        firewall.as_ref(),
        &volumes,
    )?;
    // A restored CT's tree (the init included) comes from the archive.
    let template = match restore {
        Some(archive) => archive.to_string(),
        None => backend
            .template(
                &rootfs,
                &init,
                image.as_deref().map_or(Origin::Dir, Origin::FromImage),
            )
            .context("preparing the CT's template")?,
    };
    state.template = (restore.is_none() && access.tracks_template()).then(|| template.clone());
    let vmid = allocate(cfg, &args.id, |vmid| {
        // Record the VMID before the CT exists, so `delete --force` can clean up a killed create.
        state.vmid = Some(vmid);
        dir.save(&state)
            .map_err(|e| BackendError::Other(e.to_string()))?;
        made.vmid = Some(vmid);
        let r = match restore {
            Some(archive) => backend.restore(vmid, archive, &mapped.ct),
            None => backend.create(vmid, &template, &mapped.ct),
        };
        if matches!(r, Err(BackendError::VmidTaken(_))) {
            // Not ours: a later `delete --force` must not destroy someone else's CT. Any other
            // failure may have left our CT (undo checks its description before destroying).
            made.vmid = None;
            state.vmid = None;
            dir.save(&state)
                .map_err(|e| BackendError::Other(e.to_string()))?;
        }
        r
    })?;
    if !attaches.is_empty() {
        let mut moved = Vec::new();
        let r = crate::commands::create_volumes::attach(backend, vmid, &attaches, &mut moved);
        if !moved.is_empty() {
            // A failed create keeps the CT as the holder of what it has now: the kept data
            // moved in and its new kept volumes.
            let fresh = |i: usize| !attaches.iter().any(|a| a.index == i) || moved.contains(&i);
            made.holder = Some(crate::commands::create_volumes::holder_description_of(
                &annotations,
                &map_ctx.owner,
                fresh,
            ));
        }
        r.with_context(|| format!("attaching kept volumes to CT {vmid}"))?;
    }
    if let Some(fw) = &firewall {
        backend
            .set_firewall(vmid, fw)
            .with_context(|| format!("setting the firewall of CT {vmid}"))?;
    }
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    if let (Some(cp), true) = (&cgroups_path, access.owns_cgroups_path()) {
        // LXC makes the CT's cgroup there (src/mapping/cgroups.rs).
        for problem in crate::cgroups_path::prepare(cp) {
            log::warn!("{}: linux.cgroupsPath: {problem}", args.id);
        }
        made.cgroups_path = Some(cp.clone());
    }
    backend
        .start(vmid)
        .with_context(|| format!("starting CT {vmid}"))?;
    let running = access.started(backend, vmid, &extras, target.seccomp.as_ref())?;
    if let Some(ha) = &ha {
        crate::commands::create_ha::register(backend, vmid, ha, &args.id)?;
    }
    // 0 for a CT on another node, whose processes are never entered from here.
    let init_pid = running.init_pid.unwrap_or(0);

    // Hooks see the CT's init as the container's pid: its /proc/<pid>/ns/* are the CT's.
    let hook_state = hooks::state_json(
        &state.oci_version,
        &args.id,
        Status::Creating,
        init_pid,
        &bundle,
        &state.annotations,
    );
    let points = if access.runs_hooks() {
        &crate::access::CREATE_HOOKS[..]
    } else {
        &[][..]
    };
    for &point in points {
        hooks::run_with_paths(&spec, point, &hook_state, Some(init_pid), &target.ns_paths)?;
    }
    let console = match (&args.console_socket, terminal) {
        (Some(socket), true) => {
            let (master, slave) = access.pty(init_pid)?;
            if let Some(size) = process.console_size() {
                crate::sys::tty::set_size(
                    slave.as_raw_fd(),
                    size.height() as u16,
                    size.width() as u16,
                );
            }
            crate::console::send_master(socket, &master)?;
            Some(slave)
        }
        _ => None,
    };
    let listener = shim::bind(&dir.path)?;
    let shim = Shim {
        vmid,
        target: Target {
            init_pid,
            console: console.as_ref().map(|c| c.as_raw_fd()),
            ..target
        },
        process,
        backend: shim_backend,
        access,
        config: cfg.clone(),
        console,
        bundle: bundle.clone(),
        hostname: crate::mapping::joined_uts_hostname(&spec),
        setup: extras.setup.clone(),
        dir: dir.path.clone(),
    };
    let keep: Vec<RawFd> = log_fd.into_iter().collect();
    let pid = shim::spawn(shim, listener, &keep)?;
    made.shim = Some(pid);
    if let Some(cp) = cgroups_path {
        for problem in crate::cgroups_path::enter(&cp, pid) {
            log::warn!("{}: linux.cgroupsPath: {problem}", args.id);
        }
        made.cgroups_path = Some(cp.clone());
        state.cgroups_path = Some(cp);
    }
    state.shim = Some(ProcRef::of(pid).ok_or_else(|| anyhow!("shim {pid} exited during create"))?);
    state.init_pid = running.init_pid;
    state.monitor = running.monitor;
    dir.save(&state)?;
    if let Some(p) = &args.pid_file {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        crate::sys::fs::write_atomic(&p, pid.to_string().as_bytes(), 0o644)
            .with_context(|| format!("pid file {}", p.display()))?;
    }
    log::info!("{}: created CT {vmid}, shim {pid}", args.id);
    Ok(())
}

/// Try VMIDs from the configured range, starting at a point derived from the ID, until `create`
/// does not report the VMID as taken. The create call itself is the reservation.
fn allocate(
    cfg: &Config,
    id: &str,
    mut create: impl FnMut(Vmid) -> Result<(), BackendError>,
) -> anyhow::Result<Vmid> {
    let [lo, hi] = cfg.vmid_range;
    let span = hi - lo + 1;
    let start = fnv1a(id) % span;
    for i in 0..VMID_ATTEMPTS.min(span) {
        let vmid = Vmid::new(lo + (start + i) % span)?;
        match create(vmid) {
            Ok(()) => return Ok(vmid),
            Err(BackendError::VmidTaken(_)) => continue,
            Err(e) => return Err(anyhow!(e)),
        }
    }
    bail!("no free VMID in [{lo}, {hi}] after {VMID_ATTEMPTS} attempts")
}

/// A stable, well-spread hash (std's hasher is randomly seeded).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86" => "i386",
        "riscv64" => "riscv64",
        _ => "amd64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn allocation_skips_taken_vmids_and_gives_up() {
        let cfg = Config {
            vmid_range: [1000, 1003],
            ..Default::default()
        };
        let mut tried = Vec::new();
        let v = allocate(&cfg, "x", |v| {
            tried.push(v.get());
            if tried.len() < 3 {
                Err(BackendError::VmidTaken(v))
            } else {
                Ok(())
            }
        })
        .unwrap();
        assert_eq!(tried.len(), 3);
        assert!((1000..=1003).contains(&v.get()));
        let all: HashMap<u32, ()> = tried.iter().map(|t| (*t, ())).collect();
        assert_eq!(all.len(), 3, "no VMID tried twice");
        assert!(allocate(&cfg, "x", |v| Err(BackendError::VmidTaken(v))).is_err());
        let e = allocate(&cfg, "x", |_| Err(BackendError::Other("boom".into()))).unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }
}
