//! Fields with no CT equivalent: personality, Intel RDT, time offsets, other platforms. `hooks`
//! are run by the runtime itself, and `linux.mountLabel` and annotations are accepted and not
//! mapped (see docs/mapping.md).

use oci_spec::runtime::Spec;

use super::{MapError, Mapper};

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    if let Some(linux) = spec.linux() {
        if linux.intel_rdt().is_some() {
            m.unsupported("linux.intelRdt", "Proxmox has no key for resctrl")?;
        }
        if linux.personality().is_some() {
            m.unsupported(
                "linux.personality",
                "Proxmox has no key for the execution domain",
            )?;
        }
        if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
            m.unsupported("linux.timeOffsets", "a CT has no time namespace")?;
        }
    }
    if spec.solaris().is_some() {
        m.unsupported("solaris", "not Linux")?;
    }
    if spec.windows().is_some() {
        m.unsupported("windows", "not Linux")?;
    }
    if spec.vm().is_some() {
        m.unsupported("vm", "a CT is not a VM")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn hooks_are_run_by_the_runtime_not_mapped() {
        let spec = spec_with(r#"{"hooks": {"prestart": [{"path": "/bin/true"}], "poststop": []}}"#);
        let m = map_ok(&spec, &ctx());
        assert!(
            !format!("{:?}", m.ct).contains("/bin/true"),
            "no CT key carries hooks"
        );
    }

    #[test]
    fn linux_extras_are_unsupported() {
        for (patch, f) in [
            (
                r#"{"linux": {"intelRdt": {"closID": "x"}}}"#,
                "linux.intelRdt",
            ),
            (
                r#"{"linux": {"personality": {"domain": "LINUX32"}}}"#,
                "linux.personality",
            ),
            (
                r#"{"linux": {"rootfsPropagation": "shared"}}"#,
                "linux.rootfsPropagation",
            ),
            (
                r#"{"linux": {"timeOffsets": {"monotonic": "1"}}}"#,
                "linux.timeOffsets",
            ),
        ] {
            assert_unsupported(&spec_with(patch), &ctx(), f);
        }
    }

    #[test]
    fn accepted_without_mapping() {
        let spec = spec_with(
            r#"{"linux": {"rootfsPropagation": "rslave", "cgroupsPath": "/kubepods/pod1/crio-x", "mountLabel": "system_u:object_r:container_file_t:s0"},
            "annotations": {"a": "b"}, "domainname": ""}"#,
        );
        let m = map_ok(&spec, &ctx());
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }
}
