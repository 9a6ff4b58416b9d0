#!/usr/bin/env bash
# Benchmark (not a test): proxmox-lxcri on pve-sim vs runc, same bundle, same run.
# Reports the median create->start->exit->delete time of each, the median `state` time of each,
# the median time from the workload's death (the CT's pid 1) to the shim's exit, taken from the
# kernel's exit events (contrib/bench/exit_latency.py), the shim's RSS, and pct calls per
# lifecycle (pve-sim logs every call).
# Then the same lifecycle through Proxmox's real `pct` (the real-pve harness named by
# PROXMOX_LXCRI_REAL_PVE; skipped when unset):
# the runtime runs inside its sandbox, `pct` calls counted by a wrapper.
# Usage: contrib/bench/lifecycle.sh [ROUNDS]   (root; after contrib/setup-host.sh)
# PLX_BENCH_BIN=DIR measures the binaries in DIR (e.g. an older build) instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-10}
if [ -z "${PLX_BENCH_BIN:-}" ]; then cargo build --workspace --release -q; fi
bin=${PLX_BENCH_BIN:-$PWD/target/release}
real=${PROXMOX_LXCRI_REAL_PVE:-}
sandbox_started=no
work=$(mktemp -d /tmp/plx-bench.XXXXXX)
cleanup() {
    for id in $(ls "$work/run" 2>/dev/null); do "$bin/proxmox-lxcri" --root "$work/run" --config "$work/config.toml" delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(runc --root "$work/runc" list -q 2>/dev/null); do runc --root "$work/runc" delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ls "$work/real-run" 2>/dev/null); do "$real/sandbox.sh" exec "$bin/proxmox-lxcri" --root "$work/real-run" --config "$work/real.toml" delete -f "$id" >/dev/null 2>&1 || true; done
    if [ "$sandbox_started" = yes ]; then "$real/sandbox.sh" stop >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/pct" <<EOS
#!/bin/sh
export PVE_SIM_ROOT=$work/sim PVE_SIM_NODE=bench
exec $bin/pct "\$@"
EOS
chmod 755 "$work/pct"
# node_version: pve-sim's default node, given so that no round pays the version question.
printf 'node = "bench"\nvmid_range = [910000, 910999]\nunprivileged = false\nnode_version = "6.1.10"\n[pct]\npath = "%s"\npve_dir = "%s"\nlxc_path = "%s"\n' \
    "$work/pct" "$work/sim/etc/pve" "$work/sim/lxc" > "$work/config.toml"

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/"{proc,sys,dev,etc,tmp}
cp /bin/busybox "$work/bundle/rootfs/bin/"; ln -s busybox "$work/bundle/rootfs/bin/true"; ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"readonly": true/"readonly": false/; s/"sh"$/"true"/' config.json)

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
plx() { "$bin/proxmox-lxcri" --root "$work/run" --config "$work/config.toml" "$@"; }
rnc() { runc --root "$work/runc" "$@"; }
wait_stopped() { until "$@" 2>/dev/null | grep -q '"status": "stopped"'; do sleep 0.005; done; }
# Destroys `delete` left to a detached process (a CT still going down) are done.
settle() { until [ -z "$(ls -A "$work/run/.pending" 2>/dev/null)" ]; do sleep 0.02; done; }

lifecycle() { # $1 = plx|rnc, $2 = id
    local t0; t0=$(now)
    $1 create --bundle "$work/bundle" "$2" </dev/null >/dev/null 2>&1
    $1 start "$2"
    wait_stopped $1 state "$2"
    $1 delete "$2"
    echo $(( ($(now) - t0) / 1000 ))
}

state_times() { # $1 = plx|rnc, $2 = id ; 50 calls
    for _ in $(seq 50); do local t0; t0=$(now); $1 state "$2" >/dev/null; echo $(( ($(now) - t0) / 1000 )); done
}

: > "$work/plx.life"; : > "$work/rnc.life"
for i in $(seq "$rounds"); do
    lifecycle plx "p$i" >> "$work/plx.life"
    lifecycle rnc "r$i" >> "$work/rnc.life"
done

# state timing, pct calls and RSS on one created container each.
settle
mkdir -p "$work/sim"; : > "$work/sim/pct.calls"
plx create --bundle "$work/bundle" --pid-file "$work/plx.pid" ps </dev/null >/dev/null 2>&1
rnc create --bundle "$work/bundle" rs </dev/null >/dev/null 2>&1
rss=$(awk '/VmRSS/ {print $2}' "/proc/$(cat "$work/plx.pid")/status")
state_calls_before=$(wc -l < "$work/sim/pct.calls")
state_times plx ps | median > "$work/plx.state"
state_calls=$(( $(wc -l < "$work/sim/pct.calls") - state_calls_before ))
state_times rnc rs | median > "$work/rnc.state"
plx start ps; wait_stopped plx state ps; plx delete ps
rnc delete -f rs
settle
calls=$(wc -l < "$work/sim/pct.calls")

# The workload's death to the shim's exit: what a caller waiting on the shim (conmon) sees.
: > "$work/plx.exit"
for i in $(seq "$rounds"); do
    plx create --bundle "$work/bundle" --pid-file "$work/e.pid" "e$i" </dev/null >/dev/null 2>&1
    init=$(sed -n 's/.*"init_pid": *\([0-9]*\).*/\1/p' "$work/run/e$i/state.json")
    rm -f "$work/e.ready"
    contrib/bench/exit_latency.py "$init" "$(cat "$work/e.pid")" "$work/e.ready" >> "$work/plx.exit" &
    lat=$!
    until [ -e "$work/e.ready" ]; do sleep 0.01; done
    plx start "e$i"
    wait "$lat"
    wait_stopped plx state "e$i"
    plx delete "e$i"
done
settle

pl=$(median < "$work/plx.life"); rl=$(median < "$work/rnc.life")
ps_=$(cat "$work/plx.state"); rs_=$(cat "$work/rnc.state")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(lxc-start --version | sed 's/^/lxc /'), $(runc --version | head -1)"
echo "rounds: $rounds"
printf '%-34s %12s %12s %8s\n' "" "proxmox-lxcri" "runc" "ratio"
printf '%-34s %10d us %10d us %7.2fx\n' "create->start->exit->delete (median)" "$pl" "$rl" "$(echo "$pl / $rl" | bc -l)"
printf '%-34s %10d us %10d us %7.2fx\n' "state (median of 50)" "$ps_" "$rs_" "$(echo "$ps_ / $rs_" | bc -l)"
printf '%-34s %10d us\n' "workload death -> shim exit (median)" "$(median < "$work/plx.exit")"
echo "shim RSS: ${rss} KiB"
echo "pct calls per lifecycle: $calls (state: $state_calls)"

[ -n "$real" ] || { echo "real pct: skipped (no real-pve harness; set PROXMOX_LXCRI_REAL_PVE)"; exit 0; }
# The real pct: /etc/pve and /run/lock/lxc exist only inside the sandbox, so the runtime runs there.
if ! "$real/sandbox.sh" status 2>/dev/null | grep -q '^namespace:.*holder'; then
    "$real/sandbox.sh" start >/dev/null 2>&1
    sandbox_started=yes
fi
cat > "$work/pct-real" <<EOS
#!/bin/sh
echo "\$1" >> $work/real.calls
exec /usr/sbin/pct "\$@"
EOS
chmod 755 "$work/pct-real"
printf 'node = "%s"\nvmid_range = [920000, 920999]\nunprivileged = false\ninit_path = "%s"\n[pct]\npath = "%s"\ntimeout = 120\n' \
    "$(hostname -s)" "$bin/proxmox-lxcri-init" "$work/pct-real" > "$work/real.toml"
plr() { "$real/sandbox.sh" exec "$bin/proxmox-lxcri" --root "$work/real-run" --config "$work/real.toml" "$@"; }
: > "$work/real.life"
for i in $(seq "$rounds"); do lifecycle plr "q$i" >> "$work/real.life"; done
: > "$work/real.calls"
lifecycle plr qc > /dev/null
echo "real pct (real-pve sandbox: Proxmox's pct and pmxcfs, LXC $(lxc-start --version)):"
printf '%-34s %10d us\n' "create->start->exit->delete (median)" "$(median < "$work/real.life")"
echo "pct calls per lifecycle: $(wc -l < "$work/real.calls") ($(tr '\n' ' ' < "$work/real.calls"| sed 's/ $//'))"
