#!/usr/bin/env bash
# The main job on a fresh machine: build, start a pve-sim node, run a busybox container through
# the runtime directly and through podman, and show what happened on the "Proxmox" side; then
# the same container on a "remote" node through the REST API (pve-sim api + SSH for its I/O).
set -euo pipefail
cd "$(dirname "$0")/.."
. contrib/lib/sim-node.sh
contrib/setup-host.sh
cargo build --workspace --release -q
bin=$PWD/target/release

work=$(mktemp -d /tmp/proxmox-lxcri-demo.XXXXXX)
cleanup() {
    "$bin/proxmox-lxcri" --root "$work/run" --config "$work/config.toml" delete --force demo 2>/dev/null || true
    podman rm -f plx-demo >/dev/null 2>&1 || true
    for v in $("$work/pct" list 2>/dev/null | awk 'NR>1 {print $1}'); do
        "$work/pct" destroy "$v" --force 1 --purge 1 >/dev/null 2>&1 || true
    done
    "$bin/proxmox-lxcri" --root "$work/run-api" --config "$work/api.toml" delete --force far 2>/dev/null || true
    stop_sim_node
    rm -rf "$work"
}
trap cleanup EXIT

# A pve-sim node: its own /etc/pve and LXC path under $work/sim.
for b in pct pveversion; do
    cat > "$work/$b" <<EOS
#!/bin/sh
export PVE_SIM_ROOT=$work/sim PVE_SIM_NODE=demo
exec $bin/$b "\$@"
EOS
    chmod 755 "$work/$b"
done
cat > "$work/config.toml" <<EOS
node = "demo"
vmid_range = [900100, 900199]
unprivileged = false
[pct]
path = "$work/pct"
pveversion = "$work/pveversion"
pve_dir = "$work/sim/etc/pve"
lxc_path = "$work/sim/lxc"
EOS

# A bundle from busybox-static, with runc's default spec.
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/"{proc,sys,dev,etc,tmp}
cp /bin/busybox "$work/bundle/rootfs/bin/"
for a in sh echo hostname cat sleep; do ln -s busybox "$work/bundle/rootfs/bin/$a"; done
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"readonly": true/"readonly": false/' config.json \
    && sed -i 's/"sh"$/"sh", "-c", "echo hello from CT $(hostname) as pid $$; exit 3"/' config.json)

rt() { "$bin/proxmox-lxcri" --root "$work/run" --config "$work/config.toml" "$@"; }
echo "== proxmox-lxcri doctor: what the pct backend needs on this node"
"$work/pct" list >/dev/null   # the sim lays out its /etc/pve (pmxcfs on a node) on first use
rt doctor
echo "== proxmox-lxcri create/start/state on pve-sim"
rt create --bundle "$work/bundle" --pid-file "$work/pid" demo
rt state demo | grep -E '"(status|pid)"'
echo "== the CT as Proxmox sees it"
"$work/pct" list
"$work/pct" config "$(rt list -f json | sed -n 's/.*"vmid":\([0-9]*\).*/\1/p')"
rt start demo
sleep 1
rt state demo | grep -E '"(status|pid)"'
rt delete demo
echo "== podman run --rm through conmon"
tar -C "$work/bundle/rootfs" -c . | podman import -q - localhost/plx-busybox >/dev/null
set +e
podman --runtime "$bin/proxmox-lxcri" --runtime-flag "config=$work/config.toml" run --rm --name plx-demo \
    localhost/plx-busybox sh -c 'echo hi from podman in a Proxmox CT; exit 7'
echo "podman exit status: $? (the workload's)"
set -e
echo "== CTs left on the node (none expected):"
"$work/pct" list

echo "== the same bundle on a remote node: backend = \"api\" (REST API + SSH for process I/O)"
mkdir -p "$work/remote"
chmod 755 "$work" "$work/remote"
start_sim_node "$work/remote" "$bin" far-node
sim_node_config api far-node "[900200, 900299]" > "$work/api.toml"
api() { "$bin/proxmox-lxcri" --root "$work/run-api" --config "$work/api.toml" "$@"; }
echo "== proxmox-lxcri doctor: the API, the token's privileges, storages, SSH"
api doctor
api create --bundle "$work/bundle" far </dev/null
api list --cluster
api start far
until api state far | grep -q '"status": "stopped"'; do sleep 0.1; done
api images
api delete far
api images --prune
