#!/usr/bin/env bash
# Benchmark (not a test): 50 parallel `proxmox-lxcri create`s (api backend) of one small bundle
# across the two nodes of a pve-sim cluster (alternating nodes; each node its own sshd and
# address), unique VMIDs checked, then 50 parallel deletes; against 50 parallel `runc create`s
# and deletes of the same bundle in the same run. The template is uploaded once before (a
# warm-up create and delete), so the parallel creates measure placement, VMID allocation and
# `pct create`, not the upload.
# Every step has a timeout and prints progress; whatever the run made is deleted on exit, also
# on failure or Ctrl-C.
# Usage: contrib/bench/cluster.sh [N]   (root; after contrib/setup-host.sh; N defaults to 50)
# PLX_BENCH_BIN=DIR measures the binaries in DIR instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
. contrib/lib/sim-node.sh
n=${1:-50}
step_timeout=${PLX_BENCH_TIMEOUT:-180}
if [ -z "${PLX_BENCH_BIN:-}" ]; then
    echo "building (release)..."
    timeout 1800 cargo build --workspace --release -q
fi
bin=${PLX_BENCH_BIN:-$PWD/target/release}
work=$(mktemp -d /tmp/plx-cbench.XXXXXX)
chmod 755 "$work"
nodes=(c1 c2)

plx() { # $1 = node, then the runtime's arguments
    local node=$1; shift
    "$bin/proxmox-lxcri" --root "$work/run" --config "$work/$node.toml" "$@"
}
rnc() { runc --root "$work/runc" "$@"; }
pct_on() { PVE_SIM_ROOT=$work/sim PVE_SIM_NODE=$1 timeout 60 "$bin/pct" "${@:2}"; }

cleanup() {
    local rc=$? id node v dels=()
    trap - EXIT INT TERM
    echo "cleaning up..."
    for id in $(ls "$work/run" 2>/dev/null | grep -v '^\.'); do
        timeout 60 "$bin/proxmox-lxcri" --root "$work/run" --config "$work/c1.toml" delete -f "$id" >/dev/null 2>&1 &
        dels+=($!)
    done
    # Only the deletes: a bare `wait` would wait for the servers too.
    [ ${#dels[@]} = 0 ] || wait "${dels[@]}" || true
    for node in "${nodes[@]}"; do
        for v in $(pct_on "$node" list 2>/dev/null | awk 'NR > 1 {print $1}'); do
            pct_on "$node" stop "$v" >/dev/null 2>&1 || true
            pct_on "$node" destroy "$v" --force 1 --purge 1 >/dev/null 2>&1 || true
        done
    done
    for id in $(rnc list -q 2>/dev/null); do timeout 30 runc --root "$work/runc" delete -f "$id" >/dev/null 2>&1 || true; done
    stop_sim_cluster "$bin"
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }

# Runs `$2...` N times in parallel (`{}` replaced by the index), each under the step timeout,
# printing progress every two seconds; `$1` names the step. Prints the wall time in ms and
# fails if any run failed.
parallel() {
    local what=$1; shift
    local i t0 pids=() failed=0 done_=0
    rm -rf "$work/out.$what"; mkdir -p "$work/out.$what"
    t0=$(now)
    for i in $(seq 0 $((n - 1))); do
        local cmd=("${@//\{\}/$i}")
        # Files, never a pipe: each shim keeps its container's stdio open.
        ( timeout "$step_timeout" "${cmd[@]}" </dev/null >"$work/out.$what/$i.out" 2>"$work/out.$what/$i.err"
          echo $? > "$work/out.$what/$i.rc" ) </dev/null >/dev/null 2>&1 &
        pids+=($!)
    done
    while :; do
        done_=$(ls "$work/out.$what" | grep -c '\.rc$' || true)
        [ "$done_" -ge "$n" ] && break
        echo "  $what: $done_/$n done ($(( ($(now) - t0) / 1000000000 )) s)" >&2
        sleep 2
    done
    wait "${pids[@]}" || true
    local wall; wall=$(ms "$t0")
    for i in $(seq 0 $((n - 1))); do
        if [ "$(cat "$work/out.$what/$i.rc")" != 0 ]; then
            failed=$((failed + 1))
            [ "$failed" -le 3 ] && echo "  $what $i failed ($(cat "$work/out.$what/$i.rc")): $(head -c 300 "$work/out.$what/$i.err")" >&2
        fi
    done
    [ "$failed" = 0 ] || { echo "$what: $failed of $n failed" >&2; return 1; }
    echo "$wall"
}

echo "starting a two-node pve-sim cluster (${nodes[*]})..."
start_sim_cluster "$work" "$bin" "${nodes[@]}"
for node in "${nodes[@]}"; do
    sim_node_config api "$node" "[930000, 930999]" > "$work/$node.toml"
    sed -i 's/^host = "127.0.0.1"$/host = "127.0.0.1"\ntimeout = 30/' "$work/$node.toml"
    printf 'timeout = 60\ntask_timeout = 120\n' >> "$work/$node.toml"
done

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/"{proc,sys,dev,etc,tmp}
cp /bin/busybox "$work/bundle/rootfs/bin/"; ln -s busybox "$work/bundle/rootfs/bin/true"; ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"readonly": true/"readonly": false/; s/"sh"$/"true"/' config.json)

echo "warm-up: one create and delete (uploads the template)..."
timeout "$step_timeout" "$bin/proxmox-lxcri" --root "$work/run" --config "$work/c1.toml" create --bundle "$work/bundle" warm </dev/null >/dev/null 2>"$work/warm.err" \
    || { echo "warm-up create failed: $(cat "$work/warm.err")" >&2; exit 1; }
timeout "$step_timeout" "$bin/proxmox-lxcri" --root "$work/run" --config "$work/c1.toml" delete -f warm

echo "runc: $n parallel creates..."
rc_create=$(parallel runc-create runc --root "$work/runc" create --bundle "$work/bundle" r{})
echo "runc: $n parallel deletes..."
rc_delete=$(parallel runc-delete runc --root "$work/runc" delete -f r{})

# Alternating nodes: even indices on c1, odd on c2 (a config per node, one state root).
for i in $(seq 0 $((n - 1))); do ln -sf "$work/${nodes[$((i % 2))]}.toml" "$work/cfg-$i.toml"; done
echo "proxmox-lxcri: $n parallel creates on ${nodes[*]}..."
px_create=$(parallel plx-create "$bin/proxmox-lxcri" --root "$work/run" --config "$work/cfg-{}.toml" create --bundle "$work/bundle" p{})

vmids=$(for i in $(seq 0 $((n - 1))); do grep -o '"vmid": *[0-9][0-9]*' "$work/run/p$i/state.json" | head -1 | tr -dc '0-9'; echo; done)
unique=$(echo "$vmids" | sort -u | grep -c . || true)
[ "$unique" = "$n" ] || { echo "$unique unique VMIDs of $n; duplicates: $(echo "$vmids" | sort | uniq -d | tr '\n' ' ')" >&2; exit 1; }
per_node=""
for node in "${nodes[@]}"; do per_node+="$node=$(pct_on "$node" list | awk 'NR > 1' | grep -c . || true) "; done
echo "  $unique unique VMIDs; CTs per node: $per_node"

echo "proxmox-lxcri: $n parallel deletes..."
px_delete=$(parallel plx-delete "$bin/proxmox-lxcri" --root "$work/run" --config "$work/cfg-{}.toml" delete p{})
left=0
for node in "${nodes[@]}"; do left=$((left + $(pct_on "$node" list | awk 'NR > 1' | grep -c . || true))); done
[ "$left" = 0 ] || { echo "$left CTs left after delete" >&2; exit 1; }

echo "machine: $(nproc) cores, kernel $(uname -r), $(lxc-start --version | sed 's/^/lxc /'), $(runc --version | head -1)"
echo "$n parallel, api backend, nodes ${nodes[*]} alternating, template cached"
printf '%-22s %14s %10s %8s\n' "" "proxmox-lxcri" "runc" "ratio"
printf '%-22s %11d ms %7d ms %7.1fx\n' "$n creates (wall)" "$px_create" "$rc_create" "$(echo "$px_create / $rc_create" | bc -l)"
printf '%-22s %11d ms %7d ms %7.1fx\n' "$n deletes (wall)" "$px_delete" "$rc_delete" "$(echo "$px_delete / $rc_delete" | bc -l)"
echo "VMIDs unique: $unique of $n; CTs per node: $per_node"
