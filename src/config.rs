//! The runtime's own configuration: TOML at `--config`, `$PROXMOX_LXCRI_CONFIG` or
//! `/etc/proxmox-lxcri/config.toml`. No file means defaults. CRI-O hands the runtime almost no
//! environment, so everything about the node lives here, not in variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_PATH: &str = "/etc/proxmox-lxcri/config.toml";
pub const ENV_VAR: &str = "PROXMOX_LXCRI_CONFIG";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `pct` on this node.
    Pct,
    /// `pct` on the node over SSH.
    Ssh,
    /// The REST API with a token; SSH for process I/O.
    Api,
}

impl BackendKind {
    /// Its name in the configuration file, which logs, audit lines and metric labels use too.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Pct => "pct",
            BackendKind::Ssh => "ssh",
            BackendKind::Api => "api",
        }
    }
}

impl NetworkConfig {
    /// The CT's `net0` property string; none without a bridge.
    pub fn net0(&self) -> Option<String> {
        if self.bridge.is_empty() {
            return None;
        }
        let mut v = format!("name=eth0,bridge={},ip={}", self.bridge, self.ip);
        if !self.gw.is_empty() {
            v.push_str(&format!(",gw={}", self.gw));
        }
        if self.tag != 0 {
            v.push_str(&format!(",tag={}", self.tag));
        }
        Some(v)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub backend: BackendKind,
    /// Proxmox node name; empty means this host's short name.
    pub node: String,
    /// Storage for the templates the runtime uploads (needs content `vztmpl`).
    pub storage: String,
    /// Storage for the rootfs volumes of CTs on a remote node (needs content `rootdir`).
    pub rootfs_storage: String,
    /// Inclusive VMID range the runtime allocates from.
    pub vmid_range: [u32; 2],
    /// Create unprivileged CTs. Off by default: CRI-O's and podman's overlayfs rootfs cannot be
    /// idmapped, which an unprivileged CT's bound rootfs needs (docs/crio.md).
    pub unprivileged: bool,
    /// Refuse config.json fields Proxmox cannot express, rather than warn.
    pub strict: bool,
    /// The static in-container init; empty means `proxmox-lxcri-init` beside this binary.
    pub init_path: PathBuf,
    /// Size in GiB of the rootfs volume of a CT whose rootfs is shipped to a remote node.
    pub rootfs_size: u32,
    /// The node's pve-container version to assume; empty means ask the node.
    pub node_version: String,
    /// `memory` (MiB) of a CT whose config.json sets no memory limit; 0 means no limit (the
    /// node's whole RAM is written, docs/mapping.md).
    pub default_memory: u64,
    /// `swap` (MiB) that goes with `default_memory`.
    pub default_swap: u64,
    /// This host's identity in the CTs' descriptions; empty means `/etc/machine-id`.
    pub host_id: String,
    pub pct: PctConfig,
    pub api: ApiConfig,
    pub ssh: SshConfig,
    pub network: NetworkConfig,
    pub cluster: ClusterConfig,
    pub audit: AuditConfig,
}

/// The audit log (docs/audit.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// JSON lines file; empty disables the audit log.
    pub path: PathBuf,
    /// Bytes past which the file is rotated; 0 means never.
    pub max_size: u64,
    /// Rotated files kept (`path.1` .. `path.keep`).
    pub keep: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: "/var/log/proxmox-lxcri/audit.jsonl".into(),
            max_size: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// Node failure and HA (ssh and api backends; docs/cluster.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Register every container with Proxmox's HA stack (the annotation `org.proxmox.lxcri/ha`
    /// decides per container).
    pub ha: bool,
    /// The HA group (Proxmox VE 8) of containers registered by `ha`; empty means none.
    pub ha_group: String,
    /// Seconds a container's node may stay silent before the shim takes it for failed.
    pub node_timeout: u64,
    /// Seconds the shim of an HA container waits for Proxmox to recover its CT on another node.
    pub ha_recovery_timeout: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            ha: false,
            ha_group: String::new(),
            node_timeout: 30,
            ha_recovery_timeout: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// `https://host:8006`; `/api2/json` is added.
    pub url: String,
    /// File holding `USER@REALM!TOKENID=SECRET`; readable by its owner only.
    pub token_file: PathBuf,
    /// SHA-256 of the node's leaf certificate, `AA:BB:...`; when set, replaces CA verification.
    pub fingerprint: String,
    /// PEM file with the CA(s) to trust (e.g. `/etc/pve/pve-root-ca.pem`); empty means system roots.
    pub ca_file: PathBuf,
    /// Seconds one request may take.
    pub timeout: u64,
    /// Seconds a task (UPID) may run before the runtime gives up on it.
    pub task_timeout: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// Host to connect to; empty means the node name.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file (no passphrase).
    pub identity: PathBuf,
    /// OpenSSH known_hosts file the node's host key must be in.
    pub known_hosts: PathBuf,
    /// Seconds to connect and authenticate.
    pub timeout: u64,
    /// Node name -> `host` or `host:port` to reach it at, before the cluster's address for it.
    pub nodes: BTreeMap<String, String>,
}

/// `net0` of CTs on a remote node (a local CT joins the pod's network namespace instead).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Bridge on the node; empty means no network device.
    pub bridge: String,
    /// `dhcp`, or a static `ADDR/PREFIX`.
    pub ip: String,
    /// Gateway for a static address; empty means none.
    pub gw: String,
    /// VLAN tag; 0 means untagged.
    pub tag: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PctConfig {
    /// The `pct` to run.
    pub path: PathBuf,
    /// pmxcfs mount point; raw `lxc.*` keys are added to `<pve_dir>/lxc/<vmid>.conf`.
    pub pve_dir: PathBuf,
    /// Where Proxmox's per-CT config locks live.
    pub lock_dir: PathBuf,
    /// LXC's lxcpath on the node, where Proxmox's CTs live (`/var/lib/lxc`): the runtime asks
    /// `lxc-info -P <lxc_path>` for a CT's init pid.
    pub lxc_path: PathBuf,
    /// Seconds one `pct` call may take.
    pub timeout: u64,
    /// dpkg's status file, read for the installed pve-container version.
    pub dpkg_status: PathBuf,
    /// `pveversion`, run when dpkg's status file does not tell.
    pub pveversion: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backend: BackendKind::Pct,
            node: String::new(),
            storage: "local".into(),
            rootfs_storage: "local-lvm".into(),
            vmid_range: [100_000, 199_999],
            unprivileged: false,
            strict: true,
            init_path: PathBuf::new(),
            rootfs_size: 4,
            node_version: String::new(),
            default_memory: 0,
            default_swap: 0,
            host_id: String::new(),
            pct: PctConfig::default(),
            api: ApiConfig::default(),
            ssh: SshConfig::default(),
            network: NetworkConfig::default(),
            cluster: ClusterConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            url: String::new(),
            token_file: "/etc/proxmox-lxcri/token".into(),
            fingerprint: String::new(),
            ca_file: PathBuf::new(),
            timeout: 30,
            task_timeout: 300,
        }
    }
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            host: String::new(),
            port: 22,
            user: "root".into(),
            identity: "/etc/proxmox-lxcri/id_ed25519".into(),
            known_hosts: "/etc/proxmox-lxcri/known_hosts".into(),
            timeout: 30,
            nodes: BTreeMap::new(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bridge: String::new(),
            ip: "dhcp".into(),
            gw: String::new(),
            tag: 0,
        }
    }
}

impl Default for PctConfig {
    fn default() -> Self {
        PctConfig {
            path: "/usr/sbin/pct".into(),
            pve_dir: "/etc/pve".into(),
            lock_dir: "/run/lock/lxc".into(),
            lxc_path: "/var/lib/lxc".into(),
            timeout: 120,
            dpkg_status: "/var/lib/dpkg/status".into(),
            pveversion: "/usr/bin/pveversion".into(),
        }
    }
}

/// Every key of the configuration file: (dotted key, default as TOML, one-line description).
/// The source of `man/proxmox-lxcri-config.5` and `contrib/config.toml.example`; a unit test
/// keeps it equal to `Config`'s fields and defaults.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "backend",
        "\"pct\"",
        "How Proxmox is driven: \"pct\" (pct on this node), \"ssh\" (pct on the node over SSH) or \"api\" (REST API with a token, SSH for process I/O).",
    ),
    (
        "node",
        "\"\"",
        "Proxmox node name; empty means this host's short host name; \"auto\" (api and ssh backends) picks the least-loaded online node (ssh: asked of [ssh] host with pvesh).",
    ),
    (
        "storage",
        "\"local\"",
        "Proxmox storage the bundle's rootfs is uploaded to as a CT template (ssh and api backends); needs content type vztmpl. The pct backend allocates nothing.",
    ),
    (
        "rootfs_storage",
        "\"local-lvm\"",
        "Proxmox storage for the rootfs volume of a CT on a remote node (ssh and api backends); needs content type rootdir (a stock node's local has none).",
    ),
    (
        "vmid_range",
        "[100000, 199999]",
        "Inclusive VMID range [first, last] to allocate from, within 100..999999999; keep other guests out.",
    ),
    (
        "unprivileged",
        "false",
        "Create unprivileged CTs (idmap=passthrough rootfs); needs a rootfs that can be idmapped, not overlayfs.",
    ),
    (
        "strict",
        "true",
        "Refuse config.json fields Proxmox cannot express; false logs a warning and goes on.",
    ),
    (
        "init_path",
        "\"\"",
        "The static in-container init; empty means proxmox-lxcri-init beside the runtime binary.",
    ),
    (
        "rootfs_size",
        "4",
        "GiB of the rootfs volume of a CT on a remote node (ssh and api backends), which gets the bundle's rootfs as a template; the annotation org.proxmox.lxcri/rootfs-size decides per container (docs/storage.md).",
    ),
    (
        "node_version",
        "\"\"",
        "pve-container version of the node to assume, e.g. \"6.1.10\"; empty means ask the node at create (cached for 60 s under the state root; unknown means Proxmox VE 8.4).",
    ),
    (
        "default_memory",
        "0",
        "Memory (MiB) of a CT whose config.json sets no limit; 0 means no limit: the CT's memory and swap are the node's whole RAM and swap, so Proxmox shows what it may use.",
    ),
    (
        "default_swap",
        "0",
        "Swap (MiB) of a CT that gets default_memory.",
    ),
    (
        "host_id",
        "\"\"",
        "This host's identity, written into each CT's description (proxmox-lxcri host: ...) with the state root; gc only touches CTs that name both. Empty means /etc/machine-id, else /var/lib/dbus/machine-id, else the host name.",
    ),
    ("pct.path", "\"/usr/sbin/pct\"", "The pct command to run."),
    (
        "pct.pve_dir",
        "\"/etc/pve\"",
        "pmxcfs mount point; raw lxc.* keys are added to <pve_dir>/lxc/<vmid>.conf (on the node for the ssh backend, which adds raw keys only for nodes older than pve-container 6.0.15).",
    ),
    (
        "pct.lock_dir",
        "\"/run/lock/lxc\"",
        "Where Proxmox keeps its per-CT config locks (pve-config-<vmid>.lock); on the node for the ssh backend.",
    ),
    (
        "pct.lxc_path",
        "\"/var/lib/lxc\"",
        "LXC's lxcpath of Proxmox's CTs; lxc-info -P <lxc_path> gives a running CT's init pid (on the node for the ssh backend).",
    ),
    (
        "pct.timeout",
        "120",
        "Seconds one pct call may take before it is killed.",
    ),
    (
        "pct.dpkg_status",
        "\"/var/lib/dpkg/status\"",
        "dpkg status file read for the node's pve-container version (pct backend).",
    ),
    (
        "pct.pveversion",
        "\"/usr/bin/pveversion\"",
        "pveversion, run with --verbose when the dpkg status file does not tell the pve-container version (pct backend).",
    ),
    (
        "api.url",
        "\"\"",
        "Proxmox API address, https://host:8006 (api backend).",
    ),
    (
        "api.token_file",
        "\"/etc/proxmox-lxcri/token\"",
        "File with the API token USER@REALM!TOKENID=SECRET; refused if group or others can read it.",
    ),
    (
        "api.fingerprint",
        "\"\"",
        "SHA-256 fingerprint AA:BB:... of the node's TLS leaf certificate; set, it replaces CA verification.",
    ),
    (
        "api.ca_file",
        "\"\"",
        "PEM file with the CA to verify the node against (e.g. a copy of /etc/pve/pve-root-ca.pem); empty means the system roots.",
    ),
    ("api.timeout", "30", "Seconds one API request may take."),
    (
        "api.task_timeout",
        "300",
        "Seconds a Proxmox task (UPID) may run before the runtime gives up on it.",
    ),
    (
        "ssh.host",
        "\"\"",
        "SSH host for a node with no [ssh.nodes] entry and no address in the cluster's /cluster/status (ssh backend, and process I/O of the api backend); empty means the node name. The ssh backend also asks it for the cluster's node addresses.",
    ),
    (
        "ssh.nodes",
        "{}",
        "Table of node name = \"host\" or \"host:port\": where to reach that node over SSH, before its address in /cluster/status and [ssh] host.",
    ),
    ("ssh.port", "22", "SSH port."),
    ("ssh.user", "\"root\"", "SSH user; pct needs root."),
    (
        "ssh.identity",
        "\"/etc/proxmox-lxcri/id_ed25519\"",
        "Private key to authenticate with (no passphrase).",
    ),
    (
        "ssh.known_hosts",
        "\"/etc/proxmox-lxcri/known_hosts\"",
        "known_hosts file that must hold the node's host key; unknown or changed keys are refused.",
    ),
    ("ssh.timeout", "30", "Seconds to connect and authenticate."),
    (
        "network.bridge",
        "\"\"",
        "Bridge for net0 of a CT on a remote node; empty means no network device. The annotations org.proxmox.lxcri/net0 .. net9 replace this table for one container (docs/network.md).",
    ),
    (
        "network.ip",
        "\"dhcp\"",
        "net0 address: dhcp or a static ADDR/PREFIX.",
    ),
    (
        "network.gw",
        "\"\"",
        "Gateway for a static net0 address; empty means none.",
    ),
    ("network.tag", "0", "VLAN tag of net0; 0 means untagged."),
    (
        "cluster.ha",
        "false",
        "Register every container with Proxmox's HA stack (ssh and api backends); the annotation org.proxmox.lxcri/ha decides per container (\"false\" opts out).",
    ),
    (
        "cluster.ha_group",
        "\"\"",
        "HA group (Proxmox VE 8) of the containers cluster.ha registers; empty means none.",
    ),
    (
        "cluster.node_timeout",
        "30",
        "Seconds (at least 5) a remote container's node may stay silent, SSH keepalives unanswered, before the shim takes it for failed: a container without HA is reported stopped with exit status 137.",
    ),
    (
        "cluster.ha_recovery_timeout",
        "300",
        "Seconds the shim of an HA container waits for Proxmox to recover its CT on another node (Proxmox fences for about two minutes) before it reports the container stopped.",
    ),
    (
        "audit.path",
        "\"/var/log/proxmox-lxcri/audit.jsonl\"",
        "Audit log: one JSON line per operation that changes something (docs/audit.md); empty disables it. A path that cannot be written is a warning in --log, never a failed operation.",
    ),
    (
        "audit.max_size",
        "10485760",
        "Bytes past which the audit log is rotated (audit.jsonl becomes audit.jsonl.1); 0 means never.",
    ),
    ("audit.keep", "5", "Rotated audit logs kept (path.1 .. path.N); 0 keeps none."),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
}

/// `host`, `host:port` or `[v6]:port` of an `[ssh.nodes]` entry; a bare IPv6 address has no
/// port.
pub fn host_port(addr: &str) -> Result<(String, Option<u16>), String> {
    let bad = |why: &str| format!("\"{addr}\" is not host or host:port ({why})");
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || (h.starts_with('[') && h.ends_with(']')) => {
            let port = p.parse::<u16>().map_err(|_| bad("bad port"))?;
            (h.trim_start_matches('[').trim_end_matches(']'), Some(port))
        }
        _ => (addr, None),
    };
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains(['[', ']', '/']) {
        return Err(bad("bad host"));
    }
    Ok((host.to_string(), port))
}

impl Config {
    /// Load from the explicit path, else the environment's, else the default path if it exists.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let from_env = std::env::var_os(ENV_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let path = match explicit.map(Path::to_path_buf).or(from_env) {
            Some(p) => p,
            None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&text).map_err(|msg| ConfigError::Parse { path, msg })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let [lo, hi] = cfg.vmid_range;
        if lo < crate::pve::vmid::MIN || hi > crate::pve::vmid::MAX || lo > hi {
            return Err(format!(
                "vmid_range [{lo}, {hi}] is not within 100..=999999999"
            ));
        }
        if cfg.node == "auto" && cfg.backend == BackendKind::Pct {
            return Err("node \"auto\" needs backend \"api\" or \"ssh\"".into());
        }
        for (node, addr) in &cfg.ssh.nodes {
            host_port(addr).map_err(|e| format!("ssh.nodes.{node}: {e}"))?;
        }
        if cfg.node == "auto" && cfg.backend == BackendKind::Ssh && cfg.ssh.host.is_empty() {
            return Err("node \"auto\" with backend \"ssh\" needs [ssh] host (the node asked for the cluster's nodes)".into());
        }
        Ok(cfg)
    }

    /// The init binary to bind into every CT.
    pub fn init_binary(&self) -> PathBuf {
        if !self.init_path.as_os_str().is_empty() {
            return self.init_path.clone();
        }
        let exe = std::env::current_exe().unwrap_or_default();
        exe.with_file_name("proxmox-lxcri-init")
    }

    /// This host's identity for the CTs it makes: `host_id`, else the machine id systemd (or
    /// D-Bus) keeps, else the host name.
    pub fn host_id(&self) -> String {
        if !self.host_id.is_empty() {
            return self.host_id.clone();
        }
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let Ok(text) = std::fs::read_to_string(path) {
                let id = text.trim();
                if !id.is_empty() {
                    return id.to_string();
                }
            }
        }
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    }

    pub fn node_name(&self) -> String {
        if !self.node.is_empty() {
            return self.node.clone();
        }
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        host.split('.').next().unwrap_or_default().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_are_the_configuration_files() {
        for k in [BackendKind::Pct, BackendKind::Ssh, BackendKind::Api] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    #[test]
    fn ssh_nodes_are_host_or_host_port() {
        let cfg = Config::parse(
            "[ssh.nodes]\npve2 = \"10.0.0.7:2200\"\npve3 = \"[fd00::3]:22\"\npve4 = \"fd00::4\"\n",
        )
        .unwrap();
        assert_eq!(cfg.ssh.nodes["pve2"], "10.0.0.7:2200");
        assert_eq!(host_port("[fd00::3]:22"), Ok(("fd00::3".into(), Some(22))));
        assert_eq!(host_port("fd00::4"), Ok(("fd00::4".into(), None)));
        assert_eq!(host_port("pve3"), Ok(("pve3".into(), None)));
        let e = Config::parse("[ssh.nodes]\npve2 = \"10.0.0.7:x\"\n").unwrap_err();
        assert!(e.contains("ssh.nodes.pve2"), "{e}");
        assert!(Config::parse("[ssh.nodes]\npve2 = 7\n").is_err());
        assert!(Config::parse("[ssh.nodez]\npve2 = \"a\"\n").is_err());
    }

    #[test]
    fn host_id_is_configured_or_the_machine_id() {
        let cfg = Config::parse("host_id = \"h1\"\n").unwrap();
        assert_eq!(cfg.host_id(), "h1");
        let id = Config::default().host_id();
        assert!(!id.is_empty());
        if let Ok(m) = std::fs::read_to_string("/etc/machine-id") {
            if !m.trim().is_empty() {
                assert_eq!(id, m.trim());
            }
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.backend, BackendKind::Pct);
        assert!(c.strict && !c.unprivileged);
        assert_eq!(c.pct.path, PathBuf::from("/usr/sbin/pct"));
    }

    #[test]
    fn full_file() {
        let c = Config::parse(
            "backend = \"pct\"\nnode = \"pve1\"\nstorage = \"local-lvm\"\nvmid_range = [5000, 5999]\n\
             unprivileged = false\nstrict = false\n[pct]\npath = \"/opt/pct\"\npve_dir = \"/x/etc/pve\"\ntimeout = 9\n",
        )
        .unwrap();
        assert_eq!(
            (c.node.as_str(), c.vmid_range, c.unprivileged, c.strict),
            ("pve1", [5000, 5999], false, false)
        );
        assert_eq!((c.pct.path.to_str(), c.pct.timeout), (Some("/opt/pct"), 9));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::parse("bogus = 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = Config::parse("[pct]\npth = \"/x\"\n").unwrap_err();
        assert!(e.contains("pth"), "{e}");
        assert!(Config::parse("backend = \"bogus\"\n").is_err());
        assert!(Config::parse("vmid_range = [50, 60]\n").is_err());
    }
}

#[cfg(test)]
mod keys_tests {
    use super::*;

    /// `(dotted key, value as TOML)` for every leaf of a serialized table.
    fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
        for (k, v) in table {
            let key = format!("{prefix}{k}");
            match v {
                // A map whose default is empty (`ssh.nodes`) is one key.
                toml::Value::Table(t) if t.is_empty() => out.push((key, "{}".into())),
                toml::Value::Table(t) => leaves(&format!("{key}."), t, out),
                v => out.push((key, v.to_string())),
            }
        }
    }

    #[test]
    fn keys_table_lists_every_field_with_its_default() {
        let table = toml::Table::try_from(Config::default()).unwrap();
        let mut have = Vec::new();
        leaves("", &table, &mut have);
        have.sort();
        let mut listed: Vec<(String, String)> = KEYS
            .iter()
            .map(|(k, d, _)| (k.to_string(), d.to_string()))
            .collect();
        listed.sort();
        assert_eq!(listed, have, "config::KEYS is out of step with Config");
    }

    #[test]
    fn keys_table_defaults_parse_back() {
        for (key, default, desc) in KEYS {
            let text = match key.split_once('.') {
                Some((t, k)) => format!("[{t}]\n{k} = {default}\n"),
                None => format!("{key} = {default}\n"),
            };
            Config::parse(&text).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(!desc.is_empty() && !desc.contains('\n'), "{key}");
        }
    }
}
