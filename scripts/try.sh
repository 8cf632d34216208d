#!/usr/bin/env bash
# The main job for now: install what is missing, build, create and format a default emulated
# pmem image (1 GiB in /dev/shm) if there is none, then check it and show what it is.
# Usage: scripts/try.sh [IMAGE=/dev/shm/pmemfs.img] [SIZE=1G]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
image="${1:-/dev/shm/pmemfs.img}" size="${2:-1G}"
scripts/install-deps.sh
if [[ ! -e "$image" ]]; then
    scripts/pmemfs mkfs "$image" --size "$size"
else
    echo "using the existing image $image (pmemfs mkfs $image --force reformats it)"
fi
scripts/pmemfs fsck "$image"
scripts/pmemfs info "$image"
echo
echo "Image ready: $image. Remove it with: rm $image"
