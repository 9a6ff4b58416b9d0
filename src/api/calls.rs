//! Typed calls the backend needs, on top of `get`. Numbers are read leniently (lenient.rs).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::lenient;
use super::{ApiError, Client};

/// One entry of `GET /nodes`. Offline nodes lack the load figures; they read as 0.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeInfo {
    pub node: String,
    /// `online`, `offline` or `unknown`.
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "lenient::de_f64")]
    pub cpu: f64,
    #[serde(default, deserialize_with = "lenient::de_u64")]
    pub maxcpu: u64,
    #[serde(default, deserialize_with = "lenient::de_u64")]
    pub mem: u64,
    #[serde(default, deserialize_with = "lenient::de_u64")]
    pub maxmem: u64,
    #[serde(default, deserialize_with = "lenient::de_opt_string")]
    pub ssl_fingerprint: Option<String>,
}

/// `GET /nodes/{node}/lxc/{vmid}/status/current`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CtStatusInfo {
    /// `running` or `stopped`.
    pub status: String,
    #[serde(default, deserialize_with = "lenient::de_opt_u32")]
    pub vmid: Option<u32>,
    #[serde(default, deserialize_with = "lenient::de_opt_string")]
    pub name: Option<String>,
    /// Host pid of the CT's init, present while it runs.
    #[serde(default, deserialize_with = "lenient::de_opt_i64")]
    pub pid: Option<i64>,
    #[serde(default, deserialize_with = "lenient::de_u64")]
    pub uptime: u64,
    #[serde(default, deserialize_with = "lenient::de_opt_string")]
    pub lock: Option<String>,
}

/// One volume of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StorageItem {
    /// `local:vztmpl/alpine.tar.xz`
    pub volid: String,
    #[serde(default, deserialize_with = "lenient::de_u64")]
    pub size: u64,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub content: String,
}

fn typed<T: DeserializeOwned>(path: &str, data: Value) -> Result<T, ApiError> {
    serde_json::from_value(data).map_err(|e| ApiError::BadResponse {
        method: "GET".into(),
        path: path.to_string(),
        msg: e.to_string(),
    })
}

/// Parse `GET /cluster/nextid`'s `data` (a string in Proxmox, a number tolerated).
pub fn parse_next_id(data: &Value) -> Option<u32> {
    lenient::as_u32(data)
}

/// RAM and swap in MiB from `GET /nodes/{node}/status`'s `data` (`memory.total`,
/// `swap.total` in bytes).
pub fn parse_node_memory(data: &Value) -> Option<(u64, u64)> {
    let total = |k: &str| lenient::as_u64(data.get(k)?.get("total")?);
    Some((total("memory")? >> 20, total("swap")? >> 20))
}

/// `(storage, content types)` of `GET /nodes/{node}/storage`'s `data`; disabled storages are
/// listed without content (Proxmox cannot put anything there).
pub fn parse_node_storages(data: &Value) -> Vec<(String, Vec<String>)> {
    let Some(list) = data.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|s| {
            let id = s.get("storage")?.as_str()?.to_string();
            let enabled = s
                .get("enabled")
                .is_none_or(|e| lenient::as_u32(e) != Some(0));
            let content = s
                .get("content")
                .and_then(Value::as_str)
                .filter(|_| enabled)
                .unwrap_or_default()
                .split(',')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect();
            Some((id, content))
        })
        .collect()
}

impl Client {
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        let path = "/nodes";
        typed(path, self.get(path, &[])?)
    }

    /// `GET /cluster/resources`, optionally of one `type` (`vm`, `storage`, `node`, `sdn`).
    pub fn cluster_resources(&self, kind: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let path = "/cluster/resources";
        let query: Vec<(&str, String)> =
            kind.map(|k| ("type", k.to_string())).into_iter().collect();
        typed(path, self.get(path, &query)?)
    }

    /// A VMID that was free when asked (another client may take it before we create).
    pub fn next_id(&self) -> Result<u32, ApiError> {
        let path = "/cluster/nextid";
        let data = self.get(path, &[])?;
        parse_next_id(&data).ok_or_else(|| ApiError::BadResponse {
            method: "GET".into(),
            path: path.into(),
            msg: format!("expected a VMID, got {data}"),
        })
    }

    pub fn ct_status(&self, node: &str, vmid: impl Into<u32>) -> Result<CtStatusInfo, ApiError> {
        let path = format!("/nodes/{node}/lxc/{}/status/current", vmid.into());
        typed(&path, self.get(&path, &[])?)
    }

    /// The CT config with pending changes applied, as Proxmox returns it.
    pub fn ct_config(&self, node: &str, vmid: impl Into<u32>) -> Result<Value, ApiError> {
        self.get(&format!("/nodes/{node}/lxc/{}/config", vmid.into()), &[])
    }

    /// The node's RAM and swap in MiB (`GET /nodes/{node}/status`).
    pub fn node_memory(&self, node: &str) -> Result<Option<(u64, u64)>, ApiError> {
        let data = self.get(&format!("/nodes/{node}/status"), &[])?;
        Ok(parse_node_memory(&data))
    }

    /// `GET /nodes/{node}/storage`: every storage the node sees, with its content types.
    pub fn node_storages(&self, node: &str) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        let path = format!("/nodes/{node}/storage");
        let data = self.get(&path, &[])?;
        Ok(parse_node_storages(&data))
    }

    /// Volumes of one content type (e.g. `vztmpl`) on a storage.
    pub fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: &str,
    ) -> Result<Vec<StorageItem>, ApiError> {
        let path = format!("/nodes/{node}/storage/{storage}/content");
        typed(&path, self.get(&path, &[("content", content.to_string())])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(body: &str) -> Value {
        let mut v: Value = serde_json::from_str(body).unwrap();
        v["data"].take()
    }

    #[test]
    fn nodes_with_string_numbers_and_offline_entries() {
        let d = data(
            r#"{"data":[{"node":"pve1","status":"online","cpu":0.0312,"maxcpu":8,"mem":"3221225472","maxmem":16777216000,"uptime":1234,"level":"","ssl_fingerprint":"AA:BB"},{"node":"pve2","status":"offline"}]}"#,
        );
        let nodes: Vec<NodeInfo> = typed("/nodes", d).unwrap();
        assert_eq!(nodes[0].node, "pve1");
        assert_eq!(nodes[0].mem, 3_221_225_472);
        assert_eq!(nodes[0].maxcpu, 8);
        assert!((nodes[0].cpu - 0.0312).abs() < 1e-9);
        assert_eq!(nodes[1].status, "offline");
        assert_eq!((nodes[1].maxmem, nodes[1].cpu), (0, 0.0));
    }

    #[test]
    fn ct_status_running_and_stopped() {
        let running = data(
            r#"{"data":{"status":"running","vmid":100,"name":"oci-abc","pid":"4711","uptime":12,"cpus":"0.5","ha":{"managed":0},"type":"lxc"}}"#,
        );
        let s: CtStatusInfo = typed("/x", running).unwrap();
        assert_eq!(s.status, "running");
        assert_eq!(s.pid, Some(4711));
        assert_eq!(s.vmid, Some(100));
        assert_eq!(s.name.as_deref(), Some("oci-abc"));
        let stopped =
            data(r#"{"data":{"status":"stopped","vmid":"101","uptime":0,"lock":"create"}}"#);
        let s: CtStatusInfo = typed("/x", stopped).unwrap();
        assert_eq!(
            (s.pid, s.vmid, s.lock.as_deref()),
            (None, Some(101), Some("create"))
        );
        let e = typed::<CtStatusInfo>("/nodes/pve1/lxc/100/status/current", Value::Null)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("GET /nodes/pve1/lxc/100/status/current: unexpected response: "),
            "{e}"
        );
    }

    #[test]
    fn next_id_comes_as_a_string() {
        assert_eq!(parse_next_id(&data(r#"{"data":"123"}"#)), Some(123));
        assert_eq!(parse_next_id(&data(r#"{"data":104}"#)), Some(104));
        assert_eq!(parse_next_id(&data(r#"{"data":null}"#)), None);
    }

    #[test]
    fn node_memory_in_mib() {
        let d = data(
            r#"{"data": {"memory": {"total": 16710107136, "used": 1, "free": 2},
            "swap": {"total": "8589930496", "used": 0}, "uptime": 5}}"#,
        );
        assert_eq!(parse_node_memory(&d), Some((15936, 8191)));
        assert_eq!(
            parse_node_memory(&data(r#"{"data": {"memory": {}}}"#)),
            None
        );
    }

    #[test]
    fn node_storages_with_content() {
        let d = data(
            r#"{"data": [{"storage": "local", "type": "dir", "content": "iso,vztmpl,backup", "enabled": 1},
            {"storage": "local-lvm", "type": "lvmthin", "content": "rootdir,images"},
            {"storage": "off", "content": "rootdir", "enabled": "0"}]}"#,
        );
        let s = parse_node_storages(&d);
        assert_eq!(
            s[0],
            (
                "local".into(),
                vec!["iso".into(), "vztmpl".into(), "backup".into()]
            )
        );
        assert_eq!(s[1].1, ["rootdir", "images"]);
        assert!(s[2].1.is_empty(), "a disabled storage takes nothing");
    }

    #[test]
    fn storage_content_items() {
        let d = data(
            r#"{"data":[{"volid":"local:vztmpl/alpine-3.20.tar.xz","format":"txz","content":"vztmpl","size":"3145728","ctime":1700000000}]}"#,
        );
        let items: Vec<StorageItem> = typed("/x", d).unwrap();
        assert_eq!(items[0].volid, "local:vztmpl/alpine-3.20.tar.xz");
        assert_eq!(items[0].size, 3_145_728);
        assert_eq!(items[0].format, "txz");
    }
}
