#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds every binary the tests drive
# (the runtime, the static init, pve-sim's pct), then runs all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/setup-host.sh
cargo build --workspace
cargo test --workspace
