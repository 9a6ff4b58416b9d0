//! `description`: the container id plus the pod it belongs to, from the annotations.
//! Other annotations are not mapped (the runtime keeps them in its state).

use oci_spec::runtime::Spec;

use super::text::has_ctl;
use super::{invalid, MapError, Mapper, DESCRIPTION_ID_PREFIX};

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
            "proxmox-lxcri id: ctr1\nio.kubernetes.pod.name: web\nio.kubernetes.pod.namespace: shop\n\
             io.kubernetes.cri-o.SandboxID: abc\nio.kubernetes.cri-o.ContainerType: container"
        );
    }

    #[test]
    fn description_without_annotations() {
        let m = map_ok(&spec_with("{}"), &ctx());
        assert_eq!(m.ct.description, "proxmox-lxcri id: ctr1");
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
    }
}
