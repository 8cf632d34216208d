#!/usr/bin/env bash
# Installs PmemFs on this machine: the Debian packages it needs (scripts/install-deps.sh),
# the `pmemfs` command (a ReadyToRun build in /usr/local/lib/pmemfs, linked from
# /usr/local/bin/pmemfs), and the mount helper /sbin/mount.fuse.pmemfs through which
# `mount -t fuse.pmemfs IMAGE DIR` and fstab lines of type fuse.pmemfs work, and the C header
# of PmemFs's ioctls as $prefix/include/pmemfs.h.
# Idempotent: rebuilds only when the sources changed since the last install.
# Environment: PMEMFS_PREFIX (default /usr/local), PMEMFS_HELPER_DIR (default /sbin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

prefix="${PMEMFS_PREFIX:-/usr/local}"
libdir="$prefix/lib/pmemfs"
helper_dir="${PMEMFS_HELPER_DIR:-/sbin}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [[ "$(id -u)" -ne 0 ]]; then
    echo "install: run as root (it writes $libdir, $prefix/bin and $helper_dir)" >&2
    exit 1
fi
scripts/install-deps.sh

# What the installed build was made from: every source file and build setting.
stamp="$(find src Directory.Build.props Directory.Packages.props global.json \( -name bin -o -name obj \) -prune \
    -o -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' \) -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)"
if [[ ! -x "$libdir/pmemfs" || "$(cat "$libdir/.source-stamp" 2>/dev/null)" != "$stamp" ]]; then
    echo "install: building pmemfs (ReadyToRun) into $libdir"
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    if ! dotnet publish src/PmemFs.Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
        -nologo -v quiet -o "$out" >"$out.log" 2>&1; then
        cat "$out.log" >&2
        echo "install: dotnet publish failed" >&2
        exit 1
    fi
    rm -f "$out.log"
    rm -rf "$libdir"
    mkdir -p "$(dirname "$libdir")"
    cp -a "$out" "$libdir"
    echo "$stamp" >"$libdir/.source-stamp"
fi
# mktemp -d made the build directory 0700 and cp -a kept that: every user must be able to
# run pmemfs (pmemfs chattr/lsattr/info as an unprivileged user).
chmod 755 "$libdir"
mkdir -p "$prefix/bin"
ln -sfn "$libdir/pmemfs" "$prefix/bin/pmemfs"

# The ioctl ABI for C programs (#include <pmemfs.h>); rewritten only when it changed.
mkdir -p "$prefix/include"
if ! cmp -s src/include/pmemfs.h "$prefix/include/pmemfs.h"; then
    install -m 644 src/include/pmemfs.h "$prefix/include/pmemfs.h"
fi

# mount(8) runs /sbin/mount.fuse.pmemfs SRC DIR [-sfnv] [-o OPTS] for type fuse.pmemfs.
mkdir -p "$helper_dir"
cat >"$helper_dir/mount.fuse.pmemfs" <<HELPER
#!/bin/sh
# Installed by PmemFs scripts/install.sh: mount(8) helper for type fuse.pmemfs.
# Usage (by mount): mount.fuse.pmemfs IMAGE DIR [-sfnv] [-o OPTIONS]
src="\$1" dir="\$2"
[ \$# -ge 2 ] && shift 2 || { echo "usage: mount.fuse.pmemfs IMAGE DIR [-o OPTIONS]" >&2; exit 1; }
opts=""
while [ \$# -gt 0 ]; do
    case "\$1" in
        -o) opts="\${opts:+\$opts,}\$2"; shift 2 ;;
        -o*) opts="\${opts:+\$opts,}\${1#-o}"; shift ;;
        -f) exit 0 ;;  # fake mount: do everything but the mount
        -t) shift 2 ;;
        *) shift ;;   # -s (sloppy), -n (no mtab), -v (verbose)
    esac
done
# A remount is the kernel's business alone (FUSE remounts never reach the daemon).
case ",\$opts," in *,remount,*) exec mount -i -o "\$opts" "\$dir" ;; esac
if [ -n "\$opts" ]; then exec "$prefix/bin/pmemfs" mount "\$src" "\$dir" -o "\$opts"; fi
exec "$prefix/bin/pmemfs" mount "\$src" "\$dir"
HELPER
chmod 755 "$helper_dir/mount.fuse.pmemfs"
