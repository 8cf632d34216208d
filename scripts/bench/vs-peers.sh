#!/usr/bin/env bash
# vs-peers.sh: PmemFs's FUSE path against the C peers and tmpfs, in one interleaved run (issue 14).
#
# Mounts, all backed by memory: tmpfs; libfuse 3.14's passthrough_hp over tmpfs, threaded and
# --single (its defaults: writeback cache, splice, attributes and names cached for a day);
# libfuse 3.14's passthrough_ll over tmpfs with its defaults ("ll": no writeback cache, 1 s
# timeouts) and tuned as the issue measured it ("ll-tuned": -s -o writeback,cache=always); and
# PmemFs with its defaults on a 1 GiB image in /dev/shm. Then runs scripts/bench/fsbench.sh over
# all of them (CPU per operation of application + daemon, mean, p99, p99.9), prints the ratio
# table of issue 14 (PmemFs against passthrough_hp, each row against its target, and ll-tuned
# against hp), and unmounts everything it mounted, also on failure. Targets run workload by
# workload, interleaved, so they see the same machine noise: compare the ratios in one table,
# not numbers across runs.
#
# Usage: scripts/bench/vs-peers.sh [fsbench options, e.g. --runtime 5 --files 10000 --out FILE]
#   PMEMFS: the pmemfs command (default: this checkout's scripts/pmemfs, so a branch can be
#   measured without installing it); PMEMFS_MOUNT_ARGS: extra `pmemfs mount` arguments;
#   PEERS: which C peers to mount, a subset of "hp hp-single ll ll-tuned" (default all four).
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
read -ra want <<<"${PEERS:-hp hp-single ll ll-tuned}"
for p in "${want[@]}"; do
    [[ "$p" =~ ^(hp|hp-single|ll|ll-tuned)$ ]] || { echo "vs-peers: unknown peer '$p' in PEERS (hp hp-single ll ll-tuned)" >&2; exit 2; }
done
mkdir -p "$base"/{mem,pmemfs}
mount -t tmpfs -o size=4G,mode=1777 pmemfs-vs-peers "$base/mem"; mounted+=("$base/mem")
mkdir -p "$base/mem/tmpfs"

daemon_of() { # MOUNTPOINT: the PID of the FUSE daemon whose command line names it
    local f p
    for f in /proc/[0-9]*/fd/*; do
        [[ "$(readlink "$f" 2>/dev/null)" == /dev/fuse ]] || continue
        p="${f#/proc/}" p="${p%%/*}"
        if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF "$1"; then echo "$p"; return; fi
    done
}

mount_peer() { # NAME: mounts that peer over its own directory of the tmpfs, on $base/NAME
    mkdir -p "$base/mem/$1" "$base/$1"
    mounted+=("$base/$1")
    case "$1" in
        hp) "$peers/passthrough_hp" "$base/mem/hp" "$base/hp" ;;
        hp-single) "$peers/passthrough_hp" --single "$base/mem/hp-single" "$base/hp-single" ;;
        ll) "$peers/passthrough_ll" -o "source=$base/mem/ll" "$base/ll" ;;
        ll-tuned) "$peers/passthrough_ll" -s -o "writeback,cache=always,source=$base/mem/ll-tuned" "$base/ll-tuned" ;;
    esac
}
for p in "${want[@]}"; do mount_peer "$p"; done
"${pmemfs[@]}" mkfs "$image" --size 1G --force --quiet
read -ra mount_args <<<"${PMEMFS_MOUNT_ARGS:-}"
mounted+=("$base/pmemfs")
"${pmemfs[@]}" mount "$image" "$base/pmemfs" "${mount_args[@]}" </dev/null

targets=(tmpfs="$base/mem/tmpfs")
for p in "${want[@]}" pmemfs; do
    pid="$(daemon_of "$base/$p")"
    [[ -n "$pid" ]] || { echo "vs-peers: the daemon of $base/$p was not found" >&2; exit 1; }
    targets+=("$p=$base/$p:$pid")
    echo "vs-peers: $p daemon $pid" >&2
done
echo "vs-peers: $("${pmemfs[@]}" --version 2>/dev/null | head -1)" >&2

# fsbench's table, kept for the ratios; --out FILE (if given) still gets it from fsbench.
report="$base/report.md"
"$repo/scripts/bench/fsbench.sh" "$@" "${targets[@]}" | tee "$report"
echo
"$repo/scripts/bench/peer-ratios.awk" "$report"
