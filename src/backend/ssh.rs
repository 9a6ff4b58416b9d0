//! The `ssh` backend: `pct` on a remote node over one SSH connection (docs/remote.md). The bundle's
//! rootfs travels as a template (see `vztmpl`), uploaded once per storage; the CT is unprivileged
//! and runs our init as pid 1, and processes run in it through `pct exec`.

use std::path::Path;

use super::node_shell::NodeShell;
use super::nodever::{from_pveversion_output, Detected};
use super::pct::{classify, conf_names, create_args, ops, set_args, RunsPct};
use super::quorum::{self, Quorum};
use super::run::{one_line, Output};
use super::ship::TemplateStore;
use super::{Backend, BackendError, CtStatus, TaggedCt};
use crate::config::Config;
use crate::pve::{CtConfig, Vmid};
use crate::transport::ssh::RemoteExit;
use crate::vztmpl::Origin;
use crate::vztmpl::Packed;

pub struct Ssh {
    shell: NodeShell,
    /// pmxcfs's mount point on the node (`pct.pve_dir`).
    pve_dir: String,
    storage: String,
    rootfs_storage: String,
    needs: [super::storages::Need; 2],
    node: String,
    rootfs_size: u32,
    /// Proxmox's config locks on the node, for the raw keys an older node needs.
    lock_dir: String,
    /// LXC's lxcpath on the node (`pct.lxc_path`).
    lxc_path: String,
    /// Seconds one `pct` call may take (`pct.timeout`).
    pct_timeout: u64,
}

/// Runs `pct create` (stdin closed) and then adds stdin to the end of the CT's config file under
/// Proxmox's per-CT config lock, in one round trip. The file is replaced by a rename, as
/// Proxmox writes it (pmxcfs makes that atomic). Exit 97 means the CT exists without its keys.
const CREATE_WITH_RAW_KEYS: &str = r#"conf=$1 lock=$2; shift 2
"$@" </dev/null || exit
add='t="$1.tmp.$$"; { cat "$1" && cat; } > "$t" && mv "$t" "$1"'
{ mkdir -p "${lock%/*}" && flock "$lock" sh -c "$add" sh "$conf"; } || { echo "adding raw keys to $conf failed" >&2; exit 97; }"#;

impl Ssh {
    pub fn new(cfg: &Config) -> Ssh {
        Ssh {
            shell: NodeShell::new(cfg, &cfg.node_name()),
            pve_dir: cfg.pct.pve_dir.display().to_string(),
            storage: cfg.storage.clone(),
            rootfs_storage: cfg.rootfs_storage.clone(),
            needs: super::storages::needs(cfg),
            node: cfg.node_name(),
            rootfs_size: cfg.rootfs_size,
            lock_dir: cfg.pct.lock_dir.display().to_string(),
            lxc_path: cfg.pct.lxc_path.display().to_string(),
            pct_timeout: cfg.pct.timeout,
        }
    }

    /// `ha-manager <cmd> ct:<vmid> <args…>` on the node (pve-ha-manager
    /// src/PVE/CLI/ha_manager.pm), an error with its stderr unless it exits 0.
    fn ha_manager(&self, vmid: Vmid, args: &[&str]) -> Result<(), BackendError> {
        let mut argv = vec!["ha-manager".to_string(), args[0].to_string()];
        argv.push(super::ha_sid(vmid));
        argv.extend(args[1..].iter().map(|a| a.to_string()));
        let out = self.shell.run(&argv, b"")?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: format!("ha-manager {} {}", args[0], super::ha_sid(vmid)),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(())
    }

    /// The node's file for volume `volid` (`pvesm path`).
    fn volume_path(&self, volid: &str) -> Result<String, BackendError> {
        let out = self
            .shell
            .run(&["pvesm".into(), "path".into(), volid.into()], b"")?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.exit != RemoteExit::Code(0) || !path.starts_with('/') {
            return Err(BackendError::Command {
                cmd: format!("pvesm path {volid}"),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(path)
    }
}

/// `pvesh get <path> [args] --output-format json` on the node: the cluster as the node sees it
/// (pmxcfs), without an API token.
pub(super) fn pvesh_get(
    shell: &NodeShell,
    path: &str,
    args: &[&str],
) -> Result<serde_json::Value, BackendError> {
    let mut argv: Vec<String> = ["pvesh", "get", path].map(String::from).to_vec();
    argv.extend(args.iter().map(|a| a.to_string()));
    argv.extend(["--output-format", "json"].map(String::from));
    let out = shell.run(&argv, b"")?;
    let failed = |msg: String| BackendError::Command {
        cmd: format!("pvesh get {path} on {}", shell.host()),
        msg,
    };
    if out.exit != RemoteExit::Code(0) {
        return Err(failed(one_line(&String::from_utf8_lossy(&out.stderr))));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| failed(format!("not JSON: {e}")))
}

/// The cluster's nodes with their load (`pvesh get /nodes`), asked of `[ssh] host`: for
/// `node = "auto"`, where no node is known yet.
pub fn cluster_nodes(cfg: &Config) -> Result<Vec<crate::api::NodeInfo>, BackendError> {
    if cfg.ssh.host.is_empty() {
        return Err(BackendError::Other(
            "node = \"auto\" with the ssh backend needs [ssh] host: the node to ask for the cluster's nodes".into(),
        ));
    }
    let shell = NodeShell::fixed(cfg, &cfg.ssh.host);
    let nodes = pvesh_get(&shell, "/nodes", &[])?;
    serde_json::from_value(nodes).map_err(|e| BackendError::Command {
        cmd: format!("pvesh get /nodes on {}", cfg.ssh.host),
        msg: e.to_string(),
    })
}

impl Ssh {
    /// `is_ours` through `pct config` (a Perl start-up), when the file was not found.
    fn is_ours_by_pct(&self, vmid: Vmid, id: &str) -> Result<bool, BackendError> {
        match self.checked(vmid, &["config".into(), vmid.to_string()]) {
            Ok(out) => Ok(description_names(&out.stdout, id)),
            Err(BackendError::NoSuchCt(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl TemplateStore for Ssh {
    fn place(&self) -> String {
        self.shell.host().to_string()
    }

    fn storage(&self) -> &str {
        &self.storage
    }

    fn has(&self, name: &str) -> Result<bool, BackendError> {
        // One round trip: resolve the volume and test the file on the node.
        let script = r#"p=$(pvesm path "$1") && test -s "$p""#;
        let volid = format!("{}:vztmpl/{name}", self.storage);
        let argv = ["sh", "-c", script, "sh", &volid].map(String::from);
        Ok(self.shell.run(&argv, b"")?.exit == RemoteExit::Code(0))
    }

    fn put(&self, name: &str, packed: &Packed) -> Result<(), BackendError> {
        let path = self.volume_path(&format!("{}:vztmpl/{name}", self.storage))?;
        // A storage whose template dir was never used has none yet (Proxmox makes it on demand).
        if let Some((dir, _)) = path.rsplit_once('/') {
            self.shell
                .run(&["mkdir".into(), "-p".into(), "--".into(), dir.into()], b"")?;
        }
        let mut f = std::fs::File::open(packed.file.path()).map_err(|source| BackendError::Io {
            what: packed.file.path().display().to_string(),
            source,
        })?;
        let mut src = crate::progress::Reader::new(&mut f, "uploading", packed.size);
        self.shell.upload(&path, &mut src, packed.size)
    }
}

impl RunsPct for Ssh {
    fn checked(&self, vmid: Vmid, args: &[String]) -> Result<Output, BackendError> {
        let out = self.shell.pct(args)?;
        if out.status == 0 {
            return Ok(out);
        }
        Err(classify(vmid, &args[0], &out.stderr).on_node(&self.node))
    }
}

impl Backend for Ssh {
    fn node_memory(&self) -> Option<(u64, u64)> {
        let argv = ["cat", "/proc/meminfo"].map(String::from);
        let out = self.shell.run(&argv, b"").ok()?;
        (out.exit == RemoteExit::Code(0))
            .then(|| super::meminfo_totals(&String::from_utf8_lossy(&out.stdout)))
            .flatten()
    }

    fn cgroup_mode(&self) -> crate::mapping::CgroupMode {
        let argv = ["stat", "-f", "-c", "%T", "/sys/fs/cgroup"].map(String::from);
        match self.shell.run(&argv, b"") {
            Ok(out) if out.exit == RemoteExit::Code(0) => {
                super::cgroup_mode_of(&String::from_utf8_lossy(&out.stdout))
            }
            // Unknown: v2 is every Proxmox VE release's default since 7.0.
            _ => crate::mapping::CgroupMode::Unified,
        }
    }

    fn template(&self, rootfs: &Path, init: &Path, from: Origin) -> Result<String, BackendError> {
        super::ship::template(self, rootfs, init, from)
    }

    fn image_template(&self, id: &str, init: &Path) -> Result<Option<String>, BackendError> {
        super::ship::imported(self, id, init)
    }

    /// `pvecm status` on the node; a node in no cluster is standalone, so quorate.
    fn quorum(&self) -> Result<Option<Quorum>, BackendError> {
        let argv = ["pvecm", "status"].map(String::from);
        let out = self.shell.run(&argv, b"")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.exit != RemoteExit::Code(0) && quorum::is_standalone_error(&stderr) {
            return Ok(Some(Quorum {
                cluster: None,
                quorate: true,
            }));
        }
        let parsed = (out.exit == RemoteExit::Code(0))
            .then(|| quorum::from_pvecm_status(&String::from_utf8_lossy(&out.stdout)))
            .flatten();
        parsed.map(Some).ok_or_else(|| BackendError::Command {
            cmd: format!("pvecm status on node {}", self.node),
            msg: one_line(&stderr),
        })
    }

    /// Refuse storages without the content types the runtime needs, in one round trip.
    fn check_storages(&self, extra: &[super::storages::Need]) -> Result<(), BackendError> {
        use super::storages::{check, status_names, Listing};
        let script = "pvesm status --content vztmpl && echo @@ && pvesm status --content rootdir";
        let argv = ["sh", "-c", script].map(String::from);
        let out = self.shell.run(&argv, b"")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some((tmpl, rootdir)) = text
            .split_once("@@\n")
            .filter(|_| out.exit == RemoteExit::Code(0))
        else {
            return Err(BackendError::Command {
                cmd: "pvesm status --content".into(),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        };
        let listing = Listing::PerContent(vec![
            ("vztmpl", status_names(tmpl)),
            ("rootdir", status_names(rootdir)),
        ]);
        let all: Vec<_> = self.needs.iter().chain(extra).cloned().collect();
        check(&listing, &all, &self.node).map_err(BackendError::Other)
    }

    fn check_bridges(&self, wanted: &[(String, String)]) -> Result<(), BackendError> {
        if wanted.is_empty() {
            return Ok(());
        }
        let listing = pvesh_get(&self.shell, &format!("/nodes/{}/network", self.node), &[])?;
        let bridges = super::bridges::node_bridges(&listing);
        let vnets = || {
            pvesh_get(&self.shell, "/cluster/sdn/vnets", &[])
                .map(|v| super::bridges::vnets(&v))
                .map_err(|e| e.to_string())
        };
        super::bridges::check(wanted, &self.node, &bridges, vnets).map_err(BackendError::Other)
    }

    fn check_firewall_groups(
        &self,
        annotation: &str,
        groups: &[String],
    ) -> Result<(), BackendError> {
        if groups.is_empty() {
            return Ok(());
        }
        let listing = pvesh_get(&self.shell, "/cluster/firewall/groups", &[])?;
        let have = super::firewall::group_names(&listing);
        super::firewall::check_groups(annotation, groups, &have).map_err(BackendError::Other)
    }

    fn set_firewall(
        &self,
        vmid: Vmid,
        fw: &crate::mapping::firewall::FirewallRequest,
    ) -> Result<(), BackendError> {
        super::firewall::write(&self.node, vmid, fw, &mut |m, p, f| {
            let verb = if m == "PUT" { "set" } else { "create" };
            let mut argv: Vec<String> = vec!["pvesh".into(), verb.into(), p.into()];
            for (k, v) in f {
                argv.push(format!("--{k}"));
                argv.push(v.clone());
            }
            let out = self.shell.run(&argv, b"").map_err(|e| e.to_string())?;
            if out.exit != RemoteExit::Code(0) {
                return Err(one_line(&String::from_utf8_lossy(&out.stderr)));
            }
            Ok(serde_json::Value::Null)
        })
        .map_err(BackendError::Other)
    }

    fn create(&self, vmid: Vmid, template: &str, ct: &CtConfig) -> Result<(), BackendError> {
        let mut args = create_args(vmid, template, ct);
        // A size from the container's annotation comes as `rootfs` in `ct` (docs/storage.md).
        if !ct.options.contains_key("rootfs") {
            args.push("--rootfs".into());
            args.push(format!("{}:{}", self.rootfs_storage, self.rootfs_size));
        }
        if ct.lxc.is_empty() {
            return self.checked(vmid, &args).map(drop);
        }
        // An older node: the keys its pve-container has no option for (`lxc.init.cmd`, ...).
        let raw: String = ct.lxc.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        let mut argv = ["sh", "-c", CREATE_WITH_RAW_KEYS, "sh"]
            .map(String::from)
            .to_vec();
        argv.push(format!("{}/lxc/{vmid}.conf", self.pve_dir));
        argv.push(format!("{}/pve-config-{vmid}.lock", self.lock_dir));
        argv.push("pct".into());
        argv.extend(args);
        let out = self.shell.run(&argv, raw.as_bytes())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.exit {
            RemoteExit::Code(0) => Ok(()),
            RemoteExit::Code(97) => {
                let _ = self.destroy(vmid);
                Err(BackendError::Other(format!(
                    "CT {vmid}: {}",
                    one_line(&stderr)
                )))
            }
            _ => Err(classify(vmid, "create", &stderr).on_node(&self.node)),
        }
    }

    fn node_version(&self) -> Result<Detected, BackendError> {
        let argv = ["pveversion", "--verbose"].map(String::from);
        let out = self.shell.run(&argv, b"")?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: argv.join(" "),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        from_pveversion_output(
            &String::from_utf8_lossy(&out.stdout),
            "pveversion --verbose",
        )
    }

    fn start(&self, vmid: Vmid) -> Result<(), BackendError> {
        ops::start(self, vmid)
    }

    fn status(&self, vmid: Vmid) -> Result<CtStatus, BackendError> {
        ops::status(self, vmid)
    }

    /// `pvesh get` on the node: the same handler as the API's.
    fn node_storages(&self, node: &str) -> Result<Vec<serde_json::Value>, BackendError> {
        let v = pvesh_get(&self.shell, &format!("/nodes/{node}/storage"), &[])?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    fn status_current(&self, vmid: Vmid) -> Result<serde_json::Value, BackendError> {
        let path = format!("/nodes/{}/lxc/{vmid}/status/current", self.node);
        pvesh_get(&self.shell, &path, &[])
    }

    /// Ends the CT as the shim does locally, without a Perl start-up: TERM to its init (ours,
    /// which exits on it), then wait for LXC's monitor to go, when Proxmox reports it stopped.
    /// `pct stop` when LXC cannot say or the CT does not go down.
    fn stop(&self, vmid: Vmid) -> Result<(), BackendError> {
        let argv = [
            "sh",
            "-c",
            END_INIT,
            "sh",
            &vmid.to_string(),
            &self.lxc_path,
        ]
        .map(String::from);
        match self.shell.run(&argv, b"")?.exit {
            RemoteExit::Code(0) => Ok(()),
            _ => ops::stop(self, vmid),
        }
    }

    fn destroy(&self, vmid: Vmid) -> Result<(), BackendError> {
        ops::destroy(self, vmid)
    }

    /// The CT config file read on the node, as the pct backend reads it here: `pct config`
    /// would cost a Perl start-up for one line.
    fn is_ours(&self, vmid: Vmid, id: &str) -> Result<bool, BackendError> {
        let path = format!("{}/lxc/{vmid}.conf", self.pve_dir);
        // Exit 3: no such file, so no such CT; anything else failing is an error.
        let script = r#"test -e "$1" || exit 3; cat -- "$1""#;
        let argv = ["sh", "-c", script, "sh", &path].map(String::from);
        let out = self.shell.run(&argv, b"")?;
        match out.exit {
            RemoteExit::Code(0) => {}
            // Gone, or pmxcfs is not at `pct.pve_dir` on that node: Proxmox knows.
            RemoteExit::Code(3) => return self.is_ours_by_pct(vmid, id),
            _ => {
                return Err(BackendError::Command {
                    cmd: format!("cat {path}"),
                    msg: one_line(&String::from_utf8_lossy(&out.stderr)),
                })
            }
        }
        Ok(conf_names(&String::from_utf8_lossy(&out.stdout), vmid, id))
    }

    fn update(
        &self,
        vmid: Vmid,
        _init_pid: i32,
        ct: &CtConfig,
        unset: &[String],
    ) -> Result<Vec<String>, BackendError> {
        if !ct.options.is_empty() {
            self.checked(vmid, &set_args(vmid, &ct.options))?;
        }
        Ok(super::raw_keys_left_out(
            ct,
            unset,
            "not applied on a remote node",
        ))
    }

    fn move_volume(
        &self,
        vmid: Vmid,
        key: &str,
        target: Vmid,
        tkey: &str,
    ) -> Result<(), BackendError> {
        let args = [
            "move-volume",
            &vmid.to_string(),
            key,
            "--target-vmid",
            &target.to_string(),
            "--target-volume",
            tkey,
        ]
        .map(String::from);
        self.checked(vmid, &args).map(drop)
    }

    /// `pvesh get /cluster/resources --type vm` on the node.
    /// `pct migrate` on the CT's node; the task's log (stdout) tells why it failed.
    fn migrate(&self, vmid: Vmid, m: super::migrate::Move) -> Result<(), BackendError> {
        let mut args = ["migrate", &vmid.to_string(), m.target]
            .map(String::from)
            .to_vec();
        if m.restart {
            args.extend(["--restart", "1", "--timeout", &m.timeout.to_string()].map(String::from));
        }
        // The shutdown may take `m.timeout`, the rest as long as any pct call.
        let within = std::time::Duration::from_secs(m.timeout + self.pct_timeout);
        let out = self.shell.pct_within(&args, within)?;
        if out.status == 0 {
            return Ok(());
        }
        let log: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        match super::migrate::failure_reason(&log) {
            Some(reason) => Err(BackendError::Other(reason)),
            None => Err(classify(vmid, "migrate", &out.stderr).on_node(&self.node)),
        }
    }

    /// `pvesh get /nodes` and `/cluster/resources` on the node.
    fn cluster_load(&self) -> Result<super::migrate::ClusterLoad, BackendError> {
        let nodes = pvesh_get(&self.shell, "/nodes", &[])?;
        let nodes = serde_json::from_value(nodes).map_err(|e| BackendError::Command {
            cmd: format!("pvesh get /nodes on {}", self.node),
            msg: e.to_string(),
        })?;
        let all = pvesh_get(&self.shell, "/cluster/resources", &["--type", "vm"])?;
        let all = all.as_array().cloned().unwrap_or_default();
        Ok(super::migrate::ClusterLoad {
            nodes,
            guests: super::migrate::guests_in_resources(&all),
        })
    }

    fn cluster_cts(&self) -> Result<Vec<super::ClusterCt>, BackendError> {
        let all = pvesh_get(&self.shell, "/cluster/resources", &["--type", "vm"])?;
        let all = all.as_array().cloned().unwrap_or_default();
        Ok(super::api::ours_in_resources(&all))
    }

    /// Every node's CT config files in pmxcfs, in one round trip: the cluster's CTs, also
    /// those of a node that is down.
    fn tagged_cts(&self) -> Result<Vec<TaggedCt>, BackendError> {
        let argv = ["sh", "-c", LIST_CONFS, "sh", &self.pve_dir].map(String::from);
        let out = self.shell.run(&argv, b"")?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: format!("cat {}/nodes/*/lxc/*.conf", self.pve_dir),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(parse_conf_listing(&String::from_utf8_lossy(&out.stdout)))
    }

    fn ha_add(&self, vmid: Vmid, group: Option<&str>) -> Result<(), BackendError> {
        let mut args = vec!["add", "--state", "started"];
        args.extend(group.map(|g| ["--group", g]).into_iter().flatten());
        self.ha_manager(vmid, &args).map(|_| ())
    }

    fn ha_remove(&self, vmid: Vmid) -> Result<(), BackendError> {
        match self.ha_manager(vmid, &["remove"]) {
            Err(BackendError::Command { msg, .. }) if msg.contains("not HA managed") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    fn ha_state(&self, vmid: Vmid, state: &str) -> Result<(), BackendError> {
        self.ha_manager(vmid, &["set", "--state", state])
            .map(|_| ())
    }

    fn templates(&self) -> Result<Vec<(String, u64)>, BackendError> {
        let args = ["pvesm", "list", &self.storage, "--content", "vztmpl"].map(String::from);
        let out = self.shell.run(&args, b"")?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: args.join(" "),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(parse_pvesm_list(&String::from_utf8_lossy(&out.stdout)))
    }

    fn remove_template(&self, volid: &str) -> Result<(), BackendError> {
        let args = ["pvesm", "free", volid].map(String::from);
        let out = self.shell.run(&args, b"")?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: args.join(" "),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(())
    }

    fn shell(&self) -> Option<&NodeShell> {
        Some(&self.shell)
    }

    /// `vzdump <vmid> --storage S --mode M --compress zstd` on the node; its log (stderr)
    /// names the archive.
    fn backup(&self, vmid: Vmid, storage: &str, mode: &str) -> Result<String, BackendError> {
        let id = vmid.to_string();
        let args = [
            "vzdump",
            &id,
            "--storage",
            storage,
            "--mode",
            mode,
            "--compress",
            "zstd",
        ]
        .map(String::from);
        let out = self.shell.run(&args, b"")?;
        let log = String::from_utf8_lossy(&out.stderr);
        let failed = || BackendError::Command {
            cmd: args.join(" "),
            msg: log
                .lines()
                .find_map(|l| l.strip_prefix("ERROR: "))
                .map_or_else(|| one_line(&log), str::to_string),
        };
        if out.exit != RemoteExit::Code(0) {
            return Err(failed());
        }
        super::backups::archive_from_log(log.lines(), storage).ok_or_else(failed)
    }

    fn backups(&self, storage: &str) -> Result<Vec<super::backups::Backup>, BackendError> {
        let args = ["pvesm", "list", storage, "--content", "backup"].map(String::from);
        let out = self.shell.run(&args, b"")?;
        if out.exit != RemoteExit::Code(0) {
            return Err(BackendError::Command {
                cmd: args.join(" "),
                msg: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(super::backups::parse_pvesm_list(&String::from_utf8_lossy(
            &out.stdout,
        )))
    }

    fn remove_backup(&self, volid: &str) -> Result<(), BackendError> {
        self.remove_template(volid)
    }

    /// `pct restore <vmid> <archive> --storage <rootfs storage>` with the API keys; the
    /// archive's raw keys are restored by Proxmox (root), the bundle's are not added.
    fn restore(&self, vmid: Vmid, archive: &str, ct: &CtConfig) -> Result<(), BackendError> {
        let mut args = create_args(vmid, archive, ct);
        args[0] = "restore".into();
        args.push("--storage".into());
        args.push(self.rootfs_storage.clone());
        self.checked(vmid, &args).map(drop)
    }
}

/// `$1` = pmxcfs's mount point: each node's CT config files, each after a line
/// `<CONF_MARK><path>` (no config line starts with `-`). A file gone since the glob is skipped.
const LIST_CONFS: &str = r#"for f in "$1"/nodes/*/lxc/*.conf; do
[ -e "$f" ] || continue; printf '%s%s\n' '--proxmox-lxcri-conf ' "$f"; cat -- "$f" 2>/dev/null; echo
done"#;
const CONF_MARK: &str = "--proxmox-lxcri-conf ";

/// The tagged CTs in [`LIST_CONFS`]'s output; the node is the path's `nodes/<node>/lxc`.
pub(crate) fn parse_conf_listing(text: &str) -> Vec<TaggedCt> {
    let mut files: Vec<(String, Vmid, String)> = Vec::new();
    let mut current: Option<(String, Vmid, String)> = None;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix(CONF_MARK) {
            files.extend(current.take());
            let p = std::path::Path::new(path);
            let node = p
                .parent()
                .and_then(|d| d.parent())
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str());
            current = node
                .zip(super::pct::conf_vmid(p))
                .map(|(n, v)| (n.to_string(), v, String::new()));
        } else if let Some((_, _, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    files.extend(current);
    super::tagged_in_confs(files.iter().map(|(n, v, t)| (n.as_str(), *v, t.as_str())))
}

/// Whether `pct config` output has a description naming container `id`.
pub fn description_names(config: &str, id: &str) -> bool {
    config
        .lines()
        .filter_map(|l| l.strip_prefix("description: "))
        .any(|d| crate::mapping::description_names(&crate::pve::config::decode_text(d), id))
}

/// `$1` = VMID, `$2` = lxcpath (`pct.lxc_path`). LXC names the init (see `lxc_info`), which is
/// only signalled if it sits in the CT's cgroup; then wait while the monitor's command socket
/// `@<lxcpath>/<vmid>/command` exists. Exit 0 once it is gone, 3 when LXC does not know the CT
/// (stopped already) or names a process outside it, 4 when the CT is still up after 10 s.
const END_INIT: &str = r#"p=$(lxc-info -P "$2" -n "$1" -p -H 2>/dev/null) && [ -n "$p" ] || exit 3
awk -F: -v d="/lxc/$1" '$3 == d || index($3, d "/") == 1 { f = 1 } END { exit !f }' "/proc/$p/cgroup" || exit 3
kill -TERM "$p" || exit 3
i=0
while awk -v n="@$2/$1/command" '$8 == n { f = 1 } END { exit !f }' /proc/net/unix; do
    i=$((i + 1)); [ "$i" -le 200 ] || exit 4
    sleep 0.05
done"#;

/// Our templates in `pvesm list` output (`Volid Format Type Size VMID` rows).
pub fn parse_pvesm_list(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let volid = f.next()?;
            let size = f.nth(2)?.parse().ok()?;
            let name = volid.split_once(":vztmpl/")?.1;
            crate::vztmpl::is_ours(name).then(|| (volid.to_string(), size))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvesm_list_rows_of_ours() {
        let ours = crate::vztmpl::name_for(&"0f".repeat(32));
        let text = format!(
            "Volid                                          Format  Type             Size VMID\n\
             local:vztmpl/{ours} tar     vztmpl       10240\n\
             local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst tzst    vztmpl  123456789\n"
        );
        assert_eq!(
            parse_pvesm_list(&text),
            [(format!("local:vztmpl/{ours}"), 10240)]
        );
    }

    #[test]
    fn conf_listing_keeps_tagged_cts_with_their_node() {
        let text = "--proxmox-lxcri-conf /etc/pve/nodes/pve1/lxc/100001.conf\n\
            #proxmox-lxcri id%3A a\n#proxmox-lxcri host%3A h\narch: amd64\ntags: proxmox-lxcri\n\n\
            --proxmox-lxcri-conf /etc/pve/nodes/pve2/lxc/100.conf\n#web\narch: amd64\n\n\
            --proxmox-lxcri-conf /etc/pve/nodes/pve2/lxc/100002.conf\narch: amd64\ntags: x;proxmox-lxcri\n\n";
        let got = parse_conf_listing(text);
        assert_eq!(
            got.iter()
                .map(|c| (c.vmid.get(), c.node.as_str(), c.description.as_str()))
                .collect::<Vec<_>>(),
            [
                (
                    100001,
                    "pve1",
                    "proxmox-lxcri id: a\nproxmox-lxcri host: h\n"
                ),
                (100002, "pve2", "")
            ]
        );
    }

    #[test]
    fn description_is_decoded_before_matching() {
        let cfg = "arch: amd64\ndescription: proxmox-lxcri id%3A c1%0Aother\nhostname: x\n";
        assert!(description_names(cfg, "c1"));
        assert!(!description_names(cfg, "c"));
        assert!(!description_names("hostname: c1\n", "c1"));
    }
}
