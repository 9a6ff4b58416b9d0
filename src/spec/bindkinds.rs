//! The caller's side of `MapContext::bind_kinds`: which bind sources to look at, and a helper that
//! looks. This is the only part of `spec` that touches the filesystem; `map` never calls it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::mounts::{bind_source, is_bind};
use super::BindKind;

/// The host paths of every bind-mount source in config.json, as `map` looks them up in
/// `MapContext::bind_kinds` (absolute as given, or joined to `bundle` when relative).
pub fn bind_sources(spec: &Spec, bundle: &Path) -> Vec<PathBuf> {
    spec.mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|m| is_bind(m))
        .filter_map(|m| bind_source(m, bundle))
        .collect()
}

/// `stat(2)` (following symlinks, as mount does) every bind source; missing ones are left out,
/// which `map` reports as `MapError::Invalid` naming `mounts[i].source`.
pub fn bind_kinds(spec: &Spec, bundle: &Path) -> BTreeMap<PathBuf, BindKind> {
    bind_sources(spec, bundle)
        .into_iter()
        .filter_map(|p| {
            let md = std::fs::metadata(&p).ok()?;
            Some((
                p,
                if md.is_dir() {
                    BindKind::Dir
                } else {
                    BindKind::File
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn lists_and_stats_bind_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        let spec = spec_with(&format!(
            r#"{{"mounts": [{{"destination": "/d", "type": "bind", "source": "{d}"}},
            {{"destination": "/f", "source": "{f}", "options": ["rbind"]}},
            {{"destination": "/rel", "type": "bind", "source": "sub"}},
            {{"destination": "/gone", "type": "bind", "source": "/nonexistent/x"}},
            {{"destination": "/t", "type": "tmpfs", "source": "tmpfs"}}]}}"#,
            d = dir.path().display(),
            f = file.display()
        ));
        let bundle = Path::new("/b");
        assert_eq!(
            bind_sources(&spec, bundle),
            [
                dir.path().to_path_buf(),
                file.clone(),
                PathBuf::from("/b/sub"),
                PathBuf::from("/nonexistent/x")
            ]
        );
        let kinds = bind_kinds(&spec, bundle);
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds[dir.path()], BindKind::Dir);
        assert_eq!(kinds[&file], BindKind::File);
    }
}
