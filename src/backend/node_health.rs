//! Nodes found failed: a container's shim marks its node lost when the node stopped answering
//! for `cluster.node_timeout` (src/remote/proxy.rs), in `<root>/.nodes/<node>.lost` under the
//! state root. Until a connection to the node works again, `delete` does not wait for the node
//! (it leaves the destroy to `gc`), and the shim does not try to stop the CT there.

use std::path::{Path, PathBuf};

fn mark(root: &Path, node: &str) -> PathBuf {
    // A node name is a DNS label (pve-node); anything else never names a file outside.
    let safe: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join(".nodes").join(format!("{safe}.lost"))
}

/// Record that `node` stopped answering (no-op without a known state root).
pub fn mark_lost(node: &str) {
    let Some(root) = super::node_addr::state_root() else {
        return;
    };
    let path = mark(root, node);
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(root));
    let now = super::nodever::now().to_string();
    if let Err(e) = crate::sys::fs::write_atomic(&path, now.as_bytes(), 0o644) {
        log::warn!("{}: {e}", path.display());
    }
}

/// Whether `node` was found failed and has not answered since.
pub fn is_lost(root: &Path, node: &str) -> bool {
    mark(root, node).exists()
}

/// `node` answered again.
pub fn answered(node: &str) {
    if let Some(root) = super::node_addr::state_root() {
        let _ = std::fs::remove_file(mark(root, node));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mark_stays_under_the_root() {
        let p = super::mark(std::path::Path::new("/r"), "../x/y");
        assert_eq!(p, std::path::Path::new("/r/.nodes/.._x_y.lost"));
    }
}
