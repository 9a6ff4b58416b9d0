//! The pve-sim cases on a spare Proxmox node: run there as root with
//! `PROXMOX_LXCRI_TEST_CONFIG=/path/config.toml` (the `pct` backend's config for that node, whose
//! `vmid_range` holds no other CT). docs/testing.md says how. Without the variable every test
//! reports itself skipped and passes.

mod common;

use common::*;

tier_cases!(Sim::real_node);
tier_case!(Sim::real_node, podman_run_rm, cases::podman_run_rm);
tier_case!(Sim::real_node, podman_exec, cases::podman_exec);
