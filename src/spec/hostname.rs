//! `hostname` -> `hostname` (LXC sets it as the CT's UTS name); `domainname` has no key.

use oci_spec::runtime::Spec;

use super::text::is_dns_name;
use super::{invalid, MapError, Mapper};

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
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
}
