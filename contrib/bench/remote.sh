#!/usr/bin/env bash
# Benchmark (not a test): the remote backends on pve-sim, reached through a private sshd and
# `pve-sim api` on loopback, against runc on the same bundle in the same run. Reports, per
# backend, the median create->start->exit->delete time with the template cached, the time of an
# uncached create (template packed and uploaded), and the API requests and SSH commands one
# lifecycle takes (counted from the runtime's debug log).
# Usage: contrib/bench/remote.sh [ROUNDS]   (root; after contrib/setup-host.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
. contrib/lib/sim-node.sh
rounds=${1:-5}
cargo build --workspace --release -q
bin=$PWD/target/release
work=$(mktemp -d /tmp/plx-rbench.XXXXXX)
chmod 755 "$work"
cleanup() {
    for cfg in ssh api; do
        for id in $(ls "$work/run-$cfg" 2>/dev/null); do
            "$bin/proxmox-lxcri" --root "$work/run-$cfg" --config "$work/$cfg.toml" delete -f "$id" >/dev/null 2>&1 || true
        done
    done
    for id in $(runc --root "$work/runc" list -q 2>/dev/null); do runc --root "$work/runc" delete -f "$id" >/dev/null 2>&1 || true; done
    stop_sim_node
    rm -rf "$work"
}
trap cleanup EXIT

# The node: pve-sim's pct and pvesm behind an sshd on loopback, and `pve-sim api`.
start_sim_node "$work" "$bin" bench
for backend in ssh api; do
    sim_node_config "$backend" bench "[920000, 920999]" > "$work/$backend.toml"
done

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/"{proc,sys,dev,etc,tmp}
cp /bin/busybox "$work/bundle/rootfs/bin/"; ln -s busybox "$work/bundle/rootfs/bin/true"; ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"readonly": true/"readonly": false/; s/"sh"$/"true"/' config.json)

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
rnc() { runc --root "$work/runc" "$@"; }
wait_stopped() { until "$@" 2>/dev/null | grep -q '"status": "stopped"'; do sleep 0.005; done; }

lifecycle() { # $1 = backend|runc, $2 = id, $3 = log file; prints microseconds
    local t0; t0=$(now)
    if [ "$1" = runc ]; then
        rnc create --bundle "$work/bundle" "$2" </dev/null >/dev/null 2>&1; rnc start "$2"
        wait_stopped rnc state "$2"; rnc delete "$2"
    else
        local p=("$bin/proxmox-lxcri" --root "$work/run-$1" --config "$work/$1.toml" --debug --log "$3")
        "${p[@]}" create --bundle "$work/bundle" "$2" </dev/null >/dev/null 2>&1
        "${p[@]}" start "$2"; wait_stopped "${p[@]}" state "$2"; "${p[@]}" delete "$2"
    fi
    echo $(( ($(now) - t0) / 1000 ))
}

echo "machine: $(nproc) cores, kernel $(uname -r), $(lxc-start --version | sed 's/^/lxc /'), $(runc --version | head -1)"
echo "rounds: $rounds; bundle: busybox-static ($(du -sk "$work/bundle/rootfs" | cut -f1) KiB)"
: > "$work/runc.life"
for i in $(seq "$rounds"); do lifecycle runc "r$i" x >> "$work/runc.life"; done
rl=$(median < "$work/runc.life")
printf '%-8s %16s %10s %18s %16s %14s %14s\n' backend "lifecycle(cached)" "vs runc" "create(uncached)" "create(cached)" "API requests" "SSH commands"
for backend in ssh api; do
    # Uncached: no template on the storage yet; time create alone.
    t0=$(now)
    "$bin/proxmox-lxcri" --root "$work/run-$backend" --config "$work/$backend.toml" create --bundle "$work/bundle" u \
        </dev/null >/dev/null 2>"$work/err" || { echo "$backend: create: $(cat "$work/err")" >&2; exit 1; }
    uncached=$(( ($(now) - t0) / 1000 ))
    "$bin/proxmox-lxcri" --root "$work/run-$backend" --config "$work/$backend.toml" delete -f u
    : > "$work/$backend.life"
    for i in $(seq "$rounds"); do
        log="$work/$backend-$i.log"
        lifecycle "$backend" "c$i" "$log" >> "$work/$backend.life"
    done
    # A create with the template cached, for comparison with the uncached one.
    t0=$(now)
    "$bin/proxmox-lxcri" --root "$work/run-$backend" --config "$work/$backend.toml" create --bundle "$work/bundle" k </dev/null >/dev/null 2>&1
    cached=$(( ($(now) - t0) / 1000 ))
    "$bin/proxmox-lxcri" --root "$work/run-$backend" --config "$work/$backend.toml" delete -f k
    # Requests of the last lifecycle (its log holds exactly one).
    api=$(grep -c ' debug api ' "$work/$backend-$rounds.log" || true)
    ssh=$(grep -cE ' debug ssh [^:]+: ' "$work/$backend-$rounds.log" || true)
    bl=$(median < "$work/$backend.life")
    printf '%-8s %13d us %9.1fx %15d us %13d us %14s %14s\n' "$backend" "$bl" "$(echo "$bl / $rl" | bc -l)" "$uncached" "$cached" "$api" "$ssh"
    "$bin/proxmox-lxcri" --root "$work/run-$backend" --config "$work/$backend.toml" images --prune >/dev/null
done
printf '%-8s %13d us\n' runc "$rl"
