//! Privileges of the API token (`pve-sim api --acl FILE`) and Proxmox's checks of them.
//!
//! The file gives the token's *effective* privileges per ACL path, as if every entry had
//! `propagate=1` (for a privilege-separated token that is already the intersection with its
//! user's). A path's privileges are those of the longest ACL path that is a prefix of it, the
//! deeper entry replacing the shallower one (pve-access-control src/PVE/AccessControl.pm
//! `roles`). Without `--acl` the token has every privilege everywhere, like an `Administrator`.
//! Refusals are `403 Permission check failed (<path>, <priv>)` (pve-common src/PVE/Exception.pm
//! `raise_perm_exc`, pve-access-control src/PVE/RPCEnvironment.pm `check`/`check_any`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::reply::ApiError;

/// Every privilege Proxmox knows (pve-access-control src/PVE/AccessControl.pm `$privgroups`,
/// plus `Permissions.Modify`): what `Administrator` holds.
pub const ALL: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// The paths `GET /access/permissions` always looks at (pve-access-control
/// src/PVE/RPCEnvironment.pm `get_effective_permissions`), besides those with an ACL entry.
const TOP_PATHS: &[&str] = &[
    "/",
    "/access",
    "/access/groups",
    "/nodes",
    "/pool",
    "/sdn",
    "/storage",
    "/vms",
];

/// The token's privileges: `None` is every privilege on every path.
#[derive(Debug, Clone, Default)]
pub struct Acl(Option<BTreeMap<String, BTreeSet<String>>>);

impl Acl {
    /// Every privilege everywhere (no `--acl`).
    pub fn all() -> Acl {
        Acl(None)
    }

    /// `{"<path>": ["Priv.Name", ...], ...}`; unknown privileges and bad paths are refused.
    pub fn load(file: &Path) -> Result<Acl, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        Acl::parse(&text).map_err(|e| format!("{}: {e}", file.display()))
    }

    pub fn parse(text: &str) -> Result<Acl, String> {
        let v: BTreeMap<String, Vec<String>> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut map = BTreeMap::new();
        for (path, privs) in v {
            let norm = normalize(&path).ok_or(format!("invalid ACL path '{path}'"))?;
            for p in &privs {
                if !ALL.contains(&p.as_str()) {
                    return Err(format!("invalid privilege '{p}'"));
                }
            }
            map.insert(norm, privs.into_iter().collect());
        }
        Ok(Acl(Some(map)))
    }

    /// The privileges on `path`: the deepest ACL entry on it or above it wins.
    pub fn privs(&self, path: &str) -> BTreeSet<String> {
        let Some(map) = &self.0 else {
            return ALL.iter().map(|p| p.to_string()).collect();
        };
        let Some(path) = normalize(path) else {
            return BTreeSet::new();
        };
        let mut found = map.get("/").cloned().unwrap_or_default();
        let mut prefix = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            prefix.push('/');
            prefix.push_str(comp);
            if let Some(p) = map.get(&prefix) {
                found = p.clone();
            }
        }
        found
    }

    pub fn has(&self, path: &str, privilege: &str) -> bool {
        self.privs(path).contains(privilege)
    }

    /// `check`: every one of `privs` on `path`.
    pub fn check(&self, path: &str, privs: &[&str]) -> Result<(), ApiError> {
        let have = self.privs(path);
        match privs.iter().find(|p| !have.contains(**p)) {
            Some(p) => Err(denied(&format!("{path}, {p}"))),
            None => Ok(()),
        }
    }

    /// `check_any`: at least one of `privs` on `path`.
    pub fn check_any(&self, path: &str, privs: &[&str]) -> Result<(), ApiError> {
        let have = self.privs(path);
        if privs.iter().any(|p| have.contains(*p)) {
            Ok(())
        } else {
            Err(denied(&format!("{path}, {}", privs.join("|"))))
        }
    }

    /// The effective privileges per path, as `GET /access/permissions` gives them without
    /// `path`: the top-level paths and every ACL path, those without privileges left out.
    pub fn effective(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut paths: BTreeSet<String> = TOP_PATHS.iter().map(|p| p.to_string()).collect();
        if let Some(map) = &self.0 {
            paths.extend(map.keys().cloned());
        }
        paths
            .into_iter()
            .map(|p| {
                let privs = self.privs(&p);
                (p, privs)
            })
            .filter(|(_, privs)| !privs.is_empty())
            .collect()
    }
}

/// `raise_perm_exc`: 403 with `Permission check failed[ (<what>)]`.
pub fn denied(what: &str) -> ApiError {
    if what.is_empty() {
        ApiError::new(403, "Permission check failed")
    } else {
        ApiError::new(403, format!("Permission check failed ({what})"))
    }
}

/// `normalize_path` of pve-access-control src/PVE/AccessControl.pm: repeated and trailing
/// slashes dropped, a leading one added; `None` for characters an ACL path cannot have.
pub fn normalize(path: &str) -> Option<String> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let norm = format!("/{}", comps.join("/"));
    norm.chars()
        .all(|c| c.is_ascii_alphanumeric() || "./-_".contains(c))
        .then_some(norm)
}

/// The schema entry's `permissions.check` (`["perm", path, [privs], "any", 1]`, `and`, `or`),
/// with `{var}` taken from `params` (pve-access-control src/PVE/RPCEnvironment.pm
/// `exec_api2_perm_check`). Entries with `user: all` pass; the handler checks further.
pub fn check_entry(
    acl: &Acl,
    check: &Value,
    params: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if check.is_null() {
        return Ok(());
    }
    let items = check.as_array().cloned().unwrap_or_default();
    match items.first().and_then(Value::as_str) {
        Some("and") => {
            for sub in &items[1..] {
                check_entry(acl, sub, params)?;
            }
            Ok(())
        }
        Some("or") => {
            if items[1..]
                .iter()
                .any(|sub| check_entry(acl, sub, params).is_ok())
            {
                Ok(())
            } else {
                Err(denied(""))
            }
        }
        Some("perm") => {
            let template = items.get(1).and_then(Value::as_str).unwrap_or("/");
            let privs: Vec<&str> = items
                .get(2)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let opts = &items[3.min(items.len())..];
            let opt = |name: &str| {
                opts.chunks(2)
                    .find(|kv| kv[0].as_str() == Some(name))
                    .and_then(|kv| kv.get(1).cloned())
            };
            if let Some(req) = opt("require_param").and_then(|v| v.as_str().map(String::from)) {
                if !params.contains_key(&req) {
                    return Err(denied(""));
                }
            }
            let path = normalize(&replace_vars(template, params)).unwrap_or_default();
            let any = opt("any").is_some_and(|v| v.as_i64() == Some(1) || v == Value::Bool(true));
            if any {
                acl.check_any(&path, &privs)
            } else {
                acl.check(&path, &privs)
            }
        }
        _ => Ok(()),
    }
}

/// `PVE::Tools::template_replace`: `{name}` → the parameter's value.
fn replace_vars(template: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                let name = &rest[start + 1..start + end];
                out.push_str(params.get(name).map(String::as_str).unwrap_or(""));
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `GET /access/permissions` as JSON: `{path: {priv: 1}}` (1: the privilege propagates).
pub fn as_json(map: &BTreeMap<String, BTreeSet<String>>) -> Value {
    let obj: serde_json::Map<String, Value> = map
        .iter()
        .map(|(path, privs)| {
            let p: serde_json::Map<String, Value> =
                privs.iter().map(|x| (x.clone(), Value::from(1))).collect();
            (path.clone(), Value::Object(p))
        })
        .collect();
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn acl() -> Acl {
        Acl::parse(
            r#"{"/": ["Sys.Audit"], "/vms": ["VM.Audit", "VM.Allocate"],
                "/vms/150": ["VM.Audit"], "/storage/local": ["Datastore.Audit"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn deepest_entry_wins_and_propagates() {
        let a = acl();
        assert!(a.has("/vms/100", "VM.Allocate"));
        assert!(!a.has("/vms/150", "VM.Allocate"));
        assert!(a.has("/vms/150", "VM.Audit"));
        assert!(a.has("/nodes/n1", "Sys.Audit"));
        assert!(!a.has("/storage/local", "Sys.Audit"));
        assert!(a.has("//storage/local/", "Datastore.Audit"));
        assert!(Acl::all().has("/sdn/zones/localnetwork/vmbr0", "SDN.Use"));
    }

    #[test]
    fn refusals_in_proxmox_wording() {
        let a = acl();
        let e = a.check("/vms/150", &["VM.Allocate"]).unwrap_err();
        assert_eq!(
            (e.code, e.msg.as_str()),
            (403, "Permission check failed (/vms/150, VM.Allocate)")
        );
        let e = a
            .check_any(
                "/storage/x",
                &["Datastore.Audit", "Datastore.AllocateSpace"],
            )
            .unwrap_err();
        assert_eq!(
            e.msg,
            "Permission check failed (/storage/x, Datastore.Audit|Datastore.AllocateSpace)"
        );
        assert!(Acl::parse(r#"{"/": ["VM.Bogus"]}"#).is_err());
        assert!(Acl::parse(r#"{"/a b": []}"#).is_err());
    }

    #[test]
    fn schema_checks_with_path_variables() {
        let a = acl();
        let p = BTreeMap::from([("vmid".to_string(), "150".to_string())]);
        let chk = json!(["perm", "/vms/{vmid}", ["VM.Allocate"]]);
        assert!(check_entry(&a, &chk, &p).is_err());
        let any = json!(["perm", "/vms/{vmid}", ["VM.Allocate", "VM.Audit"], "any", 1]);
        assert!(check_entry(&a, &any, &p).is_ok());
        let and = json!([
            "and",
            ["perm", "/", ["Sys.Audit"]],
            ["perm", "/vms/{vmid}", ["VM.Audit"]]
        ]);
        assert!(check_entry(&a, &and, &p).is_ok());
        let req = json!([
            "perm",
            "/pool/{pool}",
            ["VM.Allocate"],
            "require_param",
            "pool"
        ]);
        assert!(check_entry(&a, &req, &p).is_err());
    }

    #[test]
    fn effective_tree() {
        let e = acl().effective();
        assert_eq!(e["/vms/150"], BTreeSet::from(["VM.Audit".to_string()]));
        assert!(e["/access"].contains("Sys.Audit"));
        assert!(!Acl::parse(r#"{"/vms": ["VM.Audit"]}"#)
            .unwrap()
            .effective()
            .contains_key("/"));
        assert_eq!(
            as_json(&e)["/vms"],
            json!({"VM.Allocate": 1, "VM.Audit": 1})
        );
    }
}
