#!/usr/bin/env bash
# Benchmark (not a test): what counting an operation costs. 2000 merges of one `state`'s counts
# into a `.opstats.json` as full as a busy node's, on tmpfs and on ext4, and 50 whole `state`
# invocations for scale, in the same run (docs/performance.md, "Operation metrics"). It needs
# the suite's pve-sim harness, so it runs as the ignored test `bench_operation_counting`.
# Usage: contrib/bench/opstats.sh   (root; after contrib/setup-host.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
timeout 600 cargo build --workspace --release -q
timeout 600 cargo test --release --test metrics bench_operation_counting \
    -- --ignored --nocapture 2>&1 | grep -v '^\s*$' | grep -v '^running\|^test \|^test result\|Finished\|Running'
