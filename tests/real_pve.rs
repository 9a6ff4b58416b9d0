//! Proxmox's real `pct` (pve-container's Perl, pmxcfs, LXC) instead of pve-sim: the `pct`
//! backend's lifecycle, exec, terminal, update, kill and delete, with the case bodies the pve-sim
//! tests run (tests/common/cases.rs). `PROXMOX_LXCRI_REAL_PVE` names the real-pve harness
//! directory; the runtime runs inside its sandbox (where `/etc/pve` and `/run/lock/lxc` are),
//! which is started if needed and stopped at exit if this binary started it. Without the variable
//! every test reports itself skipped and passes.

mod common;

use common::*;

macro_rules! real_pve_case {
    ($name:ident, $case:path) => {
        #[test]
        fn $name() {
            if let Some(node) = Sim::real_pve(stringify!($name)) {
                $case(&node);
            }
        }
    };
}

real_pve_case!(lifecycle, cases::lifecycle);
real_pve_case!(exec_with_a_process_file, cases::exec_process_file);
real_pve_case!(terminal_on_the_console_socket, cases::terminal);
real_pve_case!(update_api_and_raw_keys, cases::update);
real_pve_case!(kill_kill_gives_137, cases::kill_kill);
real_pve_case!(
    term_and_kill_of_a_created_container,
    cases::term_and_kill_created
);
real_pve_case!(
    delete_force_of_a_running_container,
    cases::delete_force_running
);
real_pve_case!(three_pct_calls_per_lifecycle, cases::pct_call_budget);
