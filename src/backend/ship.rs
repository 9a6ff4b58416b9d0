//! The template step both remote backends share: find the bundle's template on the node's
//! storage, packing the rootfs only when this host has not packed that exact rootfs before (its
//! metadata key names a known digest) or when the storage lacks it, and uploading it once.

use std::path::Path;

use super::BackendError;
use crate::vztmpl::{self, Packed};

/// A storage on one node that holds templates.
pub(crate) trait TemplateStore {
    /// `node` or host, for the upload lock and messages.
    fn place(&self) -> String;
    fn storage(&self) -> &str;
    /// Whether the storage has template `name`.
    fn has(&self, name: &str) -> Result<bool, BackendError>;
    fn put(&self, name: &str, packed: &Packed) -> Result<(), BackendError>;
}

/// The volid of the template for `rootfs` + `init` on `store`, uploaded if missing.
pub(crate) fn template(
    store: &impl TemplateStore,
    rootfs: &Path,
    init: &Path,
) -> Result<String, BackendError> {
    let volid = |name: &str| format!("{}:vztmpl/{name}", store.storage());
    let key = vztmpl::metadata_key(rootfs, init).ok();
    if let Some(sha) = key.as_deref().and_then(vztmpl::known_digest) {
        let name = vztmpl::name_for(&sha);
        if store.has(&name)? {
            log::debug!("{name}: known rootfs, cached on {}", store.place());
            return Ok(volid(&name));
        }
    }
    let packed = vztmpl::pack(rootfs, init, &std::env::temp_dir())
        .map_err(|e| BackendError::Other(e.to_string()))?;
    if let Some(key) = &key {
        vztmpl::remember(key, &packed.sha256);
    }
    let name = packed.name();
    let _turn = vztmpl::upload_lock(&store.place(), store.storage(), &name);
    if store.has(&name)? {
        log::debug!("{name}: cached on {}", store.place());
    } else {
        store.put(&name, &packed)?;
        log::info!(
            "{}: uploaded {} bytes to {}",
            volid(&name),
            packed.size,
            store.place()
        );
    }
    Ok(volid(&name))
}
