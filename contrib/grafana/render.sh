#!/usr/bin/env bash
# Renders contrib/grafana/proxmox-lxcri.json from real data into a PNG (docs/img/dashboard.png):
# a two-node pve-sim cluster (api backend) plus local pct CTs on its first node, a pod of two
# containers sharing a network namespace, a remote container, and a loop of runtime operations
# (some failing on purpose); `proxmox-lxcri metrics --listen` scraped every 5 s by Debian's
# Prometheus on loopback; then every panel's PromQL evaluated by that Prometheus and drawn by
# contrib/grafana/render (uPlot) in headless Chromium. Grafana is in none of the registries this
# project can use, so the picture is this renderer's, not Grafana's.
# Everything it starts (CTs, servers, the netns, the temp dir) is removed on exit, also on failure.
# Usage: contrib/grafana/render.sh OUT.png   (root; after contrib/setup-host.sh)
# PLX_RENDER_SECONDS: how long the workload runs (default 240); PLX_RENDER_BIN: use the binaries
# in that directory instead of building.
set -euo pipefail
out=$(realpath -m "${1:?usage: contrib/grafana/render.sh OUT.png}")
cd "$(dirname "$0")/../.."
repo=$PWD
. contrib/lib/sim-node.sh
seconds=${PLX_RENDER_SECONDS:-240}
scrape=5
for t in prometheus chromium node npm; do
    command -v "$t" >/dev/null || { echo "render: $t missing (Debian packages prometheus, chromium, nodejs, npm)" >&2; exit 1; }
done
if [ -z "${PLX_RENDER_BIN:-}" ]; then
    cargo build --workspace -q
fi
bin=${PLX_RENDER_BIN:-$repo/target/debug}
(cd contrib/grafana/render && [ -d node_modules/uplot ] || npm ci --no-audit --no-fund -q)

# VMIDs above every test's range (tests/common/mod.rs) in this checkout's slot: CT cgroups are global.
slot=${PROXMOX_LXCRI_TEST_SLOT:-0}
base=$(( 950000 + slot * 1000000 ))
work=$(mktemp -d /tmp/plx-grafana.XXXXXX)
chmod 755 "$work"
netns=plx-grafana-$$
pids=()

plx() { "$bin/proxmox-lxcri" --root "$work/run" --config "$work/pct.toml" "$@"; }
api() { "$bin/proxmox-lxcri" --root "$work/run" --config "$work/api.toml" "$@"; }
pct_on() { PVE_SIM_ROOT=$work/sim PVE_SIM_NODE=$1 timeout 60 "$bin/pct" "${@:2}"; }

cleanup() {
    local rc=$? id p node v
    trap - EXIT INT TERM
    echo "render: cleaning up" >&2
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for id in $(ls "$work/run" 2>/dev/null | grep -v '^\.'); do
        if [ -e "$work/remote-ids/$id" ]; then
            timeout 60 "$bin/proxmox-lxcri" --root "$work/run" --config "$work/api.toml" delete -f "$id" >/dev/null 2>&1 || true
        else
            timeout 60 "$bin/proxmox-lxcri" --root "$work/run" --config "$work/pct.toml" delete -f "$id" >/dev/null 2>&1 || true
        fi
    done
    for node in pve1 pve2; do
        for v in $(pct_on "$node" list 2>/dev/null | awk 'NR > 1 {print $1}'); do
            pct_on "$node" stop "$v" >/dev/null 2>&1 || true
            pct_on "$node" destroy "$v" --force 1 --purge 1 >/dev/null 2>&1 || true
        done
    done
    [ -z "${sim_work:-}" ] || stop_sim_cluster "$bin" >/dev/null 2>&1
    ip netns del "$netns" 2>/dev/null || true
    # Anything still running from the temp dir is ours and a bug of this script: say so, end it.
    for p in $(pgrep -f -- "$work/" || true); do
        echo "render: left running: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" >&2
        kill "$p" 2>/dev/null || true
    done
    # LXC's lock directory for the sim's container paths, which LXC never removes.
    rm -rf "$work" "/run/lxc/lock$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 20000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

echo "render: pve-sim cluster pve1, pve2" >&2
start_sim_cluster "$work" "$bin" pve1 pve2
sim_node_config api pve2 "[$((base + 100)), $((base + 199))]" > "$work/api.toml"
for b in pct pveversion; do
    printf '#!/bin/sh\nexport PVE_SIM_ROOT=%s PVE_SIM_NODE=pve1\nexec %s "$@"\n' "$work/sim" "$bin/$b" > "$work/$b"
    chmod 755 "$work/$b"
done
cat > "$work/pct.toml" <<EOS
node = "pve1"
vmid_range = [$base, $((base + 99))]
unprivileged = false
init_path = "$bin/proxmox-lxcri-init"
[pct]
path = "$work/pct"
pveversion = "$work/pveversion"
pve_dir = "$work/sim/etc/pve"
lxc_path = "$work/sim/lxc"
dpkg_status = "$work/no-dpkg-status"
EOS
for c in pct api; do
    printf 'init_path = "%s"\n%s\n[audit]\npath = "%s"\n' "$bin/proxmox-lxcri-init" \
        "$(grep -v '^init_path' "$work/$c.toml")" "$work/audit.jsonl" > "$work/$c.toml.new"
    mv "$work/$c.toml.new" "$work/$c.toml"
done
mkdir -p "$work/remote-ids"

# bundle NAME SCRIPT [MEMORY_LIMIT [NETNS]]: a busybox bundle whose process runs `sh -c SCRIPT`.
bundle() {
    local b=$work/bundles/$1
    mkdir -p "$b/rootfs/bin" "$b/rootfs/"{proc,sys,dev,etc,tmp,www,var/tmp}
    cp /bin/busybox "$b/rootfs/bin/"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$b/rootfs/bin/$a"; done
    head -c 262144 /dev/urandom > "$b/rootfs/www/blob"
    (cd "$b" && runc spec)
    python3 - "$b/config.json" "$2" "${3:-}" "${4:-}" "$1" <<'EOP'
import json, sys
path, script, limit, netns, name = sys.argv[1:]
s = json.load(open(path))
s["process"]["terminal"] = False
s["process"]["args"] = ["sh", "-c", script]
s["root"]["readonly"] = False
if limit:
    s["linux"]["resources"] = {"memory": {"limit": int(limit), "swap": int(limit)}}
if netns:
    s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "network"]
    s["linux"]["namespaces"].append({"type": "network", "path": f"/run/netns/{netns}"})
    s["annotations"] = {"io.kubernetes.pod.name": "shop", "io.kubernetes.pod.namespace": "default",
                        "io.kubernetes.cri-o.SandboxID": "5a1d" * 16,
                        "io.kubernetes.container.name": name}
json.dump(s, open(path, "w"), indent=2)
EOP
}

echo "render: the pod (web, worker), a batch job, a standby and a remote container" >&2
ip netns add "$netns"
ip -n "$netns" link set lo up
bundle web 'httpd -f -p 8080 -h /www' "" "$netns"
bundle worker 'cache=$(head -c 12000000 /dev/zero | tr "\\0" x); n=0; while :; do
  n=$((n + 1))
  for i in 1 2 3 4 5 6 7 8; do wget -q -O /dev/null http://127.0.0.1:8080/blob; done
  i=0; while [ $i -lt 3000 ]; do i=$((i + 1)); done
  [ $((n % 10)) = 0 ] && dd if=/dev/zero of=/var/tmp/spool bs=1M count=24 oflag=direct 2>/dev/null
  [ $((n % 45)) = 0 ] && dd if=/dev/zero of=/dev/null bs=96M count=1 2>/dev/null
  sleep 1
done' $((64 * 1024 * 1024)) "$netns"
bundle batch 'echo report done; sleep 3'
bundle job 'echo tick; sleep 1'
bundle db 'while :; do dd if=/dev/zero of=/tmp/wal bs=1M count=8 oflag=direct 2>/dev/null; sleep 4; done'
for id in web worker batch standby; do
    b=$id; [ "$id" = standby ] && b=job
    plx create --bundle "$work/bundles/$b" "$id" </dev/null >/dev/null 2>"$work/$id.err" \
        || { echo "render: create $id: $(cat "$work/$id.err")" >&2; exit 1; }
done
plx start web; plx start worker; plx start batch
: > "$work/remote-ids/db"
api create --bundle "$work/bundles/db" db </dev/null >/dev/null 2>"$work/db.err" \
    || { echo "render: create db: $(cat "$work/db.err")" >&2; exit 1; }
api start db

port=$(free_port)
# The binary itself, not the api function: $! must be the exporter's pid for the cleanup's kill.
"$bin/proxmox-lxcri" --root "$work/run" --config "$work/api.toml" metrics --listen "127.0.0.1:$port" \
    2>"$work/metrics.err" & pids+=($!)
pport=$(free_port)
mkdir -p "$work/prom"
cat > "$work/prom/prometheus.yml" <<EOS
global:
  scrape_interval: ${scrape}s
  evaluation_interval: ${scrape}s
scrape_configs:
  - job_name: proxmox-lxcri
    static_configs:
      - targets: ["127.0.0.1:$port"]
        labels:
          host: pve1
EOS
prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn 2>"$work/prom/log" & pids+=($!)
timeout 30 bash -c "until curl -sf http://127.0.0.1:$pport/-/ready >/dev/null; do sleep 0.5; done" \
    || { echo "render: prometheus did not start: $(cat "$work/prom/log")" >&2; exit 1; }
start=$(date +%s)

# The runtime's operations, as a node running short jobs sees them; a few fail on purpose.
workload() {
    local n=0 id=job moved=0
    while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
        n=$((n + 1))
        if plx create --bundle "$work/bundles/job" "$id" </dev/null >/dev/null 2>&1; then
            plx start "$id" || true
            plx state "$id" >/dev/null || true
            timeout 20 bash -c "until $bin/proxmox-lxcri --root $work/run --config $work/pct.toml state $id 2>/dev/null | grep -q '\"stopped\"'; do sleep 0.3; done" || true
            plx delete -f "$id" || true
        fi
        plx exec worker true || true
        plx list >/dev/null || true
        plx events --stats worker >/dev/null || true
        api state db >/dev/null || true
        # Restart migrations of the remote container, there and back: two restarts.
        if [ "$moved" = 0 ] && [ $(( $(date +%s) - start )) -ge $((seconds / 3)) ]; then
            api migrate db pve1 && moved=1
        elif [ "$moved" = 1 ] && [ $(( $(date +%s) - start )) -ge $((seconds * 2 / 3)) ]; then
            api migrate db pve2 && moved=2
        fi
        case $((n % 4)) in
            0) plx state "no-such-$n" >/dev/null 2>&1 || true ;;
            1) plx create --bundle "$work/bundles/missing" "bad-$n" </dev/null >/dev/null 2>&1 || true ;;
            2) plx kill web NOSIG >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
}
echo "render: workload and scrapes for $seconds s (Prometheus on 127.0.0.1:$pport)" >&2
workload >"$work/workload.log" 2>&1
end=$(( $(date +%s) - scrape ))
sleep $((scrape * 2))

echo "render: drawing" >&2
size=$(node contrib/grafana/render/render.mjs --dashboard contrib/grafana/proxmox-lxcri.json \
    --prom "http://127.0.0.1:$pport" --start "$start" --end "$end" --scrape "$scrape" --out "$work/page")
mkdir -p "$(dirname "$out")" "$work/chromium"
# --virtual-time-budget: the screenshot waits until the page's scripts have drawn.
TZ=UTC timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$work/chromium" --window-size="${size/ /,}" --virtual-time-budget=5000 \
    --screenshot="$out" "file://$work/page/page.html" >"$work/chromium.log" 2>&1 \
    || { echo "render: chromium failed: $(tail -5 "$work/chromium.log")" >&2; exit 1; }
echo "render: wrote $out" >&2
