#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine (run as root):
# LXC, podman + conmon + runc, catatonit, busybox-static, OpenSSH's server (the tests start their
# own on loopback), subordinate ids for unprivileged CTs, and podman ulimits within this machine's
# hard limits. prometheus for its promtool (tests/metrics.rs checks the exposition with it).
# cargo-deb, from crates.io, for the Debian package.
set -euo pipefail

pkgs=(lxc uidmap podman conmon runc catatonit busybox-static tar bc libseccomp-dev pkg-config
      openssh-server libssl-dev)
# Only its promtool is needed: without recommends (node exporter, smartmontools, ...).
bare=(prometheus)
missing=()
bare_missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for p in "${bare[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || bare_missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#bare_missing[@]} -gt 0 ]; then
    apt-get update -qq
    # No service may start from a package's postinst: the tests run their own sshd.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    if [ ${#missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [ ${#bare_missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${bare_missing[@]}" >/dev/null
    fi
    rm -f /usr/sbin/policy-rc.d
fi

for f in /etc/subuid /etc/subgid; do
    grep -q '^root:100000:65536$' "$f" 2>/dev/null || echo 'root:100000:65536' >> "$f"
done

# podman's default rlimits exceed the hard limits here; keep them within (nofile=20000 hard).
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
if ! grep -q '^default_ulimits' "$conf" 2>/dev/null; then
    if grep -q '^\[containers\]' "$conf" 2>/dev/null; then
        sed -i '/^\[containers\]/a default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' "$conf"
    else
        printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >> "$conf"
    fi
fi
mkdir -p /run/lock/lxc

# cargo-deb builds the Debian package (contrib/deb/build.sh; tests/package.rs builds, installs
# and purges it). Pinned: the test packages the dev profile's binaries, which cargo-deb accepts
# with a warning now and means to refuse in a later release (docs/packaging.md).
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked --version 3.8.0
fi
