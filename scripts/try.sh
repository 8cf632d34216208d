#!/usr/bin/env bash
# The main job: install what is missing, build and install pmemfs, create and format a default
# emulated pmem image (1 GiB in /dev/shm) if there is none, and mount it.
# Usage: scripts/try.sh [IMAGE=/dev/shm/pmemfs.img] [DIR=/mnt/pmemfs] [SIZE=1G]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
image="${1:-/dev/shm/pmemfs.img}" dir="${2:-/mnt/pmemfs}" size="${3:-1G}"
scripts/install.sh
if grep -qs " $dir fuse.pmemfs " /proc/mounts; then
    echo "$dir is already a PmemFs mount:"
    df -h "$dir"
    echo "Unmount it with: pmemfs unmount $dir"
    exit 0
fi
if [[ ! -e "$image" ]]; then
    pmemfs mkfs "$image" --size "$size"
else
    echo "using the existing image $image (pmemfs mkfs $image --force reformats it)"
    pmemfs fsck "$image"
fi
mkdir -p "$dir"
pmemfs mount "$image" "$dir"
echo
df -h "$dir"
echo
echo "PmemFs is mounted on $dir (daemon log: /var/log/pmemfs/$(echo "${dir#/}" | tr / -).log)."
echo "Unmount it with: pmemfs unmount $dir    (or: umount $dir)"
echo "The image holds every file's bytes, so it is private to $(id -un) (mode $(stat -c %a "$image")); to let a group map files"
echo "directly: chgrp GROUP $image && chmod 0660 $image (docs/security.md)."
echo "Remove the image afterwards with: rm $image"
