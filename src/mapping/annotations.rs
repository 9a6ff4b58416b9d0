//! `description`: the container id, the runtime that made the CT (host and state root, which `gc`
//! goes by) and the pod it belongs to, from the annotations.
//! Other annotations are not mapped (the runtime keeps them in its state).

use oci_spec::runtime::Spec;

use super::text::has_ctl;
use super::{
    invalid, MapError, Mapper, DESCRIPTION_HOST_PREFIX, DESCRIPTION_ID_PREFIX,
    DESCRIPTION_ROOT_PREFIX,
};

/// Annotations copied into the description, one `key: value` line each, in this order.
pub const DESCRIBED: &[&str] = &[
    "io.kubernetes.pod.name",
    "io.kubernetes.pod.namespace",
    "io.kubernetes.cri-o.SandboxID",
    "io.kubernetes.cri-o.ContainerType",
];

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let id = &m.ctx.id;
    // A line break would let the id (or a pod name) forge a second `proxmox-lxcri id:` line.
    if id.is_empty() || has_ctl(id) {
        return Err(invalid(
            "id",
            "container id must be non-empty and free of control characters",
        ));
    }
    let mut lines = vec![format!("{DESCRIPTION_ID_PREFIX}{id}")];
    let owner = &m.ctx.owner;
    for (prefix, value, what) in [
        (DESCRIPTION_HOST_PREFIX, &owner.host, "host id"),
        (DESCRIPTION_ROOT_PREFIX, &owner.root, "state root"),
    ] {
        if has_ctl(value) {
            return Err(invalid(what, "control characters are not allowed"));
        }
        if !value.is_empty() {
            lines.push(format!("{prefix}{value}"));
        }
    }
    if let Some(ann) = spec.annotations() {
        for key in DESCRIBED {
            if let Some(v) = ann.get(*key) {
                if has_ctl(v) {
                    return Err(invalid(
                        format!("annotations[\"{key}\"]"),
                        "control characters are not allowed",
                    ));
                }
                lines.push(format!("{key}: {v}"));
            }
        }
    }
    m.out.ct.description = lines.join("\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::MapError;

    #[test]
    fn description_carries_id_and_pod() {
        let spec = spec_with(
            r#"{"annotations": {
            "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.cri-o.SandboxID": "abc", "io.kubernetes.cri-o.ContainerType": "container",
            "other": "x"}}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert_eq!(
            m.ct.description,
            format!(
                "proxmox-lxcri id: ctr1\n{OWNER_LINES}\nio.kubernetes.pod.name: web\nio.kubernetes.pod.namespace: shop\n\
                 io.kubernetes.cri-o.SandboxID: abc\nio.kubernetes.cri-o.ContainerType: container"
            )
        );
    }

    #[test]
    fn description_without_annotations() {
        let m = map_ok(&spec_with("{}"), &ctx());
        assert_eq!(
            m.ct.description,
            format!("proxmox-lxcri id: ctr1\n{OWNER_LINES}")
        );
        // Without an owner (a context that makes no CT): the id alone.
        let mut c = ctx();
        c.owner = Default::default();
        assert_eq!(
            map_ok(&spec_with("{}"), &c).ct.description,
            "proxmox-lxcri id: ctr1"
        );
    }

    #[test]
    fn description_refuses_line_breaks() {
        let spec =
            spec_with(r#"{"annotations": {"io.kubernetes.pod.name": "a\nproxmox-lxcri id: b"}}"#);
        assert!(
            matches!(map_err(&spec, &ctx()), MapError::Invalid { field, .. } if field == "annotations[\"io.kubernetes.pod.name\"]")
        );
        let mut c = ctx();
        c.id = "x\ny".into();
        assert!(
            matches!(map_err(&spec_with("{}"), &c), MapError::Invalid { field, .. } if field == "id")
        );
        let mut c = ctx();
        c.owner.root = "/run/x\nproxmox-lxcri host: other".into();
        assert!(
            matches!(map_err(&spec_with("{}"), &c), MapError::Invalid { field, .. } if field == "state root")
        );
    }

    #[test]
    fn the_owner_is_read_back_from_the_description() {
        let m = map_ok(&spec_with("{}"), &ctx());
        let (id, owner) = super::super::description_owner(&m.ct.description).unwrap();
        assert_eq!((id.as_str(), &owner), ("ctr1", &ctx().owner));
        assert!(super::super::description_names(&m.ct.description, "ctr1"));
        // A CT made before the host line, or by hand: no owner.
        assert_eq!(
            super::super::description_owner("proxmox-lxcri id: ctr1"),
            None
        );
        assert_eq!(super::super::description_owner("web server"), None);
    }
}
