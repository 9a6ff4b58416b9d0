//! `linux.rootfsPropagation` -> nothing, or an `lxc.hook.mount` that cuts the CT's root off.
//!
//! LXC turns every mount of the new mount namespace into a slave of the node's before it mounts
//! the rootfs (lxc src/lxc/conf.c, `turn_into_dependent_mounts`), runs mount hooks (in the CT's
//! mount namespace, before `pivot_root`), and after `pivot_root` makes the whole tree shared in
//! a peer group of its own (`lxc_pivot_root`, `MS_SHARED | MS_REC`). So `slave`/`rslave` is what
//! every CT gets (the node's mounts propagate in, nothing goes out); a mount hook can make the
//! root `private` (no link to the node at all). Inside the CT the tree is always shared
//! afterwards: `unbindable` is undone, and `shared` with the node cannot be had.

use oci_spec::runtime::Spec;

use super::{MapError, Mapper};

/// The hook for `mount --make-<p>` on the rootfs. LXC runs it through `sh -c` with ` <name> lxc
/// mount` appended (`$0`..`$2` here, unused) and `LXC_ROOTFS_MOUNT` set; the node's `mount`
/// (util-linux) does the work.
pub fn hook(p: &str) -> String {
    format!("sh -c 'mount --make-{p} \"$LXC_ROOTFS_MOUNT\"'")
}

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    const F: &str = "linux.rootfsPropagation";
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    else {
        return Ok(());
    };
    match p {
        // LXC's own: every mount a slave of the node's.
        "" | "slave" | "rslave" => {}
        "private" | "rprivate" => {
            m.mount_keys.push(("lxc.hook.mount".into(), hook(p)));
        }
        "shared" | "rshared" => m.unsupported(
            F,
            format!(
                "{p}: LXC makes the CT's mounts slaves of the node's, in a peer group of their own"
            ),
        )?,
        "unbindable" | "runbindable" => m.unsupported(
            F,
            format!("{p}: LXC makes the CT's tree shared after pivot_root, which ends unbindable"),
        )?,
        _ => m.unsupported(F, format!("{p}: not a mount propagation"))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn hooks(m: &super::super::Mapped) -> Vec<&str> {
        lxc(m, "lxc.hook.mount")
    }

    #[test]
    fn slave_is_what_lxc_does_private_is_a_mount_hook() {
        for p in ["", "slave", "rslave"] {
            let spec = spec_with(&format!(r#"{{"linux": {{"rootfsPropagation": "{p}"}}}}"#));
            let m = map_ok(&spec, &ctx());
            assert!(hooks(&m).is_empty(), "{p}");
            assert!(m.warnings.is_empty(), "{p}: {:?}", m.warnings);
        }
        for p in ["private", "rprivate"] {
            let spec = spec_with(&format!(r#"{{"linux": {{"rootfsPropagation": "{p}"}}}}"#));
            let m = map_ok(&spec, &ctx());
            assert_eq!(
                hooks(&m),
                [format!("sh -c 'mount --make-{p} \"$LXC_ROOTFS_MOUNT\"'")]
            );
            // After the mount entries, as the last raw keys.
            assert_eq!(m.ct.lxc.last().unwrap().0, "lxc.hook.mount");
        }
    }

    #[test]
    fn shared_and_unbindable_cannot_be_had() {
        for p in ["shared", "rshared", "unbindable", "runbindable", "bogus"] {
            let spec = spec_with(&format!(r#"{{"linux": {{"rootfsPropagation": "{p}"}}}}"#));
            assert_unsupported(&spec, &ctx(), "linux.rootfsPropagation");
            let m = map_ok(&spec, &loose(ctx()));
            assert_eq!(m.warnings.len(), 1, "{p}");
            assert!(
                m.warnings[0].starts_with(&format!("config.json: linux.rootfsPropagation: {p}: ")),
                "{:?}",
                m.warnings
            );
            assert!(hooks(&m).is_empty());
        }
    }
}
