#!/usr/bin/env bash
# peers.sh: builds the C peers PmemFs's FUSE path is measured against (issue 14), from Debian's
# own source of the libfuse the machine runs (fuse3 3.14): example/passthrough_hp.cc and
# example/passthrough_ll.c, linked against the installed libfuse3. Prints the directory holding
# passthrough_hp and passthrough_ll. Idempotent: an existing build is reused.
#
# Usage: scripts/bench/peers.sh [DIR]    (default /var/cache/pmemfs-bench/peers)
# Needs root (apt-get): adds a deb-src entry for the installed Debian release if none exists,
# and removes it again at the end.
set -euo pipefail
out="${1:-/var/cache/pmemfs-bench/peers}"
if [[ -x "$out/passthrough_hp" && -x "$out/passthrough_ll" ]]; then echo "$out"; exit 0; fi
mkdir -p "$out"

need=()
command -v g++ >/dev/null || need+=(g++)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists fuse3 2>/dev/null || need+=(libfuse3-dev)
src_list=/etc/apt/sources.list.d/pmemfs-bench-src.sources
src="$(mktemp -d)"
trap 'rm -rf "$src"; [[ -n "${added_src:-}" ]] && rm -f "$src_list"' EXIT
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    added_src=1
    # shellcheck disable=SC1091
    codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$codename" >"$src_list"
    updated=0
else
    updated=1
fi
if [[ ${#need[@]} -gt 0 || $updated -eq 0 ]]; then
    apt-get update -qq >&2
    [[ ${#need[@]} -gt 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

(cd "$src" && apt-get source -qq fuse3 >&2 2>/dev/null)
ex="$(echo "$src"/fuse3-*/example)"
[[ -f "$ex/passthrough_hp.cc" ]] || { echo "peers.sh: no example/passthrough_hp.cc in Debian's fuse3 source" >&2; exit 1; }
g++ -std=c++17 -O2 -o "$out/passthrough_hp" "$ex/passthrough_hp.cc" $(pkg-config --cflags --libs fuse3) -lpthread
gcc -O2 -o "$out/passthrough_ll" "$ex/passthrough_ll.c" $(pkg-config --cflags --libs fuse3)
echo "$out"
