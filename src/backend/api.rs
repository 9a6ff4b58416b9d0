//! The `api` backend: the Proxmox REST API with an API token for everything Proxmox exposes, and
//! SSH to the node only for process I/O (pve-container's API2/LXC.pm has no exec endpoint).
//! The rootfs travels as an uploaded template (see `vztmpl`); tasks are waited for and their
//! exit status checked. With `node = "auto"`, `place` picks the node at create.

use std::cell::OnceCell;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::node_shell::NodeShell;
use super::nodever::{over_api, Detected};
use super::quorum::{self, Quorum};
use super::ship::TemplateStore;
use super::{Backend, BackendError, ClusterCt, CtStatus, TaggedCt};
use crate::api::{ApiError, Client};
use crate::config::Config;
use crate::pve::{CtConfig, Vmid};
use crate::vztmpl::Origin;
use crate::vztmpl::Packed;

pub struct Api {
    cfg: Config,
    node: String,
    client: OnceCell<Client>,
    shell: NodeShell,
    task_timeout: Duration,
}

fn ha_err(what: &str, vmid: Vmid, e: ApiError) -> BackendError {
    BackendError::Other(format!("{what} CT {vmid} with ha-manager: {e}"))
}

fn api_err(e: ApiError) -> BackendError {
    BackendError::Other(e.to_string())
}

impl Api {
    pub fn new(cfg: &Config) -> Api {
        let node = cfg.node_name();
        Api {
            shell: NodeShell::new(cfg, &node),
            node,
            cfg: cfg.clone(),
            client: OnceCell::new(),
            task_timeout: Duration::from_secs(cfg.api.task_timeout),
        }
    }

    fn client(&self) -> Result<&Client, BackendError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = Client::new(&self.cfg.api).map_err(api_err)?;
        Ok(self.client.get_or_init(|| c))
    }

    fn ct_path(&self, vmid: Vmid) -> String {
        format!("/nodes/{}/lxc/{vmid}", self.node)
    }

    /// Wait for the task a call returned (a UPID string; `null` means nothing to wait for). A
    /// CT's task failure is read in Proxmox's wording, like an HTTP error about that CT.
    fn wait(&self, vmid: Option<Vmid>, data: Value) -> Result<(), BackendError> {
        if let Some(upid) = data.as_str() {
            let end =
                self.client()?
                    .wait_task(upid, self.task_timeout)
                    .map_err(|e| match vmid {
                        Some(v) => self.classify(v, e),
                        None => api_err(e),
                    })?;
            log::debug!("task {upid}: {end:?}");
        }
        Ok(())
    }

    /// Proxmox's wording (pct's, arriving as an HTTP 500 or a task status) to what the caller can
    /// act on.
    fn classify(&self, vmid: Vmid, e: ApiError) -> BackendError {
        super::known_error(vmid, &e.to_string(), true)
            .map(|k| k.on_node(&self.node))
            .unwrap_or_else(|| api_err(e))
    }

    /// Refuse a node Proxmox reports offline or does not know, before anything is made.
    fn check_node(&self) -> Result<(), BackendError> {
        let nodes = self.client()?.nodes().map_err(api_err)?;
        match nodes.iter().find(|n| n.node == self.node) {
            Some(n) if n.status == "online" => Ok(()),
            Some(n) => Err(BackendError::Other(format!(
                "node {} is {}",
                self.node, n.status
            ))),
            None => Err(BackendError::Other(format!(
                "no such cluster node '{}'",
                self.node
            ))),
        }
    }

    fn post_task(
        &self,
        vmid: Vmid,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<(), BackendError> {
        let data = self
            .client()?
            .post(path, form)
            .map_err(|e| self.classify(vmid, e))?;
        self.wait(Some(vmid), data)
    }
}

impl TemplateStore for Api {
    fn place(&self) -> String {
        self.node.clone()
    }

    fn storage(&self) -> &str {
        &self.cfg.storage
    }

    fn has(&self, name: &str) -> Result<bool, BackendError> {
        let volid = format!("{}:vztmpl/{name}", self.cfg.storage);
        let have = self
            .client()?
            .storage_content(&self.node, &self.cfg.storage, "vztmpl")
            .map_err(api_err)?;
        Ok(have.iter().any(|v| v.volid == volid))
    }

    fn put(&self, name: &str, packed: &Packed) -> Result<(), BackendError> {
        let upid = self
            .client()?
            .upload_template(&self.node, &self.cfg.storage, name, packed.file.path())
            .map_err(api_err)?;
        self.wait(None, Value::String(upid))
    }
}

/// Our CTs (tag `proxmox-lxcri`) among `/cluster/resources` entries.
pub fn ours_in_resources(all: &[Value]) -> Vec<ClusterCt> {
    use crate::api::lenient;
    let mut cts: Vec<ClusterCt> = all
        .iter()
        .filter(|r| r.get("type").and_then(Value::as_str) == Some("lxc"))
        .filter(|r| {
            r.get("tags")
                .and_then(Value::as_str)
                .is_some_and(crate::mapping::tagged)
        })
        .filter_map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Some(ClusterCt {
                vmid: r.get("vmid").and_then(lenient::as_u32)?,
                node: s("node"),
                status: s("status"),
                name: s("name"),
            })
        })
        .collect();
    cts.sort_by_key(|c| c.vmid);
    cts
}

/// The least-loaded online node (memory and CPU share); `None` if none is online.
pub fn least_loaded(nodes: &[crate::api::NodeInfo]) -> Option<String> {
    let load = |n: &crate::api::NodeInfo| {
        let mem = if n.maxmem > 0 {
            n.mem as f64 / n.maxmem as f64
        } else {
            1.0
        };
        mem + n.cpu
    };
    nodes
        .iter()
        .filter(|n| n.status == "online")
        .min_by(|a, b| load(a).total_cmp(&load(b)).then(a.node.cmp(&b.node)))
        .map(|n| n.node.clone())
}

/// Names of the cluster's online nodes.
pub fn online_nodes(cfg: &Config) -> Result<Vec<String>, BackendError> {
    let client = Client::new(&cfg.api).map_err(api_err)?;
    let nodes = client.nodes().map_err(api_err)?;
    Ok(nodes
        .into_iter()
        .filter(|n| n.status == "online")
        .map(|n| n.node)
        .collect())
}

/// The config with `node = "auto"` resolved to a node, for a container about to be created:
/// the least-loaded online one of `GET /nodes` (api) or `pvesh get /nodes` (ssh).
pub fn place(cfg: &Config) -> Result<Config, BackendError> {
    if cfg.node != "auto" {
        return Ok(cfg.clone());
    }
    use crate::config::BackendKind;
    let nodes =
        match cfg.backend {
            BackendKind::Api => Client::new(&cfg.api)
                .and_then(|c| c.nodes())
                .map_err(api_err)?,
            BackendKind::Ssh => super::ssh::cluster_nodes(cfg)?,
            BackendKind::Pct => return Err(BackendError::Other(
                "node = \"auto\" needs the api or ssh backend: the pct backend runs on its node"
                    .into(),
            )),
        };
    let node = least_loaded(&nodes)
        .ok_or_else(|| BackendError::Other("node auto: no online node in the cluster".into()))?;
    log::info!("node auto: placing on {node}");
    Ok(Config {
        node,
        ..cfg.clone()
    })
}

impl Backend for Api {
    fn node_version(&self) -> Result<Detected, BackendError> {
        let client = self.client()?;
        over_api(&self.node, |path| {
            client.get(path, &[]).map_err(|e| e.to_string())
        })
    }

    fn writes_raw_keys(&self) -> bool {
        false
    }

    /// `GET /cluster/status` needs `Sys.Audit` on `/`; a token without it does not ask (quietly:
    /// the least-privilege role has it on `/nodes` only) and Proxmox's refusal tells instead.
    fn quorum(&self) -> Result<Option<Quorum>, BackendError> {
        match self.client()?.get("/cluster/status", &[]) {
            Ok(status) => Ok(Some(quorum::from_cluster_status(&status))),
            Err(e @ ApiError::Forbidden { .. }) => {
                log::debug!("quorum not asked: {e}");
                Ok(None)
            }
            Err(e) => Err(api_err(e)),
        }
    }

    fn node_memory(&self) -> Option<(u64, u64)> {
        // Unknown (an error, or a token without Sys.Audit) only costs the truthful "no limit".
        match self.client().ok()?.node_memory(&self.node) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("node {}: memory size unknown: {e}", self.node);
                None
            }
        }
    }

    fn template(&self, rootfs: &Path, init: &Path, from: Origin) -> Result<String, BackendError> {
        self.check_node()?;
        super::ship::template(self, rootfs, init, from)
    }

    fn image_template(&self, id: &str, init: &Path) -> Result<Option<String>, BackendError> {
        self.check_node()?;
        super::ship::imported(self, id, init)
    }

    /// Refuse storages without the content types the runtime needs (one request).
    fn check_storages(&self, extra: &[super::storages::Need]) -> Result<(), BackendError> {
        use super::storages::{check, needs, Listing};
        let all = self.client()?.node_storages(&self.node).map_err(api_err)?;
        let wanted: Vec<_> = needs(&self.cfg)
            .into_iter()
            .chain(extra.iter().cloned())
            .collect();
        check(&Listing::Full(all), &wanted, &self.node).map_err(BackendError::Other)
    }

    fn check_bridges(&self, wanted: &[(String, String)]) -> Result<(), BackendError> {
        if wanted.is_empty() {
            return Ok(());
        }
        let client = self.client()?;
        let listing = match client.get(&format!("/nodes/{}/network", self.node), &[]) {
            Ok(l) => l,
            // Proxmox checks the bridge itself at start; without Sys.Audit this is only later.
            Err(e @ ApiError::Forbidden { .. }) => {
                log::warn!(
                    "node {}: bridges not checked before create (needs Sys.Audit on /nodes/{}): {e}",
                    self.node,
                    self.node
                );
                return Ok(());
            }
            Err(e) => return Err(api_err(e)),
        };
        let bridges = super::bridges::node_bridges(&listing);
        let vnets = || {
            client
                .get("/cluster/sdn/vnets", &[])
                .map(|v| super::bridges::vnets(&v))
                .map_err(|e| format!("GET /cluster/sdn/vnets: {e}"))
        };
        super::bridges::check(wanted, &self.node, &bridges, vnets).map_err(|m| {
            // Vnets the token may not audit are not listed (pve-network's vnets index).
            BackendError::Other(format!(
                "{m} (a token sees only vnets it has SDN.Audit on at /sdn/zones/<zone>/<vnet>)"
            ))
        })
    }

    fn check_firewall_groups(
        &self,
        annotation: &str,
        groups: &[String],
    ) -> Result<(), BackendError> {
        if groups.is_empty() {
            return Ok(());
        }
        let listing = match self.client()?.get("/cluster/firewall/groups", &[]) {
            Ok(l) => l,
            // A token that may not list them: Proxmox checks the group when the rule is added.
            Err(e) if e.status() == Some(403) => {
                log::warn!("cannot list the cluster's security groups, not checked: {e}");
                return Ok(());
            }
            Err(e) => return Err(api_err(e)),
        };
        let have = super::firewall::group_names(&listing);
        super::firewall::check_groups(annotation, groups, &have).map_err(BackendError::Other)
    }

    fn set_firewall(
        &self,
        vmid: Vmid,
        fw: &crate::mapping::firewall::FirewallRequest,
    ) -> Result<(), BackendError> {
        let client = self.client()?;
        super::firewall::write(&self.node, vmid, fw, &mut |m, p, f| {
            let form: Vec<(&str, String)> =
                f.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            match m {
                "PUT" => client.put(p, &form),
                _ => client.post(p, &form),
            }
            .map_err(|e| e.to_string())
        })
        .map_err(BackendError::Other)
    }

    fn create(&self, vmid: Vmid, template: &str, ct: &CtConfig) -> Result<(), BackendError> {
        let mut form: Vec<(&str, String)> = vec![
            ("vmid", vmid.to_string()),
            ("ostemplate", template.to_string()),
        ];
        // A size from the container's annotation comes as `rootfs` in `ct` (docs/storage.md).
        if !ct.options.contains_key("rootfs") {
            form.push((
                "rootfs",
                format!("{}:{}", self.cfg.rootfs_storage, self.cfg.rootfs_size),
            ));
        }
        for (k, v) in &ct.options {
            form.push((k.as_str(), v.clone()));
        }
        if !ct.description.is_empty() {
            form.push(("description", ct.description.clone()));
        }
        self.post_task(vmid, &format!("/nodes/{}/lxc", self.node), &form)
    }

    fn start(&self, vmid: Vmid) -> Result<(), BackendError> {
        self.post_task(vmid, &format!("{}/status/start", self.ct_path(vmid)), &[])
    }

    fn status(&self, vmid: Vmid) -> Result<CtStatus, BackendError> {
        let st = self
            .client()?
            .ct_status(&self.node, vmid.get())
            .map_err(|e| self.classify(vmid, e))?;
        match (st.status.as_str(), st.pid) {
            ("running", Some(pid)) => Ok(CtStatus::Running {
                init_pid: pid as i32,
            }),
            ("stopped", _) => Ok(CtStatus::Stopped),
            (s, _) => Err(BackendError::Other(format!(
                "CT {vmid}: unexpected status {s}"
            ))),
        }
    }

    fn node_storages(&self, node: &str) -> Result<Vec<serde_json::Value>, BackendError> {
        let v = self
            .client()?
            .get(&format!("/nodes/{node}/storage"), &[])
            .map_err(api_err)?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    fn status_current(&self, vmid: Vmid) -> Result<serde_json::Value, BackendError> {
        let path = format!("{}/status/current", self.ct_path(vmid));
        self.client()?
            .get(&path, &[])
            .map_err(|e| self.classify(vmid, e))
    }

    fn stop(&self, vmid: Vmid) -> Result<(), BackendError> {
        match self.post_task(vmid, &format!("{}/status/stop", self.ct_path(vmid)), &[]) {
            Ok(()) | Err(BackendError::NotRunning(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn destroy(&self, vmid: Vmid) -> Result<(), BackendError> {
        let q = [("purge", "1".to_string()), ("force", "1".to_string())];
        let r = self
            .client()?
            .delete(&self.ct_path(vmid), &q)
            .map_err(|e| self.classify(vmid, e))
            .and_then(|d| self.wait(Some(vmid), d));
        match r {
            Ok(()) | Err(BackendError::NoSuchCt(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn is_ours(&self, vmid: Vmid, id: &str) -> Result<bool, BackendError> {
        let conf = match self.client()?.ct_config(&self.node, vmid.get()) {
            Ok(c) => c,
            Err(e) => {
                return match self.classify(vmid, e) {
                    BackendError::NoSuchCt(_) => Ok(false),
                    e => Err(e),
                }
            }
        };
        Ok(conf
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| crate::mapping::description_names(d, id)))
    }

    fn update(
        &self,
        vmid: Vmid,
        _init_pid: i32,
        ct: &CtConfig,
        unset: &[String],
    ) -> Result<Vec<String>, BackendError> {
        if !ct.options.is_empty() {
            let form: Vec<(&str, String)> = ct
                .options
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            self.client()?
                .put(&format!("{}/config", self.ct_path(vmid)), &form)
                .map_err(|e| self.classify(vmid, e))?;
        }
        Ok(super::raw_keys_left_out(
            ct,
            unset,
            "raw keys cannot be set through the API",
        ))
    }

    /// `POST /cluster/ha/resources` (pve-ha-manager src/PVE/API2/HA/Resources.pm `create`;
    /// `Sys.Console` on `/`).
    fn ha_add(&self, vmid: Vmid, group: Option<&str>) -> Result<(), BackendError> {
        let mut form = vec![("sid", super::ha_sid(vmid)), ("state", "started".into())];
        form.extend(group.map(|g| ("group", g.to_string())));
        self.client()?
            .post("/cluster/ha/resources", &form)
            .map(|_| ())
            .map_err(|e| ha_err("registering", vmid, e))
    }

    fn ha_remove(&self, vmid: Vmid) -> Result<(), BackendError> {
        let path = format!("/cluster/ha/resources/{}", super::ha_sid(vmid));
        match self.client()?.delete(&path, &[]) {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not HA managed") => Ok(()),
            Err(e) => Err(ha_err("unregistering", vmid, e)),
        }
    }

    fn ha_state(&self, vmid: Vmid, state: &str) -> Result<(), BackendError> {
        let path = format!("/cluster/ha/resources/{}", super::ha_sid(vmid));
        self.client()?
            .put(&path, &[("state", state.to_string())])
            .map(|_| ())
            .map_err(|e| ha_err("setting the HA state of", vmid, e))
    }

    fn cluster_cts(&self) -> Result<Vec<ClusterCt>, BackendError> {
        let all = self
            .client()?
            .cluster_resources(Some("vm"))
            .map_err(api_err)?;
        Ok(ours_in_resources(&all))
    }

    /// The cluster's tagged CTs (`/cluster/resources`), then each one's description from its
    /// config (pmxcfs answers for a node that is down too).
    fn tagged_cts(&self) -> Result<Vec<TaggedCt>, BackendError> {
        let client = self.client()?;
        let mut out = Vec::new();
        for ct in self.cluster_cts()? {
            let vmid = Vmid::new(ct.vmid).map_err(|e| BackendError::Other(e.to_string()))?;
            let conf = match client.ct_config(&ct.node, ct.vmid) {
                Ok(c) => c,
                Err(e) => match self.classify(vmid, e) {
                    // Destroyed since the listing.
                    BackendError::NoSuchCt(_) => continue,
                    e => return Err(e),
                },
            };
            let description = conf
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            out.push(TaggedCt {
                vmid,
                node: ct.node,
                description,
            });
        }
        Ok(out)
    }

    fn templates(&self) -> Result<Vec<(String, u64)>, BackendError> {
        let items = self
            .client()?
            .storage_content(&self.node, &self.cfg.storage, "vztmpl")
            .map_err(api_err)?;
        Ok(items
            .into_iter()
            .filter(|i| {
                i.volid
                    .split_once(":vztmpl/")
                    .is_some_and(|(_, n)| crate::vztmpl::is_ours(n))
            })
            .map(|i| (i.volid, i.size))
            .collect())
    }

    fn remove_template(&self, volid: &str) -> Result<(), BackendError> {
        // The volid is one path segment: its `/` (and `:`) must not split the path.
        let volume = volid.replace(':', "%3A").replace('/', "%2F");
        let path = format!(
            "/nodes/{}/storage/{}/content/{volume}",
            self.node, self.cfg.storage
        );
        let data = self.client()?.delete(&path, &[]).map_err(api_err)?;
        self.wait(None, data)
    }

    fn shell(&self) -> Option<&NodeShell> {
        Some(&self.shell)
    }

    /// `POST /nodes/{node}/vzdump`, its task followed; the task log names the archive.
    fn backup(&self, vmid: Vmid, storage: &str, mode: &str) -> Result<String, BackendError> {
        let form = [
            ("vmid", vmid.to_string()),
            ("storage", storage.to_string()),
            ("mode", mode.to_string()),
            ("compress", "zstd".to_string()),
        ];
        let client = self.client()?;
        let path = format!("/nodes/{}/vzdump", self.node);
        let data = client
            .post(&path, &form)
            .map_err(|e| self.classify(vmid, e))?;
        let upid = data.as_str().unwrap_or_default().to_string();
        self.wait(Some(vmid), data)?;
        let log_path = crate::api::task::task_path(&upid).map_err(api_err)?;
        let query = [("start", "0".to_string()), ("limit", "0".to_string())];
        let log = client
            .get(&format!("{log_path}/log"), &query)
            .map_err(api_err)?;
        let lines = crate::api::task::log_tail(&log, usize::MAX);
        super::backups::archive_from_log(lines.iter().map(String::as_str), storage)
            .ok_or_else(|| BackendError::Other(format!("CT {vmid}: task {upid} named no archive")))
    }

    fn backups(&self, storage: &str) -> Result<Vec<super::backups::Backup>, BackendError> {
        let items = self
            .client()?
            .storage_content(&self.node, storage, "backup")
            .map_err(api_err)?;
        Ok(items
            .into_iter()
            .filter_map(|i| super::backups::from_volid(&i.volid, i.size))
            .collect())
    }

    fn remove_backup(&self, volid: &str) -> Result<(), BackendError> {
        let storage = super::backups::storage_of(volid).unwrap_or(&self.cfg.storage);
        let volume = volid.replace(':', "%3A").replace('/', "%2F");
        let path = format!("/nodes/{}/storage/{storage}/content/{volume}", self.node);
        let data = self.client()?.delete(&path, &[]).map_err(api_err)?;
        self.wait(None, data)
    }

    /// `POST /nodes/{node}/lxc` with `restore=1`, the archive as `ostemplate` and the rootfs
    /// storage as `storage` (the volumes keep the archive's sizes).
    fn restore(&self, vmid: Vmid, archive: &str, ct: &CtConfig) -> Result<(), BackendError> {
        let mut form: Vec<(&str, String)> = vec![
            ("vmid", vmid.to_string()),
            ("ostemplate", archive.to_string()),
            ("restore", "1".to_string()),
            ("storage", self.cfg.rootfs_storage.clone()),
        ];
        for (k, v) in &ct.options {
            form.push((k.as_str(), v.clone()));
        }
        if !ct.description.is_empty() {
            form.push(("description", ct.description.clone()));
        }
        self.post_task(vmid, &format!("/nodes/{}/lxc", self.node), &form)
    }

    /// `POST …/lxc/{vmid}/migrate`, then its `vzmigrate` task; a failed task is told by the
    /// reason its log gives.
    fn move_volume(
        &self,
        vmid: Vmid,
        key: &str,
        target: Vmid,
        tkey: &str,
    ) -> Result<(), BackendError> {
        let form = [
            ("volume", key.to_string()),
            ("target-vmid", target.to_string()),
            ("target-volume", tkey.to_string()),
        ];
        self.post_task(vmid, &format!("{}/move_volume", self.ct_path(vmid)), &form)
    }

    fn migrate(&self, vmid: Vmid, m: super::migrate::Move) -> Result<(), BackendError> {
        let mut form = vec![("target", m.target.to_string())];
        if m.restart {
            form.push(("restart", "1".into()));
            form.push(("timeout", m.timeout.to_string()));
        }
        let path = format!("{}/migrate", self.ct_path(vmid));
        let data = self
            .client()?
            .post(&path, &form)
            .map_err(|e| self.classify(vmid, e))?;
        let Some(upid) = data.as_str() else {
            return Ok(());
        };
        match self.client()?.wait_task(upid, self.task_timeout) {
            Ok(_) => Ok(()),
            Err(ApiError::TaskFailed {
                exitstatus, log, ..
            }) => Err(BackendError::Other(
                super::migrate::failure_reason(&log).unwrap_or(exitstatus),
            )),
            Err(e) => Err(self.classify(vmid, e)),
        }
    }

    fn cluster_load(&self) -> Result<super::migrate::ClusterLoad, BackendError> {
        let client = self.client()?;
        let nodes = client.nodes().map_err(api_err)?;
        let all = client.cluster_resources(Some("vm")).map_err(api_err)?;
        Ok(super::migrate::ClusterLoad {
            nodes,
            guests: super::migrate::guests_in_resources(&all),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NodeInfo;

    fn node(name: &str, status: &str, cpu: f64, mem: u64) -> NodeInfo {
        NodeInfo {
            node: name.into(),
            status: status.into(),
            cpu,
            maxcpu: 4,
            mem,
            maxmem: 100,
            ssl_fingerprint: None,
        }
    }

    #[test]
    fn cluster_listing_keeps_our_tagged_cts() {
        let all: Vec<Value> = serde_json::from_str(
            r#"[{"id":"lxc/100001","type":"lxc","vmid":100001,"node":"n1","name":"a","status":"running","tags":"proxmox-lxcri"},
                {"id":"lxc/100","type":"lxc","vmid":100,"node":"n1","name":"web","status":"running"},
                {"id":"qemu/101","type":"qemu","vmid":101,"node":"n2","name":"vm","status":"stopped","tags":"proxmox-lxcri"},
                {"id":"lxc/100002","type":"lxc","vmid":"100002","node":"n2","name":"b","status":"unknown","tags":"prod;proxmox-lxcri"}]"#,
        )
        .unwrap();
        let got = ours_in_resources(&all);
        assert_eq!(
            got.iter()
                .map(|c| (c.vmid, c.node.as_str()))
                .collect::<Vec<_>>(),
            [(100001, "n1"), (100002, "n2")]
        );
    }

    #[test]
    fn placement_takes_the_least_loaded_online_node() {
        let nodes = [
            node("n1", "online", 0.5, 50),
            node("n2", "online", 0.1, 20),
            node("n3", "offline", 0.0, 0),
        ];
        assert_eq!(least_loaded(&nodes).as_deref(), Some("n2"));
        let nodes = [node("n1", "offline", 0.0, 0), node("n2", "unknown", 0.0, 0)];
        assert_eq!(least_loaded(&nodes), None, "never an offline node");
    }
}
