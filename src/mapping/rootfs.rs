//! `root` -> `rootfs`: the bundle's rootfs directory, bind-mounted by Proxmox.

use oci_spec::runtime::Spec;

use super::paths::{is_clean, resolve};
use super::text::is_propstr_safe;
use super::{invalid, MapError, Mapper};

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing"))?;
    if !m.ctx.bundle.is_absolute() && root.path().is_relative() {
        return Err(invalid(
            "root.path",
            "relative path but the bundle path is not absolute",
        ));
    }
    let path = resolve(&m.ctx.bundle, root.path());
    let path = m.ctx.canonical.get(&path).cloned().unwrap_or(path);
    let text = path
        .to_str()
        .ok_or_else(|| invalid("root.path", "not valid UTF-8"))?;
    // Proxmox classifies a volume starting with /dev/ as a device, and parses `,`/`=` as keys.
    if !is_propstr_safe(text) || !is_clean(text) || text == "/" || text.starts_with("/dev/") {
        return Err(invalid(
            "root.path",
            format!("{text}: cannot be written as a Proxmox rootfs bind path"),
        ));
    }
    let mut value = text.to_string();
    // Under Init our own init remounts / read-only once LXC has created the mount targets (they
    // may not exist in the image, and a read-only rootfs would make `create=` fail).
    let readonly = root.readonly().unwrap_or(false);
    if readonly && m.is_init() {
        m.out.readonly_root = true;
    }
    // Property string order: bare volume, then optional keys sorted.
    if m.ctx.unprivileged && !m.ns.idmapped {
        if m.ctx.node.idmap_option {
            value.push_str(",idmap=passthrough");
        } else {
            m.unsupported("root.path", super::mounts::no_idmap(m))?;
        }
    }
    if readonly && !m.is_init() {
        value.push_str(",ro=1");
    }
    m.set("rootfs", value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn relative_root_is_resolved_against_bundle() {
        let m = map_ok(&spec_with("{}"), &ctx());
        assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs,idmap=passthrough"));
        let m = map_ok(&spec_with(r#"{"root": {"path": "../other/./fs"}}"#), &ctx());
        assert_eq!(opt(&m, "rootfs"), Some("/other/fs,idmap=passthrough"));
    }

    #[test]
    fn rootfs_is_written_canonical() {
        let mut c = ctx();
        c.canonical
            .insert("/b/rootfs".into(), "/real/b/rootfs".into());
        let m = map_ok(&spec_with("{}"), &c);
        assert_eq!(opt(&m, "rootfs"), Some("/real/b/rootfs,idmap=passthrough"));
        // The checks apply to what Proxmox gets.
        c.canonical
            .insert("/b/rootfs".into(), "/real,b/rootfs".into());
        assert!(is_invalid(&map_err(&spec_with("{}"), &c), "root.path"));
    }

    #[test]
    fn privileged_has_no_idmap() {
        let mut c = ctx();
        c.unprivileged = false;
        let m = map_ok(&spec_with(r#"{"root": {"path": "/srv/r"}}"#), &c);
        assert_eq!(opt(&m, "rootfs"), Some("/srv/r"));
        assert_eq!(opt(&m, "unprivileged"), Some("0"));
    }

    #[test]
    fn readonly_root() {
        let spec = spec_with(r#"{"root": {"readonly": true}}"#);
        // Init: the init remounts / read-only.
        let m = map_ok(&spec, &ctx());
        assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs,idmap=passthrough"));
        assert!(m.readonly_root);
        // Entrypoint: Proxmox mounts it read-only.
        let m = map_ok(&spec, &entry_ctx());
        assert_eq!(opt(&m, "rootfs"), Some("/b/rootfs,idmap=passthrough,ro=1"));
        assert!(!m.readonly_root);
    }

    #[test]
    fn unwritable_root_paths() {
        for p in ["/a,b", "/a=b", "/dev/sda1", "/", "/a b"] {
            let e = map_err(
                &spec_with(&format!(r#"{{"root": {{"path": "{p}"}}}}"#)),
                &ctx(),
            );
            assert!(is_invalid(&e, "root.path"), "{p}: {e:?}");
        }
    }
}
