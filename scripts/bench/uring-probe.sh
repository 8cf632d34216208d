#!/usr/bin/env bash
# uring-probe.sh: what FUSE over io_uring saves per request on this machine (issue 14), measured
# with libfuse's own implementation: libfuse 3.18 (Debian's fuse3 3.18 source, from sid; it has
# `-o io_uring`) builds example/passthrough_hp, which serves two tmpfs directories, one over
# /dev/fuse and one over io_uring, both with every request reaching the daemon (--nocache,
# --direct-io, --nopassthrough, --single); scripts/bench/fsbench.sh then runs 4 KiB random
# reads and writes, create and stat on both, interleaved, twice in both orders.
# Sets /sys/module/fuse/parameters/enable_uring to Y for the run and back to what it was; removes
# the deb-src entry it adds; unmounts everything it mounted.
# Usage: scripts/bench/uring-probe.sh [fsbench options]   (root; needs the Debian archive)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="/var/cache/pmemfs-bench/libfuse-3.18"
param=/sys/module/fuse/parameters/enable_uring
[[ -w "$param" ]] || { echo "uring-probe: $param missing or not writable (kernel without CONFIG_FUSE_IO_URING, or not root)" >&2; exit 1; }
was="$(cat "$param")"
base="/tmp/pmemfs-uring-probe.$$"
src_list=/etc/apt/sources.list.d/pmemfs-bench-sid-src.sources
cleanup() {
    umount "$base/plain" "$base/uring" 2>/dev/null || true
    umount "$base/mem" 2>/dev/null || true
    rm -rf "$base" "$src_list"
    echo "$was" >"$param" 2>/dev/null || true
}
trap cleanup EXIT

if [[ ! -x "$work/build/example/passthrough_hp" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liburing-dev libnuma-dev meson ninja-build pkg-config dpkg-dev g++ >&2
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$src_list"
    apt-get update -qq >&2
    version="$(apt-cache showsrc fuse3 | awk '/^Version: 3\.1[89]/ { print $2; exit }')"
    [[ -n "$version" ]] || { echo "uring-probe: no fuse3 >= 3.18 source in the archive" >&2; exit 1; }
    mkdir -p "$work.src" && (cd "$work.src" && apt-get source -qq --download-only "fuse3=$version" >&2)
    rm -rf "$work" && mkdir -p "$work" && tar xzf "$work.src"/fuse3_*.orig.tar.gz -C "$work" --strip-components=1
    (cd "$work" && meson setup build -Dexamples=true -Dutils=false -Dtests=false --buildtype=release >&2 && ninja -C build >&2)
fi
echo Y >"$param"
hp() { LD_LIBRARY_PATH="$work/build/lib" "$work/build/example/passthrough_hp" --nopassthrough --nocache --direct-io --single "$@"; }
mkdir -p "$base"/{mem,plain,uring}
mount -t tmpfs -o size=1G pmemfs-uring-probe "$base/mem"
mkdir -p "$base/mem/plain" "$base/mem/uring"
hp "$base/mem/plain" "$base/plain"
hp -o io_uring "$base/mem/uring" "$base/uring"
pid_of() { pgrep -f -- "passthrough_hp .* $1\$" | head -1; }
p1="$(pid_of "$base/plain")" p2="$(pid_of "$base/uring")"
ls -l "/proc/$p2/fd" | grep -q io_uring || { echo "uring-probe: the io_uring mount did not start io_uring" >&2; exit 1; }
args=(--size 64M --files 5000 --workloads 'rand (read|write) 4K psync x1|stat|create' "$@")
"$repo/scripts/bench/fsbench.sh" "${args[@]}" devfuse="$base/plain:$p1" io_uring="$base/uring:$p2"
"$repo/scripts/bench/fsbench.sh" "${args[@]}" io_uring="$base/uring:$p2" devfuse="$base/plain:$p1"
