#!/usr/bin/env bash
# gc-pauses.sh: what the PmemFs daemon's garbage collector does under each workload, beside the
# workload's tail latency (issue 14: "GC pauses measured"). The daemon is a .NET process; a
# collection stops every thread serving requests, so a pause lands in the latency of whatever is
# in flight. Around each fio job the script reads PMEMFS_IOC_DAEMON_STATS (`pmemfs info --json
# MOUNT`) and prints, per workload: operations, p99 / p99.9 / max completion latency, the
# collections during the job (gen0/gen1/gen2), their total pause, the longest pause the daemon
# has seen so far (marked * when it grew during this job), and bytes allocated per operation.
#
# Usage: scripts/bench/gc-pauses.sh [--runtime S] [--files N] [--size SIZE] [MOUNT]
#   MOUNT: an existing PmemFs mount to use; without it the script makes a 1 GiB image in
#   /dev/shm, mounts it (with $PMEMFS_MOUNT_ARGS), and unmounts and deletes it at the end.
#   PMEMFS: the pmemfs command (default: pmemfs on PATH, else this checkout's scripts/pmemfs).
# Needs fio and jq (installed with apt-get if missing, as root).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runtime=5 nfiles=10000 size=256M mnt=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runtime) runtime="$2"; shift ;;
        --files) nfiles="$2"; shift ;;
        --size) size="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "gc-pauses: unknown option $1 (try --help)" >&2; exit 2 ;;
        *) mnt="$1" ;;
    esac
    shift
done
if [[ -n "${PMEMFS:-}" ]]; then read -ra pmemfs <<<"$PMEMFS"
elif command -v pmemfs >/dev/null; then pmemfs=(pmemfs)
else pmemfs=("$repo/scripts/pmemfs"); fi
need=()
command -v fio >/dev/null || need+=(fio)
command -v jq >/dev/null || need+=(jq)
if [[ ${#need[@]} -gt 0 ]]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work="$(mktemp -d /tmp/gc-pauses.XXXXXX)" image="" own_mount=0
cleanup() {
    set +e
    [[ -n "$mnt" && -d "$mnt/gc-pauses.$$" ]] && rm -rf "$mnt/gc-pauses.$$"
    if [[ $own_mount -eq 1 ]]; then "${pmemfs[@]}" unmount "$mnt" >/dev/null 2>&1 || umount -l "$mnt"; rmdir "$mnt"; fi
    [[ -n "$image" ]] && rm -f "$image"
    rm -rf "$work"
}
trap cleanup EXIT
if [[ -z "$mnt" ]]; then
    image="/dev/shm/gc-pauses.$$.img" mnt="/tmp/gc-pauses-mnt.$$"
    mkdir -p "$mnt"
    "${pmemfs[@]}" mkfs "$image" --size 1G --force --quiet
    read -ra mount_args <<<"${PMEMFS_MOUNT_ARGS:-}"
    own_mount=1
    "${pmemfs[@]}" mount "$image" "$mnt" "${mount_args[@]}" </dev/null
fi
dir="$mnt/gc-pauses.$$"
mkdir "$dir"

stats() { # the daemon's counters as "gen0 gen1 gen2 pause_total_ns pause_max_ns allocated_bytes"
    "${pmemfs[@]}" info --json "$mnt" | jq -r '.daemon // empty | "\(.gen0Collections) \(.gen1Collections) \(.gen2Collections) \(.gcPauseTotalNs) \(.gcPauseMaxNs) \(.allocatedBytes)"'
}
[[ -n "$(stats)" ]] || { echo "gc-pauses: $mnt: the daemon does not answer PMEMFS_IOC_DAEMON_STATS (not PmemFs, or an older daemon)" >&2; exit 1; }

data=(--filename=gc.dat --size="$size" --fallocate=none)
meta=(--nrfiles="$nfiles" --filesize=4k --bs=4k --openfiles=1 --create_on_open=1 --invalidate=0 --file_service_type=sequential)
names=() args=()
wl() { names+=("$1"); args+=("${*:2}"); }
wl "seq write 1M psync"         "${data[@]}" --ioengine=psync --rw=write --bs=1M --overwrite=1 --time_based --runtime="$runtime"
wl "seq read 1M psync"          "${data[@]}" --ioengine=psync --rw=read --bs=1M --time_based --runtime="$runtime"
wl "rand read 4K psync x1"      "${data[@]}" --ioengine=psync --rw=randread --bs=4k --norandommap --time_based --runtime="$runtime"
wl "rand write 4K psync x1"     "${data[@]}" --ioengine=psync --rw=randwrite --bs=4k --norandommap --overwrite=1 --time_based --runtime="$runtime"
wl "rand write 4K+fdatasync x1" "${data[@]}" --ioengine=psync --rw=randwrite --bs=4k --norandommap --overwrite=1 --fdatasync=1 --time_based --runtime="$runtime"
wl "create ($nfiles files)"     "${meta[@]}" --ioengine=filecreate
wl "stat ($nfiles files)"       "${meta[@]}" --ioengine=filestat
wl "unlink ($nfiles files)"     "${meta[@]}" --ioengine=filedelete

echo "## gc-pauses $(date -u '+%Y-%m-%d %H:%M UTC') — $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $("${pmemfs[@]}" --version 2>/dev/null | head -1)"
echo
echo "| workload | ops | p99 µs | p99.9 µs | max µs | collections (g0/g1/g2) | paused ms | longest pause ms | allocated B/op |"
echo "|---|---:|---:|---:|---:|---|---:|---:|---:|"
for ((i = 0; i < ${#names[@]}; i++)); do
    read -ra a <<<"${args[i]}"
    [[ "${names[i]}" == stat* && -w /proc/sys/vm/drop_caches ]] && echo 2 >/proc/sys/vm/drop_caches
    read -r g0 g1 g2 pt pm al <<<"$(stats)"
    (cd "$work" && fio --name=job --directory="$dir" --output-format=json --output="$work/out.json" \
        --percentile_list=99:99.9 "${a[@]}" >"$work/fio.log" 2>&1) || { echo "gc-pauses: ${names[i]}: fio failed: $(head -3 "$work/fio.log")" >&2; exit 1; }
    read -r h0 h1 h2 qt qm bl <<<"$(stats)"
    read -r ops p99 p999 max <<<"$(jq -r '[.jobs[] | (.read.total_ios + .write.total_ios),
        ([.read.clat_ns.percentile["99.000000"] // 0, .write.clat_ns.percentile["99.000000"] // 0] | max),
        ([.read.clat_ns.percentile["99.900000"] // 0, .write.clat_ns.percentile["99.900000"] // 0] | max),
        ([.read.clat_ns.max // 0, .write.clat_ns.max // 0, .sync.lat_ns.max // 0] | max)] | map(tostring) | join(" ")' "$work/out.json")"
    [[ "$ops" -gt 0 ]] || ops=1
    awk -v n="${names[i]}" -v ops="$ops" -v p99="$p99" -v p999="$p999" -v max="$max" \
        -v d0=$((h0 - g0)) -v d1=$((h1 - g1)) -v d2=$((h2 - g2)) -v pt=$((qt - pt)) -v pm="$qm" -v grew=$((qm > pm)) -v al=$((bl - al)) \
        'BEGIN { lat = p99 > 0 ? sprintf("%.0f | %.0f", p99 / 1000, p999 / 1000) : "- | -"
                 printf "| %s | %d | %s | %.0f | %d/%d/%d | %.1f | %.1f%s | %.1f |\n", n, ops, lat, max / 1000, d0, d1, d2, pt / 1e6, pm / 1e6, grew ? "*" : "", al / ops }'
    [[ "${names[i]}" == *write*fdatasync* ]] && rm -f "$dir/gc.dat"
done
echo
echo "Longest pause: since the daemon started (* = it grew during that workload). Allocation is counted per thread in steps of a few KiB."
