#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds every binary the tests drive
# (the runtime, the static init, pve-sim's pct), runs all tests, and ends with one line that
# adds up every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/setup-host.sh
cargo build --workspace
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
