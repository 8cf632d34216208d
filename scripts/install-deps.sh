#!/usr/bin/env bash
# Installs the Debian packages PmemFs builds and tests against, if any is missing.
# Idempotent and quiet: prints nothing when everything is there, apt's log only on failure.
set -euo pipefail

# acl: setfacl/getfacl for the POSIX ACL tests (docs/acl.md).
# gcc and libc6-dev: the fstests build their C helper (tests/fstests/src/pmemfs_flags.c)
# against src/include/pmemfs.h.
# nfs-ganesha, nfs-ganesha-vfs (with rpcbind) and libnfs-utils: the NFS export test
# (tests/fstests pmemfs/023, docs/nfs.md) runs a user-space NFS server and client. On a machine
# whose init starts services, installing nfs-ganesha starts its service on port 2049; the test
# uses its own ports and its own foreground instance.
packages=(libpmem2 libpmem2-dev fuse3 libfuse3-3 libfuse3-dev xfsprogs e2fsprogs attr acl fio gcc libc6-dev
    nfs-ganesha nfs-ganesha-vfs libnfs-utils)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: dpkg/apt-get not found; install these packages (or your distribution's equivalents) by hand: ${packages[*]}" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-deps: apt-get update failed" >&2
    exit 1
fi
if ! apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "install-deps: apt-get install failed for: ${missing[*]}" >&2
    exit 1
fi
