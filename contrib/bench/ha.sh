#!/usr/bin/env bash
# Benchmark (not a test): on a pve-sim cluster of three nodes (per-node sshd, `pve-sim api`,
# the HA stand-in `pve-sim ha-crm`), the time from `pve-sim node down` of an HA container's node
# to its workload running again on another node: the shim's failure detection
# (cluster.node_timeout = 5 s), the stand-in CRM's fence delay (PLX_BENCH_FENCE_DELAY, default
# 3 s; Proxmox's own is about two minutes) and the relaunch. The cluster harness is the test
# suite's (tests/common/remote.rs), so the rounds run as the ignored test `bench_ha_recovery`.
# Usage: contrib/bench/ha.sh [ROUNDS]   (root; after contrib/setup-host.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
export PLX_BENCH_ROUNDS=$rounds
export PLX_BENCH_FENCE_DELAY=${PLX_BENCH_FENCE_DELAY:-3}
log=$(mktemp /tmp/plx-habench.XXXXXX)
cleanup() {
    # The harness cleans up on drop; a run killed by its timeout leaves its sim root (made
    # after the log file): its frozen nodes are emptied and its CTs killed here.
    for dir in $(find /tmp -maxdepth 1 -name 'plx-test-*' -newer "$log" 2>/dev/null); do
        PVE_SIM_ROOT=$dir/sim timeout 30 target/release/pve-sim node cleanup >/dev/null 2>&1 || true
        for ct in $(ls "$dir/sim/lxc" 2>/dev/null); do
            timeout 30 lxc-stop -n "$ct" -P "$dir/sim/lxc" --kill >/dev/null 2>&1 || true
        done
        rm -rf "$dir"
    done
    rm -f "$log"
}
trap cleanup EXIT
timeout 600 cargo build --workspace --release -q
timeout $((120 + rounds * 240)) cargo test --release -q --test failover bench_ha_recovery \
    -- --ignored --nocapture >"$log" 2>&1 || { cat "$log"; exit 1; }
grep -E '^(round|HA recovery)' "$log"
