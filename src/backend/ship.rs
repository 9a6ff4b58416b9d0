//! The template step both remote backends share: find the bundle's template on the node's
//! storage, packing the rootfs only when this host has not packed that exact rootfs (or image)
//! before (its key names a known digest) or when the storage lacks it, and uploading it once.

use std::path::Path;

use super::BackendError;
use crate::vztmpl::{self, Origin, Packed};

/// The volid of the first template a key names (a digest this host remembered) that `store`
/// still has.
fn cached<'a>(
    store: &impl TemplateStore,
    keys: impl Iterator<Item = &'a String>,
) -> Result<Option<String>, BackendError> {
    for sha in keys.filter_map(|k| vztmpl::known_digest(k)) {
        let name = vztmpl::name_for(&sha);
        if store.has(&name)? {
            log::debug!("{name}: known rootfs, cached on {}", store.place());
            return Ok(Some(format!("{}:vztmpl/{name}", store.storage())));
        }
    }
    Ok(None)
}

/// The template of image `id` with `init` this host imported before, if `store` still has it.
pub(crate) fn imported(
    store: &impl TemplateStore,
    id: &str,
    init: &Path,
) -> Result<Option<String>, BackendError> {
    match vztmpl::image_key(id, init) {
        Ok(key) => cached(store, std::iter::once(&key)),
        Err(_) => Ok(None),
    }
}

/// A storage on one node that holds templates.
pub(crate) trait TemplateStore {
    /// `node` or host, for the upload lock and messages.
    fn place(&self) -> String;
    fn storage(&self) -> &str;
    /// Whether the storage has template `name`.
    fn has(&self, name: &str) -> Result<bool, BackendError>;
    fn put(&self, name: &str, packed: &Packed) -> Result<(), BackendError>;
}

/// The volid of the template for `rootfs` + `init` on `store`, uploaded if missing. A digest
/// this host packed before is found by the image's key (`origin` names one) and then by the
/// rootfs's metadata; after packing it is remembered under the image's key only for the image
/// itself (`Origin::Image`), so a bundle's own rootfs never stands in for its image.
pub(crate) fn template(
    store: &impl TemplateStore,
    rootfs: &Path,
    init: &Path,
    origin: Origin,
) -> Result<String, BackendError> {
    let volid = |name: &str| format!("{}:vztmpl/{name}", store.storage());
    let image_key = match origin {
        Origin::FromImage(id) | Origin::Image(id) => vztmpl::image_key(id, init).ok(),
        Origin::Dir => None,
    };
    let key = match origin {
        Origin::Image(_) => image_key.clone(),
        _ => vztmpl::metadata_key(rootfs, init).ok(),
    };
    let keys = image_key
        .iter()
        .chain(key.iter().filter(|k| Some(*k) != image_key.as_ref()));
    if let Some(v) = cached(store, keys)? {
        return Ok(v);
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
