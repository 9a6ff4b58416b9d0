//! `create`'s (and `delete`'s) part in volumes (docs/storage.md): the container's
//! `org.proxmox.lxcri/volume.*` annotations become `mpN` volumes allocated by `pct create` on
//! their storages, replacing a bind mount at the same path, and `org.proxmox.lxcri/rootfs-size`
//! the size of the CT's root volume. Remote backends only: the pct backend binds the bundle's
//! rootfs and mounts.
//!
//! Kept volumes (`keep=1`): each CT's description records them
//! (`proxmox-lxcri volume: <key> <name> <path>`). At `delete` the CT is stopped and its
//! description loses the container's id: it becomes the *holder* of its kept volumes. The next
//! container asking for a name gets the volume moved from the holder into its new CT (`pct
//! move-volume --target-vmid`) before it starts; a holder left with none is destroyed. A CT
//! whose description still names a container uses the volume: a second one is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::backend::storages::Need;
use crate::backend::{Backend, BackendError, TaggedCt};
use crate::mapping::{
    parse_volume_line, volume_line, volume_requests, Owner, Volumes, DESCRIPTION_HOST_PREFIX,
    DESCRIPTION_ID_PREFIX, DESCRIPTION_ROOT_PREFIX,
};
use crate::pve::{CtConfig, Vmid};

/// A kept volume found on a holder CT, to move into the new CT as `mp<index>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attach {
    pub index: usize,
    pub holder: Vmid,
    /// Its key in the holder's config.
    pub key: String,
    pub holder_description: String,
}

/// Whether a CT description names this runtime (host and state root lines).
fn same_owner(description: &str, owner: &Owner) -> bool {
    let has = |l: String| description.lines().any(|d| d == l);
    has(format!("{DESCRIPTION_HOST_PREFIX}{}", owner.host))
        && has(format!("{DESCRIPTION_ROOT_PREFIX}{}", owner.root))
}

/// Where each kept volume the container asks for is: on a holder (moved in after create), or
/// nowhere yet (allocated new). One in a container's CT refuses the create with one line
/// naming the annotation; so does a kept volume asked for at another path. Pure over `cts`.
pub fn plan(
    cts: &[TaggedCt],
    volumes: &Volumes,
    owner: &Owner,
    node: &str,
    config_path: &Path,
) -> anyhow::Result<Vec<Attach>> {
    let mut out = Vec::new();
    for (index, v) in volumes.volumes.iter().enumerate().filter(|(_, v)| v.keep) {
        let at = |msg: String| {
            anyhow::anyhow!(
                "{}: annotations[\"{}\"]: {msg}",
                config_path.display(),
                v.annotation()
            )
        };
        for ct in cts.iter().filter(|c| same_owner(&c.description, owner)) {
            let Some((key, _, path)) = ct
                .description
                .lines()
                .filter_map(parse_volume_line)
                .find(|(_, n, _)| *n == v.name)
            else {
                continue;
            };
            if let Some(id) = ct
                .description
                .lines()
                .find_map(|l| l.strip_prefix(DESCRIPTION_ID_PREFIX))
            {
                return Err(at(format!(
                    "volume '{}' is in use by container {id} (CT {})",
                    v.name, ct.vmid
                )));
            }
            if ct.node != node {
                return Err(at(format!(
                    "volume '{}' is kept on node {} (CT {}), not on node {node}",
                    v.name, ct.node, ct.vmid
                )));
            }
            if path != v.path {
                return Err(at(format!(
                    "volume '{}' is kept for path {path}; ask for it there",
                    v.name
                )));
            }
            out.push(Attach {
                index,
                holder: ct.vmid,
                key,
                holder_description: ct.description.clone(),
            });
            break;
        }
    }
    Ok(out)
}

/// Moves the planned volumes from their holders into CT `vmid` (stopped, just created), then
/// destroys a holder left with no kept volume or drops the moved ones from its description.
/// `moved` gets the index of each volume once it is in the CT.
pub fn attach(
    backend: &dyn Backend,
    vmid: Vmid,
    attaches: &[Attach],
    moved: &mut Vec<usize>,
) -> Result<(), BackendError> {
    for a in attaches {
        backend.move_volume(a.holder, &a.key, vmid, &format!("mp{}", a.index))?;
        moved.push(a.index);
    }
    let mut holders: Vec<Vmid> = attaches.iter().map(|a| a.holder).collect();
    holders.dedup();
    for h in holders {
        let moved: Vec<&str> = attaches
            .iter()
            .filter(|a| a.holder == h)
            .map(|a| a.key.as_str())
            .collect();
        let desc = &attaches
            .iter()
            .find(|a| a.holder == h)
            .unwrap()
            .holder_description;
        let left: Vec<&str> = desc
            .lines()
            .filter(|l| parse_volume_line(l).is_none_or(|(k, _, _)| !moved.contains(&k.as_str())))
            .collect();
        if left.iter().any(|l| parse_volume_line(l).is_some()) {
            backend.set_description(h, &left.join("\n"))?;
        } else {
            backend.destroy(h)?;
        }
    }
    Ok(())
}

/// The description that makes the CT of a deleted container the holder of its kept volumes
/// (its other volumes go when the holder does); None when it keeps none. `owner` is asked only
/// then: it reads the machine id and resolves the state root.
pub fn holder(
    annotations: &BTreeMap<String, String>,
    owner: impl FnOnce() -> Owner,
) -> Option<String> {
    let keeps = volume_requests(annotations).is_ok_and(|v| v.volumes.iter().any(|v| v.keep));
    keeps.then(|| holder_description(annotations, &owner()))
}

/// The description of a holder: this runtime's host and root, and the kept volumes' lines.
pub fn holder_description(annotations: &BTreeMap<String, String>, owner: &Owner) -> String {
    holder_description_of(annotations, owner, |_| true)
}

/// `holder_description` for the kept volumes whose index `has` says the CT holds.
pub fn holder_description_of(
    annotations: &BTreeMap<String, String>,
    owner: &Owner,
    has: impl Fn(usize) -> bool,
) -> String {
    let mut lines = vec![
        "proxmox-lxcri holds kept volumes".to_string(),
        format!("{DESCRIPTION_HOST_PREFIX}{}", owner.host),
        format!("{DESCRIPTION_ROOT_PREFIX}{}", owner.root),
    ];
    if let Ok(v) = volume_requests(annotations) {
        for (i, r) in v
            .volumes
            .iter()
            .enumerate()
            .filter(|(i, r)| r.keep && has(*i))
        {
            lines.push(volume_line(&format!("mp{i}"), r));
        }
    }
    lines.join("\n")
}

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
/// as `rootfs` on `rootfs_storage`; a kept volume on a holder (`attaches`) is left for
/// `attach`, and kept ones are recorded in the description. Bind copies at a volume's path are
/// dropped (the volume replaces them) and returned for a log line.
pub fn apply(
    ct: &mut CtConfig,
    copies: &mut Vec<(PathBuf, String)>,
    volumes: &Volumes,
    attaches: &[Attach],
    rootfs_storage: &str,
) -> Vec<String> {
    for (i, v) in volumes.volumes.iter().enumerate() {
        let key = format!("mp{i}");
        if v.keep {
            ct.description
                .push_str(&format!("\n{}", volume_line(&key, v)));
        }
        if !attaches.iter().any(|a| a.index == i) {
            ct.options.insert(key, v.mp_value());
        }
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
        let replaced = apply(&mut ct, &mut copies, &v, &[], "local-lvm");
        assert_eq!(ct.options["mp0"], "local-lvm:1,mp=/data");
        assert_eq!(ct.options["mp1"], "ct:2,mp=/b,backup=1");
        assert_eq!(ct.options["rootfs"], "local-lvm:3");
        assert_eq!(replaced, vec!["/data".to_string()]);
        assert_eq!(copies.len(), 1);
        let n = needs(&v);
        assert_eq!(n[1].storage, "ct");
        assert_eq!(n[1].key, "annotations[\"org.proxmox.lxcri/volume.b\"]");
    }

    fn owner() -> Owner {
        Owner {
            host: "h".into(),
            root: "/r".into(),
        }
    }

    fn tagged(vmid: u32, description: &str) -> TaggedCt {
        TaggedCt {
            vmid: Vmid::new(vmid).unwrap(),
            node: "n".into(),
            description: description.into(),
        }
    }

    #[test]
    fn kept_volumes_are_found_on_holders_and_refused_when_in_use() {
        let a = ann(&[
            ("org.proxmox.lxcri/volume.a", "local-lvm:1,mp=/a"),
            ("org.proxmox.lxcri/volume.db", "local-lvm:1,mp=/db,keep=1"),
        ]);
        let v = requested(&a, true, Path::new("/c")).unwrap();
        let holder = holder_description(&a, &owner());
        assert_eq!(
            holder,
            "proxmox-lxcri holds kept volumes\nproxmox-lxcri host: h\nproxmox-lxcri root: /r\nproxmox-lxcri volume: mp1 db /db"
        );
        assert_eq!(super::holder(&a, owner), Some(holder.clone()));
        let no_keep = ann(&[("org.proxmox.lxcri/volume.a", "local-lvm:1,mp=/a")]);
        assert_eq!(
            super::holder(&no_keep, || unreachable!("no kept volume")),
            None
        );
        let cts = [tagged(200, "proxmox-lxcri host: other\nproxmox-lxcri root: /r\nproxmox-lxcri volume: mp0 db /db"), tagged(201, &holder)];
        let found = plan(&cts, &v, &owner(), "n", Path::new("/c")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].index, found[0].holder.get(), found[0].key.as_str()),
            (1, 201, "mp1")
        );
        let mut ct = CtConfig {
            description: "proxmox-lxcri id: c2".into(),
            ..Default::default()
        };
        apply(&mut ct, &mut Vec::new(), &v, &found, "local-lvm");
        assert!(ct.options.contains_key("mp0") && !ct.options.contains_key("mp1"));
        assert_eq!(
            ct.description,
            "proxmox-lxcri id: c2\nproxmox-lxcri volume: mp1 db /db"
        );
        // In a container's CT: refused.
        let in_use = format!("proxmox-lxcri id: c1\n{holder}");
        let e = plan(&[tagged(202, &in_use)], &v, &owner(), "n", Path::new("/c")).unwrap_err();
        assert_eq!(e.to_string(), "/c: annotations[\"org.proxmox.lxcri/volume.db\"]: volume 'db' is in use by container c1 (CT 202)");
        let moved = holder.replace("/db", "/other");
        let e = plan(&[tagged(203, &moved)], &v, &owner(), "n", Path::new("/c")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("volume 'db' is kept for path /other; ask for it there"),
            "{e}"
        );
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
