//! `hostname` -> `hostname` (LXC sets it as the CT's UTS name); `domainname` has no key.

use oci_spec::runtime::Spec;

use super::text::is_dns_name;
use super::{invalid, MapError, Mapper};

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    // In a pod the workload joins the pod's UTS namespace, so the CT's own name is free: name the
    // CT after the pod and container, which is what a Proxmox admin looks for in `pct list`.
    if uts_joined(spec) {
        if let Some(name) = pod_ct_name(spec) {
            m.set("hostname", &name);
            return Ok(());
        }
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !is_dns_name(h) {
            return Err(invalid(
                "hostname",
                format!("{h:?} is not a DNS name as Proxmox wants it (letters, digits, '-', dot-separated; no '_')"),
            ));
        }
        m.set("hostname", h);
    }
    if spec.domainname().as_deref().is_some_and(|d| !d.is_empty()) {
        m.unsupported(
            "domainname",
            "Proxmox has no key for the NIS domain name (lxc.uts.domain is not allowed)",
        )?;
    }
    Ok(())
}

/// The host name the shim sets inside a UTS namespace config.json names by path, as runc does.
pub fn joined_uts_hostname(spec: &Spec) -> Option<String> {
    spec.hostname()
        .clone()
        .filter(|h| !h.is_empty() && uts_joined(spec))
}

fn uts_joined(spec: &Spec) -> bool {
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    nss.iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Uts && n.path().is_some())
}

/// `<pod>-<container>` from kubelet's annotations, or from CRI-O's `k8s_<ctr>_<pod>_<ns>_<uid>_<n>`
/// name; as a DNS label Proxmox accepts.
fn pod_ct_name(spec: &Spec) -> Option<String> {
    let a = spec.annotations().as_ref()?;
    let from_name = a.get("io.kubernetes.cri-o.Name").and_then(|n| {
        let parts: Vec<&str> = n.split('_').collect();
        (parts.len() >= 3 && parts[0] == "k8s")
            .then(|| (parts[2].to_string(), parts[1].to_string()))
    });
    let pod = a
        .get("io.kubernetes.pod.name")
        .cloned()
        .or_else(|| from_name.as_ref().map(|f| f.0.clone()))?;
    let ctr = a
        .get("io.kubernetes.container.name")
        .cloned()
        .or_else(|| from_name.map(|f| f.1))?;
    let raw = format!("{pod}-{ctr}").to_ascii_lowercase();
    let mut label: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.truncate(63);
    let label = label.trim_matches('-').to_string();
    is_dns_name(&label).then_some(label)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn hostname_maps() {
        let m = map_ok(&spec_with(r#"{"hostname": "webpod"}"#), &ctx());
        assert_eq!(opt(&m, "hostname"), Some("webpod"));
        let m = map_ok(&spec_with(r#"{"hostname": ""}"#), &ctx());
        assert_eq!(opt(&m, "hostname"), None);
    }

    #[test]
    fn hostname_proxmox_refuses() {
        for h in ["my_host", "-x", "a..b"] {
            let e = map_err(&spec_with(&format!(r#"{{"hostname": "{h}"}}"#)), &ctx());
            assert!(is_invalid(&e, "hostname"), "{h}");
        }
    }

    #[test]
    fn domainname() {
        map_ok(&spec_with(r#"{"domainname": ""}"#), &ctx());
        assert_unsupported(
            &spec_with(r#"{"domainname": "example.com"}"#),
            &ctx(),
            "domainname",
        );
    }

    #[test]
    fn pod_members_are_named_after_pod_and_container() {
        let pod = r#"{"hostname": "webpod", "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts", "path": "/var/run/utsns/x"}]},
            "annotations": {"io.kubernetes.cri-o.Name": "k8s_web_webpod_shop_uid_0"}}"#;
        assert_eq!(
            opt(&map_ok(&spec_with(pod), &ctx()), "hostname"),
            Some("webpod-web")
        );
        let labels = r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts", "path": "/p"}]},
            "annotations": {"io.kubernetes.pod.name": "My_Pod", "io.kubernetes.container.name": "POD"}}"#;
        assert_eq!(
            opt(&map_ok(&spec_with(labels), &ctx()), "hostname"),
            Some("my-pod-pod")
        );
        // Its own UTS namespace: the workload sees the CT's name, so it stays config.json's.
        let own = r#"{"hostname": "webpod", "annotations": {"io.kubernetes.cri-o.Name": "k8s_web_webpod_shop_uid_0"}}"#;
        assert_eq!(
            opt(&map_ok(&spec_with(own), &ctx()), "hostname"),
            Some("webpod")
        );
    }
}
