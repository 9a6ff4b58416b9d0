#!/usr/bin/env bash
# Builds the Debian package proxmox-lxcri_<version>-1_amd64.deb (docs/packaging.md) with
# cargo-deb: the runtime and the static init, then the files the package holds that the build
# makes (target/deb-assets/: shell completions from the binary; the systemd units and the CRI-O
# drop-in of contrib/ with the package's /usr/bin/proxmox-lxcri in place of /usr/local/bin),
# then `cargo deb`. Prints the .deb's path.
#   --profile P   cargo profile to build (default release)
#   --no-build    package the binaries already built for that profile
#   --output DIR  where the .deb goes (default target/debian)
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release build=yes output=target/debian
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=${2:?--profile needs a value}; shift 2 ;;
        --no-build) build=no; shift ;;
        --output) output=${2:?--output needs a value}; shift 2 ;;
        *) echo "contrib/deb/build.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if ! command -v cargo-deb >/dev/null; then
    echo "contrib/deb/build.sh: cargo-deb is missing: cargo install cargo-deb --locked" >&2
    exit 1
fi
# cargo puts the dev profile's output in debug/, every other profile's in a directory of its name.
bin=${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")
if [ "$build" = yes ]; then
    cargo build --locked --profile "$profile" -p proxmox-lxcri -p proxmox-lxcri-init
fi
for b in proxmox-lxcri proxmox-lxcri-init; do
    [ -x "$bin/$b" ] || { echo "contrib/deb/build.sh: $bin/$b is missing: build it first" >&2; exit 1; }
done

gen=target/deb-assets
rm -rf "$gen"
mkdir -p "$gen/completions" "$gen/systemd" "$gen/crio"
for sh in bash zsh fish; do
    "$bin/proxmox-lxcri" completion "$sh" >"$gen/completions/proxmox-lxcri.$sh"
done
to_usr_bin() { sed 's|/usr/local/bin/proxmox-lxcri|/usr/bin/proxmox-lxcri|g' "$1" >"$2"; }
for f in contrib/systemd/*; do
    to_usr_bin "$f" "$gen/systemd/${f##*/}"
done
to_usr_bin contrib/crio/50-proxmox-lxcri.conf "$gen/crio/50-proxmox-lxcri.conf"
if grep -rq /usr/local/bin/proxmox "$gen"; then
    echo "contrib/deb/build.sh: $gen still names /usr/local/bin: $(grep -rl /usr/local/bin/proxmox "$gen" | tr '\n' ' ')" >&2
    exit 1
fi

mkdir -p "$output"
cargo deb --no-build --profile "$profile" -p proxmox-lxcri --output "$output"
