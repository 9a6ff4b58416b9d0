//! The pve-sim cases on a spare Proxmox node: run there as root with
//! `PROXMOX_LXCRI_TEST_CONFIG=/path/config.toml` (the `pct` backend's config for that node, whose
//! `vmid_range` holds no other CT). docs/testing.md says how. Without the variable every test
//! reports itself skipped and passes.

mod common;

use common::*;

macro_rules! node_case {
    ($name:ident, $case:path) => {
        tier_case!(Sim::real_node, $name, $case);
    };
}

node_case!(lifecycle, cases::lifecycle);
node_case!(exec_with_a_process_file, cases::exec_process_file);
node_case!(terminal_on_the_console_socket, cases::terminal);
node_case!(update_api_and_raw_keys, cases::update);
node_case!(kill_kill_gives_137, cases::kill_kill);
node_case!(
    term_and_kill_of_a_created_container,
    cases::term_and_kill_created
);
node_case!(
    delete_force_of_a_running_container,
    cases::delete_force_running
);
node_case!(podman_run_rm, cases::podman_run_rm);
node_case!(podman_exec, cases::podman_exec);
