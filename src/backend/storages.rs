//! The two storages a remote CT needs, checked before anything is uploaded or created: a stock
//! node's `local` (a dir storage) holds templates but no CT volumes, its `local-lvm` (lvmthin)
//! the other way round, and Proxmox's own refusal comes only after an upload or half a create
//! ("storage 'local' does not support container directories", pve-container
//! src/PVE/API2/LXC.pm; pve-storage src/PVE/API2/Storage/Status.pm for uploads).

use crate::config::Config;

/// One storage, the content type the runtime puts there and the config key that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub storage: String,
    pub content: &'static str,
    /// The config key, or for a volume its annotation (`annotations["..."]`).
    pub key: String,
    /// What the runtime keeps there, singular (`template`, `CT volume`), for messages.
    pub role: &'static str,
}

/// `storage` for templates (`vztmpl`), `rootfs_storage` for CT volumes (`rootdir`).
pub fn needs(cfg: &Config) -> [Need; 2] {
    [
        Need {
            storage: cfg.storage.clone(),
            content: "vztmpl",
            key: "storage".into(),
            role: "template",
        },
        Need {
            storage: cfg.rootfs_storage.clone(),
            content: "rootdir",
            key: "rootfs_storage".into(),
            role: "CT volume",
        },
    ]
}

/// What the node says about its storages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Every storage with its content types (the API's `GET /nodes/{node}/storage`).
    Full(Vec<(String, Vec<String>)>),
    /// Only the storages that allow each needed content type (`pvesm status --content <type>`,
    /// which cannot tell a missing storage from one without the type).
    PerContent(Vec<(&'static str, Vec<String>)>),
}

/// The first need the node does not meet, as one line naming the storage and the content type.
pub(crate) fn check(listing: &Listing, needs: &[Need], node: &str) -> Result<(), String> {
    for n in needs {
        let key = &n.key;
        let lacks = |extra: &str| {
            if key.starts_with("annotations[") {
                return format!(
                    "config.json: {key}: storage '{}' on node {node} does not allow content type '{}'{extra}, needed for {}s",
                    n.storage, n.content, n.role
                );
            }
            format!(
                "storage '{}' on node {node} does not allow content type '{}'{extra}, needed for {}s (config key {key})",
                n.storage, n.content, n.role
            )
        };
        match listing {
            Listing::Full(all) => match all.iter().find(|(id, _)| *id == n.storage) {
                None => {
                    return Err(format!(
                        "storage '{0}' does not exist on node {node} or the token may not see it (Datastore.Audit on /storage/{0}), needed for {1}s (config key {key})",
                        n.storage, n.role
                    ))
                }
                Some((_, content)) if !content.iter().any(|c| c == n.content) => {
                    return Err(lacks(""))
                }
                Some(_) => {}
            },
            Listing::PerContent(lists) => {
                let allowed = lists
                    .iter()
                    .find(|(c, _)| *c == n.content)
                    .is_some_and(|(_, ids)| ids.contains(&n.storage));
                if !allowed {
                    return Err(lacks(" (or does not exist)"));
                }
            }
        }
    }
    Ok(())
}

/// Storage names of a `pvesm status` table (header line first).
pub(crate) fn status_names(table: &str) -> Vec<String> {
    table
        .lines()
        .skip_while(|l| !l.starts_with("Name"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock() -> Config {
        Config::default()
    }

    #[test]
    fn defaults_are_a_stock_node() {
        let n = needs(&stock());
        assert_eq!((n[0].storage.as_str(), n[0].content), ("local", "vztmpl"));
        assert_eq!(
            (n[1].storage.as_str(), n[1].content),
            ("local-lvm", "rootdir")
        );
        let node = Listing::Full(vec![
            (
                "local".into(),
                vec!["iso".into(), "vztmpl".into(), "backup".into()],
            ),
            ("local-lvm".into(), vec!["rootdir".into(), "images".into()]),
        ]);
        assert_eq!(check(&node, &n, "pve1"), Ok(()));
    }

    #[test]
    fn missing_content_type_or_storage_is_one_line() {
        let mut cfg = stock();
        cfg.rootfs_storage = "local".into();
        let node = Listing::Full(vec![("local".into(), vec!["iso".into(), "vztmpl".into()])]);
        let e = check(&node, &needs(&cfg), "pve1").unwrap_err();
        assert!(
            e.starts_with("storage 'local' on node pve1 does not allow content type 'rootdir'"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        cfg.storage = "nfs".into();
        let e = check(&node, &needs(&cfg), "pve1").unwrap_err();
        assert!(
            e.starts_with("storage 'nfs' does not exist on node pve1"),
            "{e}"
        );
    }

    #[test]
    fn per_content_listing_from_pvesm_status() {
        let table = "Name             Type     Status           Total            Used       Available        %\n\
                     local             dir     active        98497780        10000000        88497780   10.15%\n";
        assert_eq!(status_names(table), ["local"]);
        let node = Listing::PerContent(vec![
            ("vztmpl", status_names(table)),
            ("rootdir", vec!["local-lvm".into()]),
        ]);
        assert_eq!(check(&node, &needs(&stock()), "n"), Ok(()));
        let node = Listing::PerContent(vec![("vztmpl", vec!["local".into()]), ("rootdir", vec![])]);
        let e = check(&node, &needs(&stock()), "n").unwrap_err();
        assert!(
            e.starts_with(
                "storage 'local-lvm' on node n does not allow content type 'rootdir' (or does not exist)"
            ),
            "{e}"
        );
    }
}
