//! `linux.resources` -> `memory`, `swap`, `cpulimit`, `cpuunits` and raw `lxc.cgroup2.*`, one
//! file per section: `memory.rs`, `cpu.rs`, `devices.rs`, `others.rs` (rdma, unified and the
//! unsupported ones); pids is a single raw key, here. `update.rs` maps `update`'s resources.

use oci_spec::runtime::Spec;

use super::{MapError, Mapper};

mod cpu;
mod devices;
mod memory;
mod others;
mod update;

pub(super) use update::{map_update, update_unsets};

const PIDS_MAX: &str = "lxc.cgroup2.pids.max";

pub(super) fn map(spec: &Spec, m: &mut Mapper) -> Result<(), MapError> {
    let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    memory::memory(res.and_then(|r| r.memory().as_ref()), m)?;
    let Some(res) = res else { return Ok(()) };
    if let Some(cpu) = res.cpu() {
        cpu::cpu(cpu, m)?;
    }
    if let Some(pids) = res.pids() {
        if pids.limit() > 0 {
            m.lxc(PIDS_MAX, pids.limit().to_string());
        }
    }
    devices::devices(res.devices().as_deref().unwrap_or_default(), m)?;
    others::others(res, m)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn pids_limit() {
        let m = map_ok(
            &spec_with(r#"{"linux": {"resources": {"pids": {"limit": 2048}}}}"#),
            &ctx(),
        );
        assert_eq!(lxc(&m, "lxc.cgroup2.pids.max"), ["2048"]);
        for l in ["-1", "0"] {
            let m = map_ok(
                &spec_with(&format!(
                    r#"{{"linux": {{"resources": {{"pids": {{"limit": {l}}}}}}}}}"#
                )),
                &ctx(),
            );
            assert!(lxc(&m, "lxc.cgroup2.pids.max").is_empty());
        }
    }
}
