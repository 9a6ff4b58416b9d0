#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds every binary the tests drive
# (the runtime, the static init, pve-sim's pct), runs all tests, and ends with one line that
# adds up every test binary's result.
# The real-pct tier (tests/real_pve.rs) runs when PROXMOX_LXCRI_REAL_PVE names a real-pve
# harness (Proxmox's own pct and pmxcfs in a private mount namespace; CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/setup-host.sh
if [ -n "${PROXMOX_LXCRI_REAL_PVE:-}" ]; then
    export PROXMOX_LXCRI_REAL_PVE
    "$PROXMOX_LXCRI_REAL_PVE/setup.sh"   # idempotent: packages, pmxcfs build, module check
fi
cargo build --workspace
log=$(mktemp)
sandbox_was_running=no
if [ -n "${PROXMOX_LXCRI_REAL_PVE:-}" ] &&
    "$PROXMOX_LXCRI_REAL_PVE/sandbox.sh" status 2>/dev/null | grep -q '^namespace:.*holder'; then
    sandbox_was_running=yes
fi
cleanup() {
    rm -f "$log"
    # The test binary stops a sandbox it started; this covers a binary that was killed.
    if [ -n "${PROXMOX_LXCRI_REAL_PVE:-}" ] && [ "$sandbox_was_running" = no ]; then
        "$PROXMOX_LXCRI_REAL_PVE/sandbox.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
