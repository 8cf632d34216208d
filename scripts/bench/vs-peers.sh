#!/usr/bin/env bash
# vs-peers.sh: PmemFs's FUSE path against the C peers and tmpfs, in one interleaved run (issue 14).
#
# Mounts, all backed by memory: tmpfs; libfuse 3.14's passthrough_hp over tmpfs, threaded and
# --single (its defaults: writeback cache, splice, attributes and names cached for a day); and
# PmemFs with its defaults on a 1 GiB image in /dev/shm. Then runs scripts/bench/fsbench.sh over
# all of them (CPU per operation of application + daemon, mean, p99, p99.9) and unmounts
# everything it mounted, also on failure. Targets run workload by workload, interleaved, so
# they see the same machine noise: compare the ratios in one table, not numbers across runs.
#
# Usage: scripts/bench/vs-peers.sh [fsbench options, e.g. --runtime 5 --files 10000 --out FILE]
#   PMEMFS: the pmemfs command (default: this checkout's scripts/pmemfs, so a branch can be
#   measured without installing it); PMEMFS_MOUNT_ARGS: extra `pmemfs mount` arguments.
# Needs root (mounts; scripts/bench/peers.sh builds the peers from Debian's fuse3 source).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -n "${PMEMFS:-}" ]]; then read -ra pmemfs <<<"$PMEMFS"; else pmemfs=("$repo/scripts/pmemfs"); fi
peers="$("$repo/scripts/bench/peers.sh")"

base="/tmp/pmemfs-vs-peers.$$"
image="/dev/shm/pmemfs-vs-peers.$$.img"
mounted=()
cleanup() {
    local m
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        m="${mounted[i]}"
        if [[ "$m" == "$base/pmemfs" ]]; then "${pmemfs[@]}" unmount "$m" >/dev/null 2>&1 || umount -l "$m" 2>/dev/null || true
        else umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; fi
    done
    rm -f "$image"
    rm -rf "$base" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$base"/{mem,hp,hp-single,pmemfs}
mount -t tmpfs -o size=3G,mode=1777 pmemfs-vs-peers "$base/mem"; mounted+=("$base/mem")
mkdir -p "$base/mem"/{tmpfs,hp,hp-single}

daemon_of() { # MOUNTPOINT: the PID of the FUSE daemon whose command line names it
    local f p
    for f in /proc/[0-9]*/fd/*; do
        [[ "$(readlink "$f" 2>/dev/null)" == /dev/fuse ]] || continue
        p="${f#/proc/}" p="${p%%/*}"
        if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF "$1"; then echo "$p"; return; fi
    done
}

"$peers/passthrough_hp" "$base/mem/hp" "$base/hp"; mounted+=("$base/hp")
"$peers/passthrough_hp" --single "$base/mem/hp-single" "$base/hp-single"; mounted+=("$base/hp-single")
"${pmemfs[@]}" mkfs "$image" --size 1G --force --quiet
read -ra mount_args <<<"${PMEMFS_MOUNT_ARGS:-}"
mounted+=("$base/pmemfs")
"${pmemfs[@]}" mount "$image" "$base/pmemfs" "${mount_args[@]}" </dev/null

hp="$(daemon_of "$base/hp")" hps="$(daemon_of "$base/hp-single")" pm="$(daemon_of "$base/pmemfs")"
[[ -n "$hp" && -n "$hps" && -n "$pm" ]] || { echo "vs-peers: a daemon PID was not found (hp '$hp', hp-single '$hps', pmemfs '$pm')" >&2; exit 1; }
echo "vs-peers: passthrough_hp $hp, passthrough_hp --single $hps, pmemfs $pm ($("${pmemfs[@]}" --version 2>/dev/null | head -1))" >&2
"$repo/scripts/bench/fsbench.sh" "$@" tmpfs="$base/mem/tmpfs" hp="$base/hp:$hp" hp-single="$base/hp-single:$hps" pmemfs="$base/pmemfs:$pm"
