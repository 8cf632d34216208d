#!/usr/bin/env bash
# fsbench: file-system benchmark of any mounted directories, in one run, printed as a markdown table.
#
# What it measures, per target directory (one row per workload and target):
#   - fio sequential 1 MiB read and write, ioengine psync and ioengine mmap;
#   - fio random 4 KiB read and random 4 KiB write, psync, numjobs 1 and 2 (one shared file);
#   - fio random 4 KiB write with fdatasync after every write (psync);
#   - create, stat and unlink of N empty files (fio's filecreate / filestat / filedelete engines;
#     stat runs with cold dentry/inode caches: it drops them with vm.drop_caches=2 when root).
# For each row: throughput (MiB/s for sequential rows, ops/s otherwise), mean latency, and CPU time
# per operation: the application's (fio's own usr+sys, which includes the kernel work done in
# its context, e.g. the FUSE request round trip) plus the file-system daemon's (utime+stime of
# its /proc/PID/stat, all threads, taken between fio's exec_prerun and exec_postrun hooks, so
# file layout and start-up are left out), divided by the number of operations.
#
# Why CPU per operation: this project's machines have 2 cores and are shared and noisy, so
# throughput and latency move with the neighbours' load; CPU time spent per operation is
# what a file system costs and is far more stable. Compare CPU per op and same-run ratios (the
# targets run interleaved, workload by workload, so they see the same noise), not raw MiB/s.
#
# Usage:
#   scripts/bench/fsbench.sh [options] LABEL=DIR[:PID[,PID...]] [--daemon-pid PID[,PID...]] ...
#   scripts/bench/fsbench.sh [options] --pmemfs-and-tmpfs [LABEL=DIR ...]
#     e.g. fsbench.sh pmemfs=/mnt/pmemfs --daemon-pid 1234 tmpfs=/tmp/tmpfsdir
#          fsbench.sh pmemfs=/mnt/pmemfs:1234 tmpfs=/tmp/tmpfsdir          (the same)
#   A daemon PID belongs to one target: write it after the directory (":PID") or as
#   "--daemon-pid PID" right after that target. Targets without one (tmpfs, ext4) get "-" in the
#   daemon column and total = application CPU. Several PIDs (comma-separated) are summed.
#
# Options:
#   --size SIZE        file size for the data workloads (default 256M; fio syntax)
#   --runtime S        measured seconds per fio job (default 5)
#   --ramp S           warm-up seconds per data job, in a separate unmeasured fio run on the
#                      same file (it also lays the file out) (default 1; 0 = none)
#   --files N          files for create / stat / unlink (default 10000)
#   --direct           direct=1 (O_DIRECT) for the data jobs; default direct=0 (page cache)
#   --workloads REGEX  run only workloads whose name matches (grep -E), e.g. 'rand|create'
#   --out FILE         also write the report to FILE
#   -v, --verbose      per-row raw numbers on stderr
#   --pmemfs-and-tmpfs mkfs a 1 GiB pmemfs image in /dev/shm, `pmemfs mount` it, mount a tmpfs,
#                      benchmark both (plus any LABEL=DIR given), then unmount and delete all.
#                      pmemfs is $PMEMFS, else `pmemfs` on PATH, else scripts/pmemfs from the
#                      checkout; extra mount arguments in $PMEMFS_MOUNT_ARGS.
#
# Needs fio and jq (installed with apt-get if missing and running as root), getconf, awk.
# Works in DIR/fsbench.PID (a new subdirectory, removed at the end, also on failure).
# Limits: daemon CPU comes in clock ticks (getconf CLK_TCK, usually 10 ms), so short rows
# (create/stat/unlink on a fast target) carry about +-10 ms / N of error; CPU spent by kernel
# threads (writeback of mmap'ed pages, kworkers) is in neither column.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

size=256M runtime=5 ramp=1 nfiles=10000 direct=0 out="" verbose=0 filter="" both=0
labels=() dirs=() pids=()

die() { echo "fsbench: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
add_target() { # LABEL=DIR[:PIDS]
    local spec="$1" label dir pid=""
    label="${spec%%=*}" dir="${spec#*=}"
    [[ -n "$label" && -n "$dir" && "$label" != "$spec" ]] || die "bad target '$spec' (want LABEL=DIR[:PID])"
    if [[ "$dir" =~ ^(.*):([0-9]+(,[0-9]+)*)$ ]]; then dir="${BASH_REMATCH[1]}" pid="${BASH_REMATCH[2]}"; fi
    labels+=("$label") dirs+=("$dir") pids+=("${pid//,/ }")
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size="$2"; shift ;;
        --runtime) runtime="$2"; shift ;;
        --ramp) ramp="$2"; shift ;;
        --files) nfiles="$2"; shift ;;
        --direct) direct=1 ;;
        --workloads) filter="$2"; shift ;;
        --out) out="$2"; shift ;;
        -v|--verbose) verbose=1 ;;
        --pmemfs-and-tmpfs) both=1 ;;
        --daemon-pid)
            [[ ${#labels[@]} -gt 0 ]] || die "--daemon-pid must follow the LABEL=DIR it belongs to"
            [[ "${2:-}" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--daemon-pid wants PID[,PID...]"
            pids[${#pids[@]}-1]="${pids[${#pids[@]}-1]:+${pids[${#pids[@]}-1]} }${2//,/ }"; shift ;;
        -h|--help) usage; exit 0 ;;
        *=*) add_target "$1" ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ "$runtime" =~ ^[0-9]+$ && "$runtime" -gt 0 ]] || die "--runtime wants whole seconds > 0"
[[ "$ramp" =~ ^[0-9]+$ ]] || die "--ramp wants whole seconds"
[[ "$nfiles" =~ ^[0-9]+$ && "$nfiles" -gt 0 ]] || die "--files wants a number > 0"
[[ $both -eq 1 || ${#labels[@]} -gt 0 ]] || { usage; exit 2; }

# ---- tools -------------------------------------------------------------------------------------
need=()
command -v fio >/dev/null 2>&1 || need+=(fio)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [[ ${#need[@]} -gt 0 ]]; then
    [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]}; install them (apt-get install -y ${need[*]})"
    echo "fsbench: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
        die "apt-get install ${need[*]} failed"
fi
clk_tck="$(getconf CLK_TCK)"

# ---- state and cleanup ---------------------------------------------------------------------------
work="$(mktemp -d /tmp/fsbench.XXXXXX)"
subdirs=()                     # our working subdirectory in every target, removed at exit
pm_image="" pm_mnt="" pm_mounted=0 pm_pids="" tmpfs_mnt="" tmpfs_mounted=0 pmemfs=()

cleanup() {
    local rc=$? d p i
    set +e
    trap - EXIT INT TERM
    for d in "${subdirs[@]}"; do [[ -n "$d" && -d "$d" ]] && rm -rf -- "$d"; done
    if [[ $pm_mounted -eq 1 ]]; then
        timeout 90 "${pmemfs[@]}" unmount "$pm_mnt" >/dev/null 2>&1 ||
            fusermount3 -u "$pm_mnt" >/dev/null 2>&1 || umount "$pm_mnt" >/dev/null 2>&1 ||
            { echo "fsbench: unmount of $pm_mnt failed; detaching it (umount -l)" >&2; umount -l "$pm_mnt"; }
        # The daemon we started should exit by itself once unmounted; stop it if it does not.
        for p in $pm_pids; do
            for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$p" 2>/dev/null; then
                echo "fsbench: pmemfs daemon $p still running 10 s after unmount; sending TERM" >&2
                kill -TERM "$p" 2>/dev/null; sleep 2; kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
            fi
        done
    fi
    [[ -n "$pm_mnt" && -d "$pm_mnt" ]] && ! mountpoint -q "$pm_mnt" && rmdir "$pm_mnt"
    [[ -n "$pm_image" ]] && rm -f -- "$pm_image"
    if [[ $tmpfs_mounted -eq 1 ]]; then umount "$tmpfs_mnt" || umount -l "$tmpfs_mnt"; fi
    [[ -n "$tmpfs_mnt" && -d "$tmpfs_mnt" ]] && ! mountpoint -q "$tmpfs_mnt" && rmdir "$tmpfs_mnt"
    rm -rf -- "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sum of utime+stime (clock ticks) of the given PIDs; empty if one of them is gone.
cpu_ticks() {
    [[ $# -gt 0 ]] || { echo ""; return; }
    local f=() p
    for p; do f+=("/proc/$p/stat"); done
    awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { if (NR == ARGC - 1) print t }' "${f[@]}" 2>/dev/null || true
}
# The hook fio runs before and after each job's I/O (exec_prerun / exec_postrun): appends ticks.
cat >"$work/snap.sh" <<'EOF'
#!/bin/sh
# snap.sh FILE PID... : append the summed utime+stime (clock ticks) of the PIDs to FILE
out="$1"; shift
for p; do set -- "$@" "/proc/$p/stat"; shift; done
awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t }' "$@" >>"$out" 2>/dev/null
EOF
chmod +x "$work/snap.sh"

# ---- --pmemfs-and-tmpfs: set up both ----------------------------------------------------------
find_daemon() { # MNT IMAGE: prints the PIDs of the pmemfs daemon serving MNT
    local mnt="$1" img="$2" f p found=""
    # pmemfs mount's pid file: /run/pmemfs/<mountpoint with '/' as '-'>.pid (root), else any there.
    local named="${mnt#/}"; named="/run/pmemfs/${named//\//-}.pid"
    for f in "$named" /run/pmemfs/*.pid /run/pmemfs/*; do
        [[ -f "$f" ]] || continue
        p="$(grep -o -m1 '[0-9]\+' "$f" 2>/dev/null || true)"
        [[ -n "$p" && -r "/proc/$p/cmdline" ]] || continue
        if tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -e "$mnt" -e "$img"; then found+=" $p"; fi
        [[ -n "$found" ]] && break
    done
    if [[ -z "$found" ]]; then
        for p in $(pgrep -f "pmemfs.*mount.*$mnt" || true); do
            [[ "$p" != "$$" && "$p" != "$BASHPID" ]] && found+=" $p"
        done
    fi
    if [[ -z "$found" ]]; then # processes holding /dev/fuse whose command line names the mount
        for f in /proc/[0-9]*/fd/*; do
            [[ "$(readlink "$f" 2>/dev/null)" == /dev/fuse ]] || continue
            p="${f#/proc/}" p="${p%%/*}"
            tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -e "$mnt" -e "$img" && found+=" $p"
        done
    fi
    echo "$found" | tr ' ' '\n' | sort -un | tr '\n' ' ' | sed 's/^ *//; s/ *$//'
}

if [[ $both -eq 1 ]]; then
    if [[ -n "${PMEMFS:-}" ]]; then read -ra pmemfs <<<"$PMEMFS"
    elif command -v pmemfs >/dev/null 2>&1; then pmemfs=(pmemfs)
    else pmemfs=("$repo/scripts/pmemfs"); fi
    pm_image="/dev/shm/fsbench-$$.img" pm_mnt="/tmp/fsbench-pmemfs.$$" tmpfs_mnt="/tmp/fsbench-tmpfs.$$"
    echo "fsbench: mkfs + mount pmemfs ($pm_image on $pm_mnt), tmpfs on $tmpfs_mnt" >&2
    "${pmemfs[@]}" mkfs "$pm_image" --size 1G --force --quiet || die "pmemfs mkfs failed"
    mkdir -p "$pm_mnt" "$tmpfs_mnt"
    read -ra mount_args <<<"${PMEMFS_MOUNT_ARGS:-}"
    # Marked mounted before the call: if it half-succeeds, cleanup still tries to unmount.
    pm_mounted=1
    timeout 120 "${pmemfs[@]}" mount "$pm_image" "$pm_mnt" "${mount_args[@]}" </dev/null ||
        die "pmemfs mount failed"
    for ((i = 0; i < 100; i++)); do mountpoint -q "$pm_mnt" && break; sleep 0.1; done
    mountpoint -q "$pm_mnt" || die "$pm_mnt is not a mount point after pmemfs mount returned"
    pm_pids="$(find_daemon "$pm_mnt" "$pm_image")"
    [[ -n "$pm_pids" ]] || echo "fsbench: warning: pmemfs daemon PID not found; no daemon CPU for pmemfs" >&2
    mount -t tmpfs -o size=2G,mode=1777 fsbench "$tmpfs_mnt" || die "tmpfs mount failed"
    tmpfs_mounted=1
    labels=(pmemfs tmpfs "${labels[@]}") dirs=("$pm_mnt" "$tmpfs_mnt" "${dirs[@]}") pids=("$pm_pids" "" "${pids[@]}")
fi

ntargets=${#labels[@]}
wdirs=()
for ((t = 0; t < ntargets; t++)); do
    [[ -d "${dirs[t]}" ]] || die "${labels[t]}: ${dirs[t]} is not a directory"
    for p in ${pids[t]}; do [[ -r "/proc/$p/stat" ]] || die "${labels[t]}: no process $p"; done
    wdirs[t]="${dirs[t]%/}/fsbench.$$"
    mkdir "${wdirs[t]}" || die "${labels[t]}: cannot create ${wdirs[t]}"
    subdirs+=("${wdirs[t]}")
done

# ---- one row ------------------------------------------------------------------------------------
# fio_json JSON: err ios bytes iops bw_bytes lat_ns_sum app_cpu_us (summed over jobs). The latency
# sum adds the sync (fdatasync) latency of each job, so a write+fdatasync row reports both.
fio_json() {
    jq -r '
      def z: if . == null then 0 else . end;
      def latsum: if (.total_ios|z) == 0 then 0
                  else ((if (.lat_ns.mean|z) > 0 then .lat_ns.mean else (.clat_ns.mean|z) end) * .total_ios) end;
      [ .jobs[] | { err: (.error|z),
                    ios: ((.read.total_ios|z) + (.write.total_ios|z)),
                    bytes: ((.read.io_bytes|z) + (.write.io_bytes|z)),
                    iops: ((.read.iops|z) + (.write.iops|z)),
                    bw: ((.read.bw_bytes|z) + (.write.bw_bytes|z)),
                    lat: ((.read|latsum) + (.write|latsum) + ((.sync.lat_ns.mean|z) * (.sync.total_ios|z))),
                    cpu: (((.usr_cpu|z) + (.sys_cpu|z)) / 100 * (.job_runtime|z) * 1000),
                    p99: ([(.read.clat_ns.percentile["99.000000"]|z), (.write.clat_ns.percentile["99.000000"]|z)]|max),
                    p999: ([(.read.clat_ns.percentile["99.900000"]|z), (.write.clat_ns.percentile["99.900000"]|z)]|max),
                    sp99: (.sync.lat_ns.percentile["99.000000"]|z) } ]
      | [ (map(.err)|max), (map(.ios)|add), (map(.bytes)|add), (map(.iops)|add), (map(.bw)|add),
          (map(.lat)|add), (map(.cpu)|add), (map(.p99)|max), (map(.p999)|max), (map(.sp99)|max) ] | map(tostring) | join(" ")' "$1"
}

# min of the prerun values, max of the postrun values (numjobs > 1 writes one line per job)
hook_delta() { # PREFILE POSTFILE
    [[ -s "$1" && -s "$2" ]] || return 0
    awk 'FNR == NR { if (min == "" || $1 < min) min = $1; next } { if (max == "" || $1 > max) max = $1 }
         END { if (min != "" && max != "") print max - min }' "$1" "$2"
}

results="$work/results" # label \t workload \t kind \t ios bytes iops bw latsum app_us \t daemon_ticks \t error
: >"$results"

run_row() { # T NAME KIND(mib|ops|meta) PHASE(data|meta|cold) FIO-ARGS...
    local t="$1" name="$2" kind="$3" phase="$4"; shift 4
    local dir="${wdirs[t]}" json="$work/out.json" err="" d0 d1 dh="" nums="" tmo=$((runtime + ramp + 600))
    local pre="$work/pre" post="$work/post" hooks=()
    local -a dp=(${pids[t]})
    rm -f "$json" "$pre" "$post"
    local prerun="" # cold: drop the kernel's dentries and inodes after fio's own set-up stats
    [[ "$phase" == cold && -w /proc/sys/vm/drop_caches ]] && prerun="echo 2 >/proc/sys/vm/drop_caches; "
    if [[ ${#dp[@]} -gt 0 ]]; then
        hooks=(--exec_prerun="$prerun$work/snap.sh $pre ${dp[*]}; true" --exec_postrun="$work/snap.sh $post ${dp[*]}; true")
    elif [[ -n "$prerun" ]]; then
        hooks=(--exec_prerun="${prerun}true")
    fi
    local common=(--directory="$dir" --output-format=json --output="$json" --percentile_list=99:99.9)
    if [[ "$phase" == data && "$ramp" -gt 0 ]]; then # warm-up run: lays the file out, unmeasured
        if ! (cd "$work" && timeout -k 10 "$tmo" fio --name=warmup "${common[@]}" "$@" --time_based --runtime="$ramp" \
              >"$work/fio.log" 2>&1); then
            err="warm-up: $(grep -v '^ *$' "$work/fio.log" | head -1)"
        fi
    fi
    if [[ -z "$err" ]]; then
        local tm=()
        [[ "$phase" == data ]] && tm=(--time_based --runtime="$runtime")
        d0="$(cpu_ticks "${dp[@]}")"
        local w0=$SECONDS
        if ! (cd "$work" && timeout -k 10 "$tmo" fio --name=job "${common[@]}" "$@" "${tm[@]}" "${hooks[@]}" \
              >"$work/fio.log" 2>&1); then
            err="$(grep -v '^ *$' "$work/fio.log" | grep -iv 'saving output' | head -1)"
            [[ -n "$err" ]] || err="fio failed"
        fi
        d1="$(cpu_ticks "${dp[@]}")"
        if [[ -s "$json" ]] && nums="$(fio_json "$json" 2>/dev/null)" && [[ -n "$nums" ]]; then
            local e="${nums%% *}"
            [[ "$e" == 0 ]] || err="fio error $e: ${err:-$(grep -iv 'saving output' "$work/fio.log" | head -1)}"
            [[ "$e" == 0 && -n "$err" ]] && err=""   # fio exited non-zero but reported no job error
        else
            nums=""; [[ -n "$err" ]] || err="no fio output"
        fi
        if [[ ${#dp[@]} -gt 0 ]]; then
            if [[ -z "$d0" || -z "$d1" ]]; then err="${err:+$err; }daemon ${dp[*]} gone"
            else
                dh="$(hook_delta "$pre" "$post")"
                [[ -n "$dh" ]] || dh=$((d1 - d0)) # hooks did not run: whole fio run
            fi
        fi
        [[ $verbose -eq 1 ]] && echo "fsbench: ${labels[t]} / $name: $nums; daemon ticks hooks=${dh:--} whole=$(( ${d1:-0} - ${d0:-0} )); wall $((SECONDS - w0)) s${err:+; $err}" >&2
    fi
    [[ "$phase" == data ]] && rm -rf -- "$dir"/fsbench.dat
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${labels[t]}" "$name" "$kind" "$nums" "$dh" "$err" >>"$results"
    [[ $verbose -eq 1 ]] || echo "fsbench: ${labels[t]} / $name${err:+: $err}" >&2
}

# ---- workloads ----------------------------------------------------------------------------------
data=(--filename=fsbench.dat --size="$size" --direct="$direct" --fallocate=none)
wl_names=() wl_kinds=() wl_phases=() wl_args=()
wl() { wl_names+=("$1") wl_kinds+=("$2") wl_phases+=("$3") wl_args+=("${*:4}"); }
wl "seq read 1M psync"          mib data "${data[@]}" --ioengine=psync --rw=read --bs=1M
wl "seq write 1M psync"         mib data "${data[@]}" --ioengine=psync --rw=write --bs=1M --overwrite=1 --end_fsync=1
wl "seq read 1M mmap"           mib data "${data[@]}" --ioengine=mmap --rw=read --bs=1M
wl "seq write 1M mmap"          mib data "${data[@]}" --ioengine=mmap --rw=write --bs=1M --overwrite=1 --end_fsync=1
wl "rand read 4K psync x1"      ops data "${data[@]}" --ioengine=psync --rw=randread --bs=4k --norandommap --numjobs=1
wl "rand read 4K psync x2"      ops data "${data[@]}" --ioengine=psync --rw=randread --bs=4k --norandommap --numjobs=2
wl "rand write 4K psync x1"     ops data "${data[@]}" --ioengine=psync --rw=randwrite --bs=4k --norandommap --overwrite=1 --numjobs=1
wl "rand write 4K psync x2"     ops data "${data[@]}" --ioengine=psync --rw=randwrite --bs=4k --norandommap --overwrite=1 --numjobs=2
wl "rand write 4K+fdatasync x1" ops data "${data[@]}" --ioengine=psync --rw=randwrite --bs=4k --norandommap --overwrite=1 --fdatasync=1
# Metadata: the same job name and file count in all three, so stat and unlink find create's files;
# create_on_open=1 keeps fio from laying the empty files out to filesize before stat / unlink;
# The stat row drops the kernel's dentry and inode caches (vm.drop_caches=2, when root) just
# before its I/O, so each stat reaches the file system (a FUSE lookup) instead of the attribute
# cache that fio's own set-up stats have just filled.
# file_service_type=sequential, because fio's default round robin over nrfiles costs O(nrfiles) of
# fio's own CPU per file (200 us per op at 5000 files, against 5 us sequentially).
meta=(--nrfiles="$nfiles" --filesize=4k --bs=4k --openfiles=1 --create_on_open=1 --invalidate=0
      --file_service_type=sequential)
wl "create ($nfiles files)"     meta meta "${meta[@]}" --ioengine=filecreate
wl "stat ($nfiles files)"       meta cold "${meta[@]}" --ioengine=filestat
wl "unlink ($nfiles files)"     meta meta "${meta[@]}" --ioengine=filedelete

# ---- run: workload by workload, targets interleaved ---------------------------------------------
idle=()
for ((t = 0; t < ntargets; t++)); do # daemon CPU when idle, for context
    idle[t]="-"
    [[ -n "${pids[t]}" ]] || continue
    a="$(cpu_ticks ${pids[t]})"; sleep 1; b="$(cpu_ticks ${pids[t]})"
    [[ -n "$a" && -n "$b" ]] && idle[t]="$(( (b - a) * 1000 / clk_tck )) ms/s"
done
start_s=$SECONDS
for ((w = 0; w < ${#wl_names[@]}; w++)); do
    [[ -z "$filter" ]] || grep -qE -- "$filter" <<<"${wl_names[w]}" || continue
    read -ra args <<<"${wl_args[w]}"
    # The meta job names fio's files job.0.N in the job's directory; the name must stay "job".
    for ((t = 0; t < ntargets; t++)); do run_row "$t" "${wl_names[w]}" "${wl_kinds[w]}" "${wl_phases[w]}" "${args[@]}"; done
done
for ((t = 0; t < ntargets; t++)); do rm -rf -- "${wdirs[t]:?}"/* 2>/dev/null || true; done

# ---- report ---------------------------------------------------------------------------------------
report() {
    echo "## fsbench $(date -u '+%Y-%m-%d %H:%M UTC') — $(fio --version), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "size $size, runtime ${runtime} s (+${ramp} s unmeasured warm-up), direct=$direct, $nfiles files for create/stat/unlink; total $((SECONDS - start_s)) s"
    echo
    for ((t = 0; t < ntargets; t++)); do
        echo "- ${labels[t]}: ${dirs[t]}$( [[ -n "${pids[t]}" ]] && echo ", daemon PID ${pids[t]} (idle: ${idle[t]} CPU)" || echo ", no daemon")"
    done
    echo
    awk -F'\t' -v tck="$clk_tck" '
    function f(x, p) { return x == "" ? "-" : sprintf("%." p "f", x) }
    BEGIN {
        fmt = "| %-28s | %-8s | %16s | %12s | %10s | %10s | %12s | %12s | %12s | %12s |\n"
        printf fmt, "workload", "target", "throughput", "mean lat µs", "p99 µs", "p99.9 µs", "app CPU µs/op", "daemon µs/op", "total µs/op", "total µs/MiB"
        printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------", "----------", "-----------------:",
               "-------------:", "-----------:", "-----------:", "-------------:", "-------------:", "-------------:", "-------------:"
    }
    {
        label = $1; name = $2; kind = $3; split($4, n, " "); dt = $5; err = $6
        if ($4 == "" || n[2] == 0) { printf fmt, name, label, "error", "", "", "", "", "", "", ""; errs[++ne] = label " / " name ": " (err == "" ? "no operations" : err); next }
        ios = n[2]; bytes = n[3]; iops = n[4]; bw = n[5]; lat = n[6] / ios / 1000; app = n[7] / ios
        thr = kind == "mib" ? sprintf("%.1f MiB/s", bw / 1048576) : sprintf("%.0f ops/s", iops)
        dmn = dt == "" ? "" : dt * 1000000 / tck / ios
        tot = app + (dmn == "" ? 0 : dmn)
        permib = (kind == "meta" || bytes == 0) ? "" : tot * ios / (bytes / 1048576)
        # p99 / p99.9 of completion latency; +fdatasync rows show "write/fdatasync" p99
        p99 = (kind == "ops" && n[8] > 0) ? f(n[8] / 1000, 0) : "-"; p999 = (kind == "ops" && n[9] > 0) ? f(n[9] / 1000, 0) : "-"
        if (kind == "ops" && n[10] > 0) p99 = p99 "/" f(n[10] / 1000, 0) # write/fdatasync
        printf fmt, name, label, thr, f(lat, 1), p99, p999, f(app, 2), f(dmn, 2), f(tot, 2), f(permib, 0)
        if (err != "") errs[++ne] = label " / " name ": " err
    }
    END { if (ne) { print ""; for (i = 1; i <= ne; i++) print "- problem: " errs[i] } }' "$results"
}
if [[ -n "$out" ]]; then report | tee "$out"; else report; fi
