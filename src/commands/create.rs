//! `create`: map config.json, create and start the CT with the idle init, fork the shim, write
//! the pid file. Prints nothing on success (stdio belongs to the container); on failure it leaves
//! no CT, no state dir and no process behind.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::Ctx;
use crate::backend::{self, Backend, BackendError, CtStatus};
use crate::cli::CreateArgs;
use crate::config::Config;
use crate::hooks::{self, Point};
use crate::process::Target;
use crate::pve::Vmid;
use crate::shim::{self, Shim};
use crate::spec::remote::INIT_SHIPPED;
use crate::spec::{self, Launch, MapContext};
use crate::state::{ContainerDir, ProcRef, State, Status};

/// Where the init appears inside every CT: on LXC's /dev tmpfs, so nothing is written into the rootfs.
pub const INIT_IN_CT: &str = "/dev/.proxmox-lxcri-init";
/// The container's config.json as `create` read it, in the state dir.
pub const SPEC_COPY: &str = "config.json";
/// How many VMIDs to try when others are taken.
const VMID_ATTEMPTS: u32 = 32;

pub fn run(ctx: &Ctx, args: &CreateArgs, log_fd: Option<RawFd>) -> anyhow::Result<()> {
    crate::pending::sweep(&ctx.root);
    let dir = ctx.dir(&args.id)?;
    // `node = "auto"` is decided once, here; the state keeps the node for every later command.
    let cfg = backend::api::place(&ctx.config()?)?;
    let lock = dir.create()?;
    let backend = backend::from_config(&cfg);
    let mut made = Made::default();
    let result = create(&cfg, args, &dir, backend.as_ref(), &mut made, log_fd);
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
            let gone = match backend.is_ours(vmid, &dir.id) {
                Ok(false) => Ok(()),
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
        // The path may be the CT's own cgroup (src/spec/cgroups.rs): empty once it is destroyed.
        if let Some(cp) = &self.cgroups_path {
            crate::cgroups_path::remove(cp);
        }
        let _ = dir.remove();
    }
}

fn create(
    cfg: &Config,
    args: &CreateArgs,
    dir: &ContainerDir,
    backend: &dyn Backend,
    made: &mut Made,
    log_fd: Option<RawFd>,
) -> anyhow::Result<()> {
    let bundle = std::path::absolute(&args.bundle)
        .with_context(|| format!("bundle {}", args.bundle.display()))?;
    let config_path = bundle.join("config.json");
    let state_root = dir.path.parent().unwrap_or(Path::new("/"));
    let mut spec =
        Spec::load(&config_path).map_err(|e| anyhow!("{}: {e}", config_path.display()))?;
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
    let terminal = process.terminal() == Some(true);
    let remote = backend.is_remote();
    if !remote {
        // Decided now, before any CT exists (a remote CT: spec::remote).
        crate::apparmor::settle(&mut process, cfg.strict)
            .map_err(|e| anyhow!("{}: {e}", config_path.display()))?;
        spec.set_process(Some(process.clone()));
    }
    if remote && spec.hooks().is_some() {
        let msg = format!(
            "{}: hooks: not run for a CT on another node",
            config_path.display()
        );
        if cfg.strict {
            bail!(msg);
        }
        log::warn!("{msg}");
    }
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
    // Before LXC opens any of them (a remote CT's rootfs is packed, never mounted over).
    if !remote {
        crate::rootfs::refuse_special_files(&spec, &rootfs)
            .map_err(|e| anyhow!("{}: {e}", config_path.display()))?;
    }
    // A remote CT joins nothing of this host's (spec::remote refuses or warns).
    let ns_paths = if remote {
        BTreeMap::new()
    } else {
        ns_paths(&spec, state_root)?
    };
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
    let map_ctx = MapContext {
        id: args.id.clone(),
        bundle: bundle.clone(),
        launch: Launch::Init {
            host_path: init.clone(),
            ct_path: if remote { INIT_SHIPPED } else { INIT_IN_CT }.into(),
        },
        strict: cfg.strict,
        unprivileged: cfg.unprivileged || remote,
        arch: arch().into(),
        bind_kinds: spec::bind_kinds(&spec, &bundle),
        node: if remote {
            spec::remote::node_caps(&node.caps)
        } else {
            node.caps.clone()
        },
        // A remote node's devices cannot be looked at from here; Proxmox checks them itself.
        host_devices: (!remote).then(|| spec::host_devices(&spec)),
        canonical: spec::host_paths(&spec, &bundle),
        memory: spec::MemoryDefaults {
            node: backend.node_memory(),
            fallback: (cfg.default_memory > 0).then_some((cfg.default_memory, cfg.default_swap)),
        },
        cgroup: backend.cgroup_mode(),
    };
    let mut mapped = spec::map(&spec, &map_ctx).map_err(|e| {
        anyhow!(
            "{}: {}",
            config_path.display(),
            e.to_string().trim_start_matches("config.json: ")
        )
    })?;
    let mut remote_mounts = Vec::new();
    let copies = if remote {
        let shipped = spec::remote::adapt(
            &spec,
            &bundle,
            mapped.clone(),
            cfg.network.net0(),
            cfg.strict,
            backend.writes_raw_keys(),
            &map_ctx.node,
        )
        .map_err(|e| {
            anyhow!(
                "{}: {}",
                config_path.display(),
                e.to_string().trim_start_matches("config.json: ")
            )
        })?;
        mapped.ct = shipped.ct;
        mapped.warnings = shipped.warnings;
        remote_mounts = shipped.setup;
        shipped.copies
    } else {
        Vec::new()
    };
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
        config: cfg.clone(),
    };
    // exec reads the container's spec from here: later edits to the bundle must not matter.
    let spec_json = serde_json::to_vec(&spec)?;
    crate::sys::fs::write_atomic(&dir.file(SPEC_COPY), &spec_json, 0o600)?;
    dir.save(&state)?;

    let storages = format!("storages {} {}", cfg.storage, cfg.rootfs_storage);
    backend::nodever::checked(state_root, cfg, &storages, || backend.check_storages())?;
    let template = backend
        .template(&rootfs, &init)
        .context("preparing the CT's template")?;
    state.template = remote.then(|| template.clone());
    let vmid = allocate(cfg, &args.id, |vmid| {
        // Record the VMID before the CT exists, so `delete --force` can clean up a killed create.
        state.vmid = Some(vmid);
        dir.save(&state)
            .map_err(|e| BackendError::Other(e.to_string()))?;
        made.vmid = Some(vmid);
        let r = backend.create(vmid, &template, &mapped.ct);
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
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    if let (Some(cp), false) = (&cgroups_path, remote) {
        // LXC makes the CT's cgroup there (src/spec/cgroups.rs).
        for problem in crate::cgroups_path::prepare(cp) {
            log::warn!("{}: linux.cgroupsPath: {problem}", args.id);
        }
        made.cgroups_path = Some(cp.clone());
    }
    backend
        .start(vmid)
        .with_context(|| format!("starting CT {vmid}"))?;
    // A remote CT's init is never entered from here: `pct start` returning is enough (a CT that
    // stopped at once fails the first `pct exec`), and a status call would cost a Perl start-up.
    let init_pid = if remote {
        0
    } else {
        match backend.status(vmid)? {
            CtStatus::Running { init_pid } => init_pid,
            CtStatus::Stopped => bail!("CT {vmid} stopped right after start"),
        }
    };
    if remote {
        crate::remote::copies::ship(backend, vmid, &copies)
            .with_context(|| format!("copying bind mounts into CT {vmid}"))?;
        if let Some(profile) = &target.seccomp {
            crate::remote::copies::ship_filter(backend, vmid, profile)
                .with_context(|| format!("copying the seccomp filter into CT {vmid}"))?;
        }
    }

    // Hooks see the CT's init as the container's pid: its /proc/<pid>/ns/* are the CT's.
    let hook_state = hooks::state_json(
        &state.oci_version,
        &args.id,
        Status::Creating,
        init_pid,
        &bundle,
        &state.annotations,
    );
    let points = if remote {
        &[][..]
    } else {
        &[
            Point::Prestart,
            Point::CreateRuntime,
            Point::CreateContainer,
        ][..]
    };
    for &point in points {
        hooks::run_with_paths(&spec, point, &hook_state, Some(init_pid), &target.ns_paths)?;
    }
    let console = match (&args.console_socket, terminal) {
        (Some(socket), true) => {
            // A remote CT's terminal is made there by `pct exec`; ours is its local end.
            let (master, slave) = if remote {
                crate::console::open_local_pty()?
            } else {
                crate::console::open_pty_in(init_pid)?
            };
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
        backend: backend::from_config(cfg),
        config: cfg.clone(),
        console,
        bundle: bundle.clone(),
        hostname: crate::spec::joined_uts_hostname(&spec),
        remote_mounts,
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
    state.init_pid = (!remote).then_some(init_pid);
    state.monitor = (!remote).then(|| monitor_of(init_pid)).flatten();
    dir.save(&state)?;
    if let Some(p) = &args.pid_file {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        crate::sys::fs::write_atomic(&p, pid.to_string().as_bytes(), 0o644)
            .with_context(|| format!("pid file {}", p.display()))?;
    }
    log::info!("{}: created CT {vmid}, shim {pid}", args.id);
    Ok(())
}

/// LXC's monitor: the parent of the CT's init.
fn monitor_of(init_pid: i32) -> Option<ProcRef> {
    let status = std::fs::read_to_string(format!("/proc/{init_pid}/status")).ok()?;
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse::<i32>()
        .ok()?;
    (ppid > 1).then(|| ProcRef::of(ppid)).flatten()
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

/// Namespaces config.json names by path, which the workload joins instead of the CT's.
/// Namespaces config.json names by path, which the workload joins instead of the CT's.
/// `/proc/<pid>/ns/pid` of one of our shims (a pod's infra container, as podman and CRI-O name
/// it) means that container's CT: the shim itself cannot sit in a CT's pid namespace.
pub(crate) fn ns_paths(spec: &Spec, root: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for (i, ns) in nss.iter().enumerate() {
        let Some(path) = ns.path() else { continue };
        let field = format!("config.json: linux.namespaces[{i}].path");
        let name = match ns.typ() {
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::Pid => "pid",
            other => bail!("{field}: joining a {other:?} namespace by path is not supported"),
        };
        // As runc: the file must be a namespace of the declared type, checked before any CT.
        match crate::nsfile::ns_type(path) {
            Ok(t) if t == name => {}
            Ok(t) => bail!("{field}: {} is a {t} namespace, not {name}", path.display()),
            Err(e) => bail!("{field}: {}: {e}", path.display()),
        }
        let path = if name == "pid" {
            pod_pid_ns(path, root)?
        } else {
            path.clone()
        };
        out.insert(name.to_string(), path);
    }
    Ok(out)
}

fn pod_pid_ns(path: &Path, root: &Path) -> anyhow::Result<PathBuf> {
    let pid = path
        .strip_prefix("/proc")
        .ok()
        .and_then(|p| p.iter().next())
        .and_then(|p| p.to_str()?.parse::<i32>().ok());
    if let Some(pid) = pid {
        for id in crate::state::list_ids(root)? {
            let Ok(st) = ContainerDir::new(root, &id).and_then(|d| d.load()) else {
                continue;
            };
            if let (Some(shim), Some(init)) = (st.shim, st.init_pid) {
                if shim.pid == pid && shim.is_alive() {
                    return Ok(crate::nsenter::ns_path(init, "pid"));
                }
            }
        }
    }
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => {
            std::os::unix::fs::MetadataExt::ino(&x) == std::os::unix::fs::MetadataExt::ino(&y)
        }
        _ => false,
    };
    if same(path, Path::new("/proc/self/ns/pid")) {
        bail!(
            "config.json: linux.namespaces (pid): {} is the host's pid namespace; a CT cannot join it",
            path.display()
        );
    }
    Ok(path.to_path_buf())
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
