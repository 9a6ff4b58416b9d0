//! Storages the remote backends use (the roles are `backend::storages::needs`): templates (the uploaded rootfs
//! needs `vztmpl` content) and CT volumes (`<storage>:<GiB>` needs `rootdir`, pve-container
//! src/PVE/API2/LXC.pm: "storage '…' does not support container directories"). `storage` names
//! the first, `rootfs_storage` the second.

use super::Check;
pub use crate::backend::storages::{needs, Need as Role};

/// What a node reports about one storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageState {
    /// Content types, e.g. `["iso", "vztmpl", "backup"]`.
    pub content: Vec<String>,
    /// Whether `content` is the whole list (else only the types asked about are known).
    pub complete: bool,
    pub active: bool,
    pub enabled: bool,
}

/// The check for `role` on `node`, from what the node reports (`None`: no such storage, or
/// one the token may not see).
pub fn check(role: &Role, node: &str, state: Option<&StorageState>, config_path: &str) -> Check {
    let name = format!("{} storage {} on {node}", role.role, role.storage);
    let Some(st) = state else {
        return Check::fail(
            name,
            format!("storage '{}' does not exist on node {node} (or the token may not see it)", role.storage),
            format!(
                "set {} in {config_path} to a storage with '{}' content (pvesm status --content {}), or add one (pvesm add)",
                role.key, role.content, role.content
            ),
        );
    };
    if !st.content.iter().any(|c| c == role.content) {
        return Check::fail(
            name,
            if st.complete {
                format!(
                    "storage '{}' has no '{}' content (it has {})",
                    role.storage,
                    role.content,
                    if st.content.is_empty() {
                        "none".to_string()
                    } else {
                        st.content.join(",")
                    }
                )
            } else {
                format!(
                    "storage '{}' has no '{}' content",
                    role.storage, role.content
                )
            },
            if st.complete {
                format!(
                    "add the content type: pvesm set {} --content {},{} (or set {} in {config_path} to another storage)",
                    role.storage,
                    st.content.join(","),
                    role.content,
                    role.key
                )
            } else {
                format!(
                    "add '{}' to the content types of storage {} (pvesm set {} --content <its types>,{}; the list replaces the old one), or set {} in {config_path} to another storage",
                    role.content, role.storage, role.storage, role.content, role.key
                )
            },
        );
    }
    if !st.enabled || !st.active {
        return Check::fail(
            name,
            format!(
                "storage '{}' is {}",
                role.storage,
                if st.enabled { "not active" } else { "disabled" }
            ),
            format!(
                "enable and activate it on {node} (pvesm set {} --disable 0; pvesm status)",
                role.storage
            ),
        );
    }
    Check::ok(name, format!("active, content {}", st.content.join(",")))
}

/// The `pct` backend binds the bundle's rootfs: no storage takes part.
pub fn not_used_locally() -> Check {
    Check::ok(
        "storage",
        "not used: the pct backend binds the bundle's rootfs into the CT",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(content: &str, active: bool) -> StorageState {
        StorageState {
            content: content.split(',').map(String::from).collect(),
            active,
            enabled: true,
            complete: true,
        }
    }

    #[test]
    fn roles_need_their_content_type() {
        let mut cfg = crate::config::Config::default();
        assert_eq!(needs(&cfg)[1].storage, "local-lvm");
        // One storage for both, a stock node's `local`: templates yes, CT volumes no.
        cfg.rootfs_storage = "local".into();
        let [t, v] = needs(&cfg);
        let local = st("iso,vztmpl,backup", true);
        assert!(check(&t, "pve1", Some(&local), "/c.toml").ok);
        let c = check(&v, "pve1", Some(&local), "/c.toml");
        assert!(!c.ok);
        assert_eq!(
            c.detail,
            "storage 'local' has no 'rootdir' content (it has iso,vztmpl,backup)"
        );
        assert!(c.fix.unwrap().starts_with(
            "add the content type: pvesm set local --content iso,vztmpl,backup,rootdir"
        ));
        assert!(!check(&t, "pve1", Some(&st("vztmpl", false)), "/c.toml").ok);
        let c = check(&t, "pve1", None, "/c.toml");
        assert!(
            c.detail.contains("does not exist on node pve1"),
            "{}",
            c.detail
        );
    }
}
