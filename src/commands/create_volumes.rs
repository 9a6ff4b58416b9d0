//! `create`'s part in volumes (docs/storage.md): the container's `org.proxmox.lxcri/volume.*`
//! annotations become `mpN` volumes allocated by `pct create` on their storages, replacing a
//! bind mount at the same path, and `org.proxmox.lxcri/rootfs-size` the size of the CT's root
//! volume. Remote backends only: the pct backend binds the bundle's rootfs and mounts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::backend::storages::Need;
use crate::mapping::{volume_requests, Volumes};
use crate::pve::CtConfig;

/// The volumes the annotations ask for, refused with one line naming the annotation when bad
/// or when the backend is local.
pub fn requested(
    annotations: &BTreeMap<String, String>,
    remote: bool,
    config_path: &Path,
) -> anyhow::Result<Volumes> {
    let volumes = volume_requests(annotations).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}",
            config_path.display(),
            e.to_string().trim_start_matches("config.json: ")
        )
    })?;
    if let (false, Some(a)) = (remote, volumes.first_annotation()) {
        bail!(
            "{}: annotations[\"{a}\"]: volumes need the ssh or api backend; with the pct backend use a bind mount",
            config_path.display()
        );
    }
    Ok(volumes)
}

/// The storages the volumes need to allow CT volumes (`rootdir`), each named by its annotation.
pub fn needs(volumes: &Volumes) -> Vec<Need> {
    volumes
        .volumes
        .iter()
        .map(|v| Need {
            storage: v.storage.clone(),
            content: "rootdir",
            key: format!("annotations[\"{}\"]", v.annotation()),
            role: "volume",
        })
        .collect()
}

/// Puts the volumes into the CT config as `mp0`, `mp1`, ... (sorted by name) and the root size
/// as `rootfs` on `rootfs_storage`; bind copies at a volume's path are dropped (the volume
/// replaces them) and returned for a log line.
pub fn apply(
    ct: &mut CtConfig,
    copies: &mut Vec<(PathBuf, String)>,
    volumes: &Volumes,
    rootfs_storage: &str,
) -> Vec<String> {
    for (i, v) in volumes.volumes.iter().enumerate() {
        ct.options.insert(format!("mp{i}"), v.mp_value());
    }
    if let Some(size) = &volumes.rootfs_size {
        ct.options
            .insert("rootfs".into(), format!("{rootfs_storage}:{size}"));
    }
    let mut replaced = Vec::new();
    copies.retain(|(_, dest)| {
        let keep = !crate::mapping::volume_replaces(volumes, dest);
        if !keep {
            replaced.push(dest.clone());
        }
        keep
    });
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn volumes_become_mount_points_and_replace_binds() {
        let a = ann(&[
            ("org.proxmox.lxcri/volume.b", "ct:2,mp=/b,backup=1"),
            ("org.proxmox.lxcri/volume.a", "local-lvm:1,mp=/data"),
            ("org.proxmox.lxcri/rootfs-size", "3"),
        ]);
        let v = requested(&a, true, Path::new("/b/config.json")).unwrap();
        let mut ct = CtConfig::default();
        let mut copies = vec![
            (PathBuf::from("/h/data"), "/data".to_string()),
            (PathBuf::from("/h/etc"), "/etc/x".to_string()),
        ];
        let replaced = apply(&mut ct, &mut copies, &v, "local-lvm");
        assert_eq!(ct.options["mp0"], "local-lvm:1,mp=/data");
        assert_eq!(ct.options["mp1"], "ct:2,mp=/b,backup=1");
        assert_eq!(ct.options["rootfs"], "local-lvm:3");
        assert_eq!(replaced, vec!["/data".to_string()]);
        assert_eq!(copies.len(), 1);
        let n = needs(&v);
        assert_eq!(n[1].storage, "ct");
        assert_eq!(n[1].key, "annotations[\"org.proxmox.lxcri/volume.b\"]");
    }

    #[test]
    fn local_backend_and_bad_values_are_one_line() {
        let a = ann(&[("org.proxmox.lxcri/volume.a", "local-lvm:1,mp=/data")]);
        let e = requested(&a, false, Path::new("/b/config.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "/b/config.json: annotations[\"org.proxmox.lxcri/volume.a\"]: volumes need the ssh or api backend; with the pct backend use a bind mount");
        let a = ann(&[("org.proxmox.lxcri/volume.a", "local-lvm:x,mp=/data")]);
        let e = requested(&a, true, Path::new("/b/config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/b/config.json: annotations[\"org.proxmox.lxcri/volume.a\"]: size 'x'"),
            "{e}"
        );
        assert!(requested(&BTreeMap::new(), false, Path::new("/c"))
            .unwrap()
            .is_empty());
    }
}
