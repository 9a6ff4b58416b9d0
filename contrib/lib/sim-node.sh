# Sourced by contrib/demo.sh and contrib/bench/{remote,cluster}.sh: a pve-sim node (or cluster)
# that the runtime reaches as a remote node, through an sshd on loopback (whose sessions run
# pve-sim's pct and pvesm) and `pve-sim api` (HTTPS, a token, a self-signed certificate). Needs
# root and openssh-server.

sim_node_pids=()

# start_sim_node WORK BIN NODE: state under WORK, binaries from BIN. Sets sim_port, sim_url,
# sim_fp (the API's certificate fingerprint) and writes WORK/{id,known_hosts,token}.
start_sim_node() {
    local work=$1 bin=$2 node=$3 b
    sim_work=$work
    mkdir -p "$work/node-bin" "$work/sim" /run/sshd
    for b in pct pvesm pveversion; do
        printf '#!/bin/sh\nexport PVE_SIM_ROOT=%s PVE_SIM_NODE=%s\nexec %s "$@"\n' "$work/sim" "$node" "$bin/$b" > "$work/node-bin/$b"
        chmod 755 "$work/node-bin/$b"
    done
    ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$work/id"
    echo "environment=\"PATH=$work/node-bin:/usr/sbin:/usr/bin:/sbin:/bin\" $(cat "$work/id.pub")" > "$work/authorized_keys"
    sim_port=$(( 40000 + RANDOM % 20000 ))
    cat > "$work/sshd_config" <<EOS
Port $sim_port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment yes
UsePAM no
PidFile none
StrictModes no
MaxStartups 100
MaxSessions 100
Subsystem sftp internal-sftp
LogLevel ERROR
EOS
    /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" & sim_node_pids+=($!)
    echo "[127.0.0.1]:$sim_port $(cat "$work/host_key.pub")" > "$work/known_hosts"
    local token="root@pam!ocirt=00000000-0000-0000-0000-000000000000"
    install -m 600 /dev/null "$work/token"
    echo "$token" > "$work/token"
    PVE_SIM_ROOT=$work/sim "$bin/pve-sim" api --listen 127.0.0.1:0 --nodes "$node" --token "$token" \
        --tls-dir "$work/tls" --auth-delay-ms 0 > "$work/api.out" & sim_node_pids+=($!)
    until [ -s "$work/api.out" ]; do sleep 0.05; done
    read -r _ _ sim_url _ sim_fp < "$work/api.out"
    until (exec 3<>/dev/tcp/127.0.0.1/$sim_port) 2>/dev/null; do sleep 0.05; done
}

# sim_node_config BACKEND NODE VMID_RANGE: a runtime config for that backend on stdout.
sim_node_config() {
    cat <<EOS
backend = "$1"
node = "$2"
storage = "local"
rootfs_storage = "local-lvm"
strict = false
vmid_range = $3
[pct]
pve_dir = "$sim_work/sim/etc/pve"
lxc_path = "$sim_work/sim/lxc"
[ssh]
host = "127.0.0.1"
port = $sim_port
identity = "$sim_work/id"
known_hosts = "$sim_work/known_hosts"
[api]
url = "$sim_url"
token_file = "$sim_work/token"
fingerprint = "$sim_fp"
EOS
}

stop_sim_node() {
    local p
    for p in "${sim_node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

# start_sim_cluster WORK BIN NODE...: a pve-sim cluster of the NODEs (the first is the API's
# local node, the others sorted by name), each with its own sshd at its own address
# (`pve-sim sshd`, node i at 127.0.0.{i+1}, one port), and `pve-sim api` on the first. Sets
# sim_port, sim_url, sim_fp and writes WORK/{id,known_hosts,token}. stop_sim_cluster ends it.
start_sim_cluster() {
    local work=$1 bin=$2 i=0 node addr list
    shift 2
    sim_work=$work
    mkdir -p "$work/sim/etc/pve/nodes" /run/sshd
    for node in "$@"; do mkdir -p "$work/sim/etc/pve/nodes/$node/lxc"; done
    ln -sfn "nodes/$1" "$work/sim/etc/pve/local"
    ssh-keygen -q -t ed25519 -N '' -f "$work/id"
    echo "$(cat "$work/id.pub")" > "$work/authorized_keys"
    sim_port=$(( 40000 + RANDOM % 20000 ))
    : > "$work/known_hosts"
    for node in "$@"; do
        addr=127.0.0.$(( i + 1 )); i=$(( i + 1 ))
        ssh-keygen -q -t ed25519 -N '' -f "$work/host_$node"
        echo "[$addr]:$sim_port $(cat "$work/host_$node.pub")" >> "$work/known_hosts"
        PVE_SIM_ROOT=$work/sim "$bin/pve-sim" sshd "$node" --listen "$addr:$sim_port" \
            --host-key "$work/host_$node" --authorized-keys "$work/authorized_keys" \
            --path "$bin:/usr/sbin:/usr/bin:/sbin:/bin" 2>>"$work/sshd.log" & sim_node_pids+=($!)
        timeout 10 bash -c "until (exec 3<>/dev/tcp/$addr/$sim_port) 2>/dev/null; do sleep 0.05; done" \
            || { echo "sshd of $node did not come up: $(cat "$work/sshd.log")" >&2; return 1; }
    done
    local token="root@pam!ocirt=00000000-0000-0000-0000-000000000000"
    install -m 600 /dev/null "$work/token"
    echo "$token" > "$work/token"
    list=$(IFS=,; echo "$*")
    PVE_SIM_ROOT=$work/sim "$bin/pve-sim" api --listen 127.0.0.1:0 --nodes "$list" --token "$token" \
        --tls-dir "$work/tls" --auth-delay-ms 0 > "$work/api.out" & sim_node_pids+=($!)
    timeout 10 sh -c "until [ -s '$work/api.out' ]; do sleep 0.05; done" \
        || { echo "pve-sim api did not come up" >&2; return 1; }
    read -r _ _ sim_url _ sim_fp < "$work/api.out"
}

# stop_sim_cluster BIN: the servers stopped, every process left on the nodes ended.
stop_sim_cluster() {
    stop_sim_node
    PVE_SIM_ROOT=$sim_work/sim timeout 30 "$1/pve-sim" node cleanup || true
}
