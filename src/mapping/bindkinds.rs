//! The caller's side of `MapContext::bind_kinds` and `MapContext::canonical`: which host paths to
//! look at, and helpers that look. This is the only part of `spec` that touches the filesystem;
//! `map` never calls it.

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

/// The rootfs and every bind source with all symlinks resolved (`realpath`), keyed as `map`
/// looks them up: the rootfs by its lexically resolved path, bind sources as [`bind_sources`]
/// lists them. A real node walks these paths without following symlinks and refuses any
/// ("symlink encountered at", pve-container src/PVE/LXC.pm), and CRI-O's sources often sit
/// below `/var/run` (a link to `/run`). Paths that do not resolve are left out.
pub fn host_paths(spec: &Spec, bundle: &Path) -> BTreeMap<PathBuf, PathBuf> {
    let root = spec.root().as_ref().map(|r| {
        (
            super::paths::resolve(bundle, r.path()),
            bundle.join(r.path()),
        )
    });
    root.into_iter()
        .chain(
            bind_sources(spec, bundle)
                .into_iter()
                .map(|p| (p.clone(), p)),
        )
        .filter_map(|(key, p)| Some((key, std::fs::canonicalize(p).ok()?)))
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

    #[test]
    fn host_paths_resolve_every_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("real");
        std::fs::create_dir_all(real.join("bundle/rootfs")).unwrap();
        std::fs::create_dir_all(real.join("vol")).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("vol", real.join("vol-link")).unwrap();
        let link = dir.path().join("link");
        let spec = spec_with(&format!(
            r#"{{"mounts": [{{"destination": "/v", "type": "bind", "source": "{l}/vol-link"}},
            {{"destination": "/gone", "type": "bind", "source": "/nonexistent/x"}}]}}"#,
            l = link.display()
        ));
        let bundle = link.join("bundle");
        let paths = host_paths(&spec, &bundle);
        assert_eq!(paths[&bundle.join("rootfs")], real.join("bundle/rootfs"));
        assert_eq!(paths[&link.join("vol-link")], real.join("vol"));
        assert_eq!(paths.len(), 2, "a missing source is left out: {paths:?}");
    }
}
