#!/usr/bin/env bash
# Scale benchmark: mkfs, populate and fsck a large image, timing the real `pmemfs` commands.
# Usage: scripts/bench/scale.sh [SIZE=4G] [FILES=100000] [FILE_BYTES=4096]
# Prints a table; the image lives in /dev/shm and is deleted at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
size="${1:-4G}" files="${2:-100000}" bytes="${3:-4096}"
image="/dev/shm/pmemfs-scale-$$.img"
trap 'rm -f "$image"' EXIT

dotnet build src/PmemFs.Cli -c Release -nologo -v quiet >/dev/null
dotnet build scripts/bench/PmemFs.Bench -c Release -nologo -v quiet >/dev/null
pmemfs="dotnet src/PmemFs.Cli/bin/Release/net10.0/pmemfs.dll"
bench="dotnet scripts/bench/PmemFs.Bench/bin/Release/net10.0/PmemFs.Bench.dll"

timed() { # label, command...
    local start end
    start=$(date +%s.%N)
    "${@:2}" >/dev/null
    end=$(date +%s.%N)
    printf '| %-40s | %10.2f |\n' "$1" "$(awk "BEGIN{print $end - $start}")"
}

echo "image: $image ($size, $files files of $bytes bytes)"
echo
printf '| %-40s | %10s |\n' "command" "wall s"
printf '|%s|%s|\n' "------------------------------------------" "------------"
timed "pmemfs mkfs --size $size (new image)" $pmemfs mkfs "$image" --size "$size" --quiet
timed "pmemfs fsck (empty)" $pmemfs fsck "$image"
echo
$bench populate "$image" "$files" "$bytes"
echo
printf '| %-40s | %10s |\n' "command" "wall s"
printf '|%s|%s|\n' "------------------------------------------" "------------"
timed "pmemfs fsck ($files files)" $pmemfs fsck "$image"
timed "pmemfs info ($files files)" $pmemfs info "$image"
timed "pmemfs mkfs --force (reformat)" $pmemfs mkfs "$image" --force --quiet
