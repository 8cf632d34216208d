/*
 * pmemfs.h - PmemFs's own ioctls, for C programs and for the pmemfs CLI.
 *
 * Issue these on a file descriptor open on a file or directory inside a PmemFs mount. FUSE
 * forwards a custom ioctl to the daemon with exactly _IOC_SIZE(cmd) bytes in and out (at most
 * 16383: the size field of an ioctl number has 14 bits), so every struct here is fixed-size
 * and holds no pointers; a list that may not fit one struct is read in pages with a cursor.
 * The daemon checks every permission itself (the kernel checks none for these numbers).
 *
 * Every struct starts with a version (the *_VERSION constant of its family) and has reserved
 * fields that must be zero on input: a struct that breaks either rule is refused with EINVAL
 * and changes nothing, so fields can be given meaning later without breaking old programs.
 * Integers are in the machine's byte order (x86-64: little endian). Sizes are checked below
 * with static asserts and by the project's tests against its C# twin (src/PmemFs.Abi).
 *
 * Flags: standard flags (immutable, append, noatime, sync, nodump, dax) also travel through
 * the standard FS_IOC_GETFLAGS/SETFLAGS and FS_IOC_FSGETXATTR/FSSETXATTR ioctls;
 * DAX_IMMUTABLE has no Linux bit and travels only through these. Semantics: docs/flags.md.
 *
 * Layout leases, pins, extent maps and prepare-write (direct access): docs/leases.md.
 * The explicit clone (reflink): docs/leases.md, "The clone ioctl".
 * The reverse map (who owns each range of the region): docs/leases.md, "The reverse-map ioctl".
 */
#ifndef PMEMFS_H
#define PMEMFS_H

#include <stdint.h>
#include <linux/ioctl.h>

/* Persisted per-inode flags (pmemfs_inode_flags.flags, .set, .clear). Values are ABI. */
#define PMEMFS_FL_IMMUTABLE      0x0001ULL /* chattr i: no change at all */
#define PMEMFS_FL_APPEND         0x0002ULL /* chattr a: writes only at EOF */
#define PMEMFS_FL_NOATIME        0x0004ULL /* chattr A: no atime updates */
#define PMEMFS_FL_SYNC           0x0008ULL /* chattr S: synchronous (PmemFs always is) */
#define PMEMFS_FL_NODUMP         0x0010ULL /* chattr d: skipped by dump(8) */
#define PMEMFS_FL_DAX            0x0020ULL /* chattr x: direct access; inherited from directories */
#define PMEMFS_FL_DAX_IMMUTABLE  0x0040ULL /* block map and metadata frozen; data changes only through mappings */
#define PMEMFS_FL_ALL            0x007FULL

/* Effective state (pmemfs_inode_flags.state, out only). */
#define PMEMFS_STATE_DAX         0x0001ULL /* the file is DAX now */
#define PMEMFS_STATE_CAN_DAX     0x0002ULL /* the file could be DAX (regular file, no shared extents) */
#define PMEMFS_STATE_DAX_PENDING 0x0004ULL /* a DAX change waits for the file's last close */

/* pmemfs_inode_flags.dax_mode: the mount's dax= option. */
#define PMEMFS_DAX_INODE  0
#define PMEMFS_DAX_ALWAYS 1
#define PMEMFS_DAX_NEVER  2

/* pmemfs_inode_flags.granularity: smallest store that is durable after a flush (libpmem2's values). */
#define PMEMFS_GRANULARITY_BYTE       0 /* a store is durable once it is globally visible (eADR) */
#define PMEMFS_GRANULARITY_CACHE_LINE 1 /* a store is durable after a cache-line flush and a fence */
#define PMEMFS_GRANULARITY_PAGE       2 /* durability needs msync: user-space flushes are not enough */

#define PMEMFS_FLAGS_VERSION 1

struct pmemfs_inode_flags {
	uint32_t version;     /* in:  PMEMFS_FLAGS_VERSION (SET only; GET ignores input) */
	uint32_t reserved0;   /* in:  0 */
	uint64_t set;         /* in:  SET: flags to set */
	uint64_t clear;       /* in:  SET: flags to clear (must not overlap set) */
	uint64_t flags;       /* out: the persisted flags after the call */
	uint64_t state;       /* out: PMEMFS_STATE_* */
	uint32_t dax_mode;    /* out: PMEMFS_DAX_* of the mount */
	uint32_t granularity; /* out: PMEMFS_GRANULARITY_* of the region */
	uint64_t health;      /* in: 0; out: PMEMFS_HEALTH_* of the file system (docs/health.md) */
	uint32_t sick_files;        /* in: 0; out: files answering EUCLEAN (damaged metadata; docs/health.md) */
	uint32_t quarantined_slots; /* in: 0; out: damaged table slots that are never used again */
};

#define PMEMFS_HEALTH_OK             0 /* changes allowed */
#define PMEMFS_HEALTH_WRITES_REFUSED 1 /* damaged or poisoned metadata: EROFS until pmemfs fsck --repair */
#define PMEMFS_HEALTH_SHUT_DOWN      2 /* forced shutdown: EIO for changes, nothing written until remount */

/*
 * GET: fills flags, state, dax_mode, granularity.
 * SET: applies set and clear as one change, then fills the same as GET. Errors:
 *   EINVAL  bad version, reserved fields, unknown bits, set/clear overlap; DAX on a file that
 *           is neither regular nor a directory; DAX_IMMUTABLE on a non-regular file, without
 *           DAX, or on a file with holes, unwritten or shared extents
 *   EPERM   caller neither owner nor CAP_FOWNER; immutable/append/DAX_IMMUTABLE change, or any
 *           change on an immutable or append-only file, without CAP_LINUX_IMMUTABLE
 *   EBUSY   clearing DAX_IMMUTABLE (or DAX, which clears it) while the file is mapped or leased
 *   EROFS   read-only mount
 */
#define PMEMFS_IOC_GET_FLAGS _IOR('P', 0x40, struct pmemfs_inode_flags)
#define PMEMFS_IOC_SET_FLAGS _IOWR('P', 0x41, struct pmemfs_inode_flags)

/* ---------------------------------------------------------------------------------------
 * Layout leases and pins (docs/leases.md).
 *
 * A lease is taken through an open file descriptor of a file that is DAX now, and belongs to
 * that open file (the FUSE file handle) and to the calling process: it ends when released,
 * when the last descriptor of that open file is closed, when the process dies, or when it is
 * revoked (a layout change by someone else recalled it and the mount's lease_break time
 * passed). A read lease needs the file open for reading, a write lease open for writing, and
 * either needs the caller to own the file or to have CAP_LEASE (as fcntl's F_SETLEASE).
 * Leases live in memory only.
 *
 * A recall is announced on the descriptor the lease was taken through: poll() (or select,
 * epoll) it for POLLPRI. POLLPRI is set while any lease of that open file is recalled, or was
 * revoked and not yet reported by PMEMFS_IOC_LEASE_STATUS (which reports a revoked lease once,
 * then forgets it); the other bits are a regular file's POLLIN|POLLOUT, so ask for POLLPRI
 * alone. PMEMFS_IOC_LEASE_STATUS says which lease and its deadline; a holder that does not
 * poll can call it at any time. Measured through a FUSE mount (docs/leases.md): poll() returns
 * well under a millisecond after the recall once the daemon is warm.
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_LEASE_VERSION 1

/* pmemfs_lease.mode, pmemfs_lease_status.mode, pmemfs_lease_entry.mode */
#define PMEMFS_LEASE_READ  1 /* shared: load through a direct mapping */
#define PMEMFS_LEASE_WRITE 2 /* exclusive: store through a direct mapping (after prepare-write) */

/* A length that runs to the end of any possible file (the whole file, including what it may grow to). */
#define PMEMFS_LENGTH_TO_END UINT64_MAX

/* pmemfs_lease_status.state, pmemfs_lease_entry.state */
#define PMEMFS_LEASE_ACTIVE   1 /* held; the layout of its range changes only through its own descriptor */
#define PMEMFS_LEASE_RECALLED 2 /* release it before deadline_ns, when it is revoked */
#define PMEMFS_LEASE_REVOKED  3 /* status only: it was revoked; its mapping must no longer be used */

/*
 * Ranges (every offset/length pair below): offset <= INT64_MAX, 0 < length, and
 * offset + length <= INT64_MAX unless length is PMEMFS_LENGTH_TO_END. Otherwise EINVAL
 * (negative offset, zero length, or a length above INT64_MAX that is not TO_END) or EOVERFLOW
 * (the end overflows), as Linux's byte-range locks answer.
 */

struct pmemfs_lease {
	uint32_t version;     /* in:  PMEMFS_LEASE_VERSION */
	uint32_t mode;        /* in:  PMEMFS_LEASE_READ or PMEMFS_LEASE_WRITE */
	uint64_t offset;      /* in:  first byte */
	uint64_t length;      /* in:  bytes, or PMEMFS_LENGTH_TO_END */
	uint64_t flags;       /* in:  0 */
	uint64_t lease_id;    /* in: 0; out: the lease (never reused within a mount) */
	uint64_t reserved[3]; /* in: 0; out: 0 */
};

/* PMEMFS_IOC_LEASE_RELEASE (lease_id) and PMEMFS_IOC_UNPIN (a pin id). */
struct pmemfs_lease_ref {
	uint32_t version;     /* in: PMEMFS_LEASE_VERSION */
	uint32_t reserved0;   /* in: 0 */
	uint64_t id;          /* in: the lease id (RELEASE) or pin id (UNPIN) */
	uint64_t reserved[2]; /* in: 0 */
};

struct pmemfs_pin {
	uint32_t version;     /* in:  PMEMFS_LEASE_VERSION */
	uint32_t reserved0;   /* in:  0 */
	uint64_t lease_id;    /* in:  a lease taken through this descriptor */
	uint64_t offset;      /* in:  inside the lease's range */
	uint64_t length;      /* in:  bytes, or PMEMFS_LENGTH_TO_END (only inside a lease to the end) */
	uint64_t pin_id;      /* in: 0; out: the pin (never reused within a mount) */
	uint64_t reserved[3]; /* in: 0; out: 0 */
};

struct pmemfs_lease_status {
	uint32_t version;      /* in:  PMEMFS_LEASE_VERSION */
	uint32_t reserved0;    /* in:  0 */
	uint64_t lease_id;     /* in:  a lease taken through this descriptor */
	uint32_t state;        /* out: PMEMFS_LEASE_ACTIVE, _RECALLED or _REVOKED */
	uint32_t mode;         /* out: PMEMFS_LEASE_READ or _WRITE */
	uint64_t offset;       /* out: the leased range */
	uint64_t length;       /* out: bytes, or PMEMFS_LENGTH_TO_END */
	int64_t  deadline_ns;  /* out: RECALLED: when it is revoked (CLOCK_REALTIME, ns); else 0 */
	int64_t  remaining_ns; /* out: RECALLED: deadline minus the daemon's clock now (may be < 0); else 0 */
	uint32_t pins;         /* out: how many pins it holds */
	uint32_t reserved1;    /* out: 0 */
	uint64_t reserved[2];  /* in: 0; out: 0 */
};

/*
 * PMEMFS_IOC_LEASE_LIST: every lease and pin of the mount (or of one file), like /proc/locks,
 * a page at a time. Rows come in order of (lease_id, pin_id): a lease row (pin_id 0) and then
 * its pins. Start with both cursors 0; while "more" is set, call again with the struct as it
 * came back (the cursors name the last row returned). Any user may list (so may /proc/locks).
 */
#define PMEMFS_LIST_THIS_FILE 0x1 /* pmemfs_lease_list.flags: only the file the ioctl is issued on */
#define PMEMFS_LEASE_LIST_ENTRIES 63

struct pmemfs_lease_entry {
	uint64_t lease_id;
	uint64_t pin_id;      /* 0: a lease row; else a pin of lease_id, whose range is offset/length */
	uint64_t ino;         /* the file (st_ino) */
	uint64_t offset;
	uint64_t length;      /* bytes, or PMEMFS_LENGTH_TO_END */
	int64_t  granted_ns;  /* lease rows: when it was granted (CLOCK_REALTIME, ns) */
	int64_t  deadline_ns; /* lease rows, RECALLED: when it is revoked; else 0 */
	int32_t  pid;         /* the holder process (thread group id) */
	uint16_t mode;        /* PMEMFS_LEASE_READ or _WRITE */
	uint16_t state;       /* PMEMFS_LEASE_ACTIVE or _RECALLED */
};

struct pmemfs_lease_list {
	uint32_t version;       /* in:  PMEMFS_LEASE_VERSION */
	uint32_t flags;         /* in:  0 or PMEMFS_LIST_THIS_FILE */
	uint64_t cursor_lease;  /* in/out: last row returned (0, 0 to start) */
	uint64_t cursor_pin;    /* in/out */
	uint32_t count;         /* out: rows filled in entries[] */
	uint32_t more;          /* out: 1 when rows follow the cursor */
	int64_t  now_ns;        /* out: the daemon's CLOCK_REALTIME when it answered */
	uint64_t reserved[3];   /* in: 0; out: 0 */
	struct pmemfs_lease_entry entries[PMEMFS_LEASE_LIST_ENTRIES]; /* out */
};

/*
 * Errors of the lease calls, each leaving everything unchanged, checked in this order: the
 * struct (EINVAL, EOVERFLOW), then the descriptor (EINVAL, EBADF, EROFS), then the file and the
 * ids (the rest):
 *   EINVAL     bad version, nonzero reserved fields, flags or out fields, unknown mode, bad range
 *              (above); a pin outside its lease; issued on a directory
 *   EROFS      a write lease on a read-only mount
 *   EOVERFLOW  offset + length overflows
 *   EBADF      a write lease through a descriptor not open for writing (read: not for reading)
 *   EACCES     ACQUIRE by a caller that neither owns the file nor has CAP_LEASE (as F_SETLEASE)
 *   ESRCH      the calling process exited while the call was on its way, or FUSE could not name
 *              it (a process in a PID namespace the daemon cannot see)
 *   EOPNOTSUPP the file is not DAX now (or a change of its DAX state waits for its last close)
 *   EAGAIN     another open file's lease conflicts, or a layout change is recalling leases there
 *   ENOENT     unknown lease or pin id, or one taken through another descriptor; ACQUIRE: the
 *              file has no name left
 *   EBUSY      PIN of a recalled lease
 * A layout change by someone else (truncate, fallocate, unlink or rename over the last name,
 * clearing DAX) that touches a pinned range fails at once with ETXTBSY; one that touches a
 * leased, unpinned range waits until the holders release or the break time passes.
 */
#define PMEMFS_IOC_LEASE_ACQUIRE _IOWR('P', 0x42, struct pmemfs_lease)
#define PMEMFS_IOC_LEASE_RELEASE _IOW('P', 0x43, struct pmemfs_lease_ref)
#define PMEMFS_IOC_PIN           _IOWR('P', 0x44, struct pmemfs_pin)
#define PMEMFS_IOC_UNPIN         _IOW('P', 0x45, struct pmemfs_lease_ref)
#define PMEMFS_IOC_LEASE_STATUS  _IOWR('P', 0x46, struct pmemfs_lease_status)
#define PMEMFS_IOC_LEASE_LIST    _IOWR('P', 0x47, struct pmemfs_lease_list)

/* ---------------------------------------------------------------------------------------
 * Extent map and prepare-write (direct access; docs/leases.md).
 *
 * GET_MAP: the extents of [offset, offset + length) of the file, from a descriptor that holds
 * an active lease overlapping the range (EACCES otherwise): file offset, physical offset in the pmem region (the image file or /dev/dax
 * device, which the holder maps itself), length and state. At most
 * PMEMFS_MAP_EXTENTS per call; next_offset says where the next call continues (offset +
 * length when the range is done).
 * PREPARE_WRITE: makes [offset, offset + length) ready for direct stores (allocates holes,
 * zeroes and converts unwritten extents, breaks sharing; with PMEMFS_PREPARE_EXTEND_SIZE it
 * also extends the file size to offset + length) and commits that metadata durably before it
 * answers, with the new map of the range as GET_MAP gives it. From then on a store plus a cache
 * flush is durable, with no fsync or msync. Needs a write lease of this descriptor covering the
 * range (EACCES; EBUSY while it is recalled). Other errors: EROFS, EPERM (immutable,
 * append-only, or a DAX_IMMUTABLE file whose range would need allocation), ENXIO (past EOF's
 * block without PMEMFS_PREPARE_EXTEND_SIZE), ENOSPC, E2BIG (too fragmented: prepare in parts).
 * Both check the struct first: version, flags, reserved and output fields 0 (EINVAL).
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_MAP_VERSION 1
#define PMEMFS_MAP_EXTENTS 126

/* pmemfs_extent.state */
#define PMEMFS_EXTENT_HOLE      0 /* no blocks: reads as zeros; phys_offset is PMEMFS_NO_PHYS_OFFSET */
#define PMEMFS_EXTENT_UNWRITTEN 1 /* allocated, reads as zeros until written or prepared */
#define PMEMFS_EXTENT_WRITTEN   2 /* holds the file's data */
#define PMEMFS_EXTENT_SHARED    3 /* written, shared with another file: prepare before storing */
#define PMEMFS_EXTENT_POISONED  4 /* written, but bad (poison): loads fault; never map it; PREPARE_WRITE is EIO */

/* pmemfs_map.flags (PREPARE_WRITE only; GET_MAP takes 0) */
#define PMEMFS_PREPARE_EXTEND_SIZE 0x1 /* extend the file size to offset + length if it is smaller */

#define PMEMFS_NO_PHYS_OFFSET UINT64_MAX

struct pmemfs_extent {
	uint64_t file_offset; /* bytes into the file */
	uint64_t phys_offset; /* bytes into the pmem region; PMEMFS_NO_PHYS_OFFSET for a hole */
	uint64_t length;      /* bytes */
	uint32_t state;       /* PMEMFS_EXTENT_* */
	uint32_t reserved;    /* 0 */
};

struct pmemfs_map {
	uint32_t version;     /* in:  PMEMFS_MAP_VERSION */
	uint32_t flags;       /* in:  GET_MAP: 0; PREPARE_WRITE: 0 or PMEMFS_PREPARE_EXTEND_SIZE */
	uint64_t offset;      /* in:  first byte */
	uint64_t length;      /* in:  bytes */
	uint64_t next_offset; /* out: where to continue; offset + length when done */
	uint32_t count;       /* out: extents filled */
	uint32_t reserved0;   /* in: 0; out: 0 */
	uint64_t file_size;   /* out: the file's size after the call */
	uint64_t reserved[2]; /* in: 0; out: 0 */
	struct pmemfs_extent extents[PMEMFS_MAP_EXTENTS]; /* out */
};

#define PMEMFS_IOC_GET_MAP       _IOWR('P', 0x48, struct pmemfs_map)
#define PMEMFS_IOC_PREPARE_WRITE _IOWR('P', 0x49, struct pmemfs_map)

/* BMAP: the extent map of a range, as GET_MAP gives it, for any descriptor of the file (no lease:
 * like FIEMAP, which does not reach a FUSE daemon). `pmemfs bmap FILE` uses it. The struct is
 * checked as for GET_MAP (EINVAL); a directory is EINVAL. */
#define PMEMFS_IOC_BMAP          _IOWR('P', 0x4B, struct pmemfs_map)

/* ---------------------------------------------------------------------------------------
 * The region (direct access; docs/leases.md, docs/direct.md).
 *
 * REGION: which pmem region the mount serves, so that a lease holder can map it itself: its
 * path as the mount names it, its kind, size and the store granularity the daemon maps it with,
 * and the file system's UUID with where the region holds it (the holder compares those bytes
 * after mapping, to be sure it mapped this mount's region and not another at the same path).
 * Any descriptor of the mount may ask; opening the region needs the caller's own permission on
 * it (the region is the trust boundary, as a pNFS block device is). EINVAL for a bad version or
 * nonzero reserved fields.
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_REGION_VERSION 1

/* pmemfs_region.kind */
#define PMEMFS_REGION_FILE   1 /* an image file (on a DAX file system, or emulated pmem) */
#define PMEMFS_REGION_DEVDAX 2 /* a device-DAX character device (/dev/daxX.Y) */

struct pmemfs_region {
	uint32_t version;     /* in:  PMEMFS_REGION_VERSION */
	uint32_t kind;        /* out: PMEMFS_REGION_* */
	uint64_t size;        /* out: bytes of the region */
	uint8_t  uuid[16];    /* out: the file system's UUID */
	uint32_t uuid_offset; /* out: byte offset in the region where the same 16 bytes are */
	uint32_t granularity; /* out: PMEMFS_GRANULARITY_* the daemon maps the region with */
	uint64_t reserved[3]; /* in: 0; out: 0 */
	char     path[4032];  /* out: the region's absolute path, NUL-terminated */
};

#define PMEMFS_IOC_REGION _IOWR('P', 0x4A, struct pmemfs_region)

/* ---------------------------------------------------------------------------------------
 * Explicit clone (reflink; docs/leases.md "The clone ioctl").
 *
 * FICLONE and FICLONERANGE never reach a FUSE daemon, so a clone that must share blocks or fail
 * (never copy, as cp --reflink=always) is PmemFs's own ioctl. Issue it on the DESTINATION's
 * descriptor (open for writing, not O_APPEND) and name the SOURCE by another descriptor of the
 * calling process (open for reading), on the same PmemFs mount, as FICLONERANGE's src_fd: the
 * daemon reads that descriptor's inode, mount and access mode from /proc/PID/fdinfo of the
 * calling thread, so the caller proves it may read the source the way the kernel does, by
 * having opened it. No inode number or path from the caller is trusted.
 *
 * [src_offset, src_offset + length) of the source becomes [dst_offset, ...) of the destination,
 * sharing the blocks (copied on a later write by either file); holes and unwritten blocks of the
 * source become holes. length 0 means to the source's end of file; a range past that end is cut
 * there. Offsets must be multiples of PMEMFS_CLONE_BLOCK; so must the length, unless the range
 * reaches the source's end of file and the destination's range reaches or passes the
 * destination's end of file (Linux's rule: the block holding a file's end is copied, not
 * shared). The destination grows to the range's end if shorter. Durable when it returns.
 * cloned (out) is the bytes done (length after 0 and the cut are resolved).
 *
 * Errors, everything unchanged (ENOSPC: a large clone is several transactions, those committed
 * stay):
 *   EINVAL   bad version, nonzero flags, reserved or out fields, negative src_fd, offsets above
 *            INT64_MAX or unaligned, unaligned length not reaching the source's EOF, overlapping
 *            ranges in one file, a source or destination that is not a regular file
 *   EISDIR   the destination or the source is a directory
 *   EBADF    src_fd is not an open descriptor of the caller, is O_PATH or not open for reading;
 *            the destination descriptor is not open for writing, or is O_APPEND
 *   EXDEV    src_fd is on another file system (or another PmemFs mount)
 *   ESRCH    the daemon cannot see the calling process (another PID namespace) or it is gone
 *   EACCES   the daemon may not read the caller's /proc/PID/fdinfo (a non-root daemon and a
 *            non-dumpable caller)
 *   EPERM    the destination is immutable, append-only or DAX_IMMUTABLE; the source is
 *            DAX_IMMUTABLE (it never shares blocks)
 *   EROFS    read-only mount
 *   EFBIG    the range would end past the largest file
 *   ETXTBSY  a pinned direct-access lease covers the range (leases over it are recalled first)
 *   ENOSPC   no space for the metadata
 *   EMLINK   a block would have more owners than a reference count holds
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_CLONE_VERSION 1
#define PMEMFS_CLONE_BLOCK   4096

struct pmemfs_clone_range {
	uint32_t version;     /* in:  PMEMFS_CLONE_VERSION */
	int32_t  src_fd;      /* in:  the caller's descriptor of the source, open for reading */
	uint64_t src_offset;  /* in:  first byte of the source (a PMEMFS_CLONE_BLOCK multiple) */
	uint64_t length;      /* in:  bytes, 0 = to the source's end of file */
	uint64_t dst_offset;  /* in:  first byte of the destination (a PMEMFS_CLONE_BLOCK multiple) */
	uint64_t flags;       /* in:  0 */
	uint64_t cloned;      /* in: 0; out: bytes done */
	uint64_t reserved[2]; /* in: 0; out: 0 */
};

#define PMEMFS_IOC_CLONE_RANGE _IOWR('P', 0x4C, struct pmemfs_clone_range)

/* ---------------------------------------------------------------------------------------
 * Reverse map (docs/leases.md "The reverse-map ioctl"; `pmemfs rmap MOUNT`).
 *
 * RMAP: who owns each piece of [offset, offset + length) of the pmem region, like XFS's
 * FS_IOC_GETFSMAP: the metadata areas, every file's data extents (inode, file offset, the
 * reference count when the blocks are shared), every xattr blob, and the reference-count
 * records (kind PMEMFS_RMAP_REFCOUNT: a range that refs data extents map). Each row overlapping
 * the range is returned whole, in the order (physical, kind, ino, file_offset), which no two
 * rows share: several extents may start at one shared block, but not with the same inode and
 * file offset. A page at a time: start with every cursor field 0; while "more" is set, call
 * again with the struct as it came back (the cursor names the last row returned; count, more
 * and entries are ignored on input). Built from the daemon's in-memory maps, one file at a time:
 * while files change, a listing is a set of per-file snapshots, each row a real extent.
 *
 * Issue it on any descriptor of the mount (the CLI opens the mount's root). It reveals where
 * every file lives, so it needs CAP_SYS_ADMIN in the daemon's user namespace (as GETFSMAP's
 * full answer does). Checked in this order, changing nothing:
 *   EINVAL     bad version, nonzero flags or reserved0, an unknown cursor_kind, a cursor with
 *              kind 0 but another field set, a cursor offset above INT64_MAX; a bad range (the
 *              rule above the lease structs: offset above INT64_MAX, length 0 or above
 *              INT64_MAX unless PMEMFS_LENGTH_TO_END)
 *   EOVERFLOW  offset + length overflows
 *   EPERM      the caller lacks CAP_SYS_ADMIN (or is in another user namespace)
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_RMAP_VERSION 1
#define PMEMFS_RMAP_ENTRIES 63

/* pmemfs_rmap_entry.kind (and cursor_kind; 0 in the cursor: start) */
#define PMEMFS_RMAP_DATA         1  /* a file's data extent */
#define PMEMFS_RMAP_XATTR        2  /* a file's xattr blob */
#define PMEMFS_RMAP_SUPERBLOCK   16 /* primary (at 0) or secondary (the last block) */
#define PMEMFS_RMAP_JOURNAL      17
#define PMEMFS_RMAP_BITMAP       18
#define PMEMFS_RMAP_INODE_TABLE  19
#define PMEMFS_RMAP_DIRENT_TABLE 20
#define PMEMFS_RMAP_EXTENT_TABLE 21
#define PMEMFS_RMAP_RMAP_TABLE   22
#define PMEMFS_RMAP_REFCOUNT     32 /* not an owner: a reference-count record (refs extents map it) */

/* pmemfs_rmap_entry.flags */
#define PMEMFS_RMAP_UNWRITTEN 0x1 /* DATA: allocated, never written (reads as zeros) */
#define PMEMFS_RMAP_SHARED    0x2 /* DATA: other extents map some of these blocks too (refs says how many) */

struct pmemfs_rmap_entry {
	uint64_t physical;    /* bytes into the region */
	uint64_t length;      /* bytes */
	uint64_t ino;         /* DATA, XATTR: the file (st_ino); else 0 */
	uint64_t file_offset; /* DATA: bytes into the file; else 0 */
	uint64_t refs;        /* DATA: the highest count over the range when shared, else 0; REFCOUNT: the count */
	uint32_t kind;        /* PMEMFS_RMAP_* */
	uint32_t flags;       /* PMEMFS_RMAP_UNWRITTEN, PMEMFS_RMAP_SHARED */
	uint64_t reserved[2]; /* 0 */
};

struct pmemfs_rmap {
	uint32_t version;            /* in:  PMEMFS_RMAP_VERSION */
	uint32_t flags;              /* in:  0 */
	uint64_t offset;             /* in:  first byte of the region */
	uint64_t length;             /* in:  bytes, or PMEMFS_LENGTH_TO_END */
	uint64_t cursor_physical;    /* in/out: the last row returned (all 0 to start) */
	uint64_t cursor_ino;         /* in/out */
	uint64_t cursor_file_offset; /* in/out */
	uint32_t cursor_kind;        /* in/out: 0 to start */
	uint32_t count;              /* out: rows filled in entries[] */
	uint32_t more;               /* out: 1 when rows follow the cursor */
	uint32_t reserved0;          /* in: 0; out: 0 */
	struct pmemfs_rmap_entry entries[PMEMFS_RMAP_ENTRIES]; /* out */
};

#define PMEMFS_IOC_RMAP _IOWR('P', 0x4D, struct pmemfs_rmap)

/* ---------------------------------------------------------------------------------------
 * Poison (bad blocks; docs/health.md; `pmemfs poison ... MOUNT`).
 *
 * One ioctl, three operations, on any descriptor of the mount; all need CAP_SYS_ADMIN:
 *   PMEMFS_POISON_LIST    the bad ranges the mount knows (region bytes, sorted, merged) that end
 *                         after offset, up to PMEMFS_POISON_ENTRIES per call (length ignored);
 *                         "more" set: call again with offset = the end of the last range.
 *                         Owners come from PMEMFS_IOC_RMAP. health_state: 0 healthy, 1 writes
 *                         refused (damaged or poisoned metadata: run pmemfs fsck --repair),
 *                         2 shut down.
 *   PMEMFS_POISON_INJECT  marks [offset, +length) bad, widened to 512-byte sectors, durably (the
 *                         image's IMAGE.poison), as a failing device would: emulated regions only.
 *                         With PMEMFS_POISON_QUIET the file system is not told: only a load that
 *                         touches the range finds it.
 *   PMEMFS_POISON_CLEAR   clears the poison of [offset, +length): those bytes read zeros after.
 *                         Free space always; file data only with PMEMFS_POISON_DISCARD_DATA;
 *                         metadata never (pmemfs fsck --repair rewrites it).
 * Errors, changing nothing: EINVAL (bad version, op, flags, reserved fields, a range outside
 * the region), EPERM (no CAP_SYS_ADMIN; CLEAR of metadata), EOPNOTSUPP (INJECT on a real device
 * or a read-only region; CLEAR where the media cannot), EBUSY (CLEAR of file data without
 * PMEMFS_POISON_DISCARD_DATA), EROFS (CLEAR on a read-only mount).
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_POISON_VERSION 1
#define PMEMFS_POISON_ENTRIES 252

#define PMEMFS_POISON_LIST   1
#define PMEMFS_POISON_INJECT 2
#define PMEMFS_POISON_CLEAR  3

#define PMEMFS_POISON_QUIET        0x1 /* INJECT: found only by touching */
#define PMEMFS_POISON_DISCARD_DATA 0x2 /* CLEAR: also over file data (it reads zeros after) */

struct pmemfs_poison_range {
	uint64_t offset; /* bytes into the region */
	uint64_t length; /* bytes */
};

struct pmemfs_poison {
	uint32_t version;      /* in: PMEMFS_POISON_VERSION */
	uint32_t op;           /* in: PMEMFS_POISON_LIST, _INJECT or _CLEAR */
	uint32_t flags;        /* in: PMEMFS_POISON_QUIET (INJECT), PMEMFS_POISON_DISCARD_DATA (CLEAR) */
	uint32_t count;        /* out (LIST): ranges filled */
	uint64_t offset;       /* in: the range (INJECT, CLEAR); LIST: ranges ending after it */
	uint64_t length;       /* in: bytes (INJECT, CLEAR) */
	uint32_t more;         /* out (LIST): 1 when ranges follow */
	uint32_t health_state; /* out: 0 healthy, 1 writes refused, 2 shut down */
	uint64_t reserved[3];  /* in: 0 */
	struct pmemfs_poison_range ranges[PMEMFS_POISON_ENTRIES]; /* out (LIST) */
};

#define PMEMFS_IOC_POISON _IOWR('P', 0x50, struct pmemfs_poison)

/* ---------------------------------------------------------------------------------------
 * Health and forced shutdown (docs/health.md): on any file or directory of the mount.
 *   PMEMFS_HEALTH_GET       fills state, since_ns and reason. Anyone may ask.
 *   PMEMFS_HEALTH_SHUTDOWN  forced shutdown, as XFS_IOC_GOINGDOWN (which reaches a FUSE daemon
 *                           without its flags, being _IOR): from then on every change gets EIO
 *                           and nothing is written until remount, not even the clean-unmount
 *                           header, so the next mount replays the journal. Reads go on.
 *                           flags: PMEMFS_SHUTDOWN_DEFAULT or _LOGFLUSH let the transactions
 *                           already in the log finish first (their callers are told success);
 *                           _NOLOGFLUSH makes them fail with EIO (one whose commit was durable
 *                           is replayed by the next mount). Needs CAP_SYS_ADMIN. Then as GET.
 * A second SHUTDOWN succeeds and changes nothing: the first reason and time stay (as XFS).
 * Checked in XFS's order, changing nothing on error: EINVAL (bad version or op); EPERM
 * (SHUTDOWN without CAP_SYS_ADMIN, checked before the flags, as XFS_IOC_GOINGDOWN does); EINVAL
 * (unknown flags, flags on GET, or any of state, since_ns, reserved, reason not 0 on input:
 * clear the struct before reusing an answer). A read-only mount may be shut down too (it
 * writes nothing anyway).
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_HEALTH_VERSION 1
#define PMEMFS_HEALTH_REASON_BYTES 448

#define PMEMFS_HEALTH_GET      1
#define PMEMFS_HEALTH_SHUTDOWN 2

#define PMEMFS_SHUTDOWN_DEFAULT    0 /* = XFS_FSOP_GOING_FLAGS_DEFAULT */
#define PMEMFS_SHUTDOWN_LOGFLUSH   1 /* = XFS_FSOP_GOING_FLAGS_LOGFLUSH */
#define PMEMFS_SHUTDOWN_NOLOGFLUSH 2 /* = XFS_FSOP_GOING_FLAGS_NOLOGFLUSH */

struct pmemfs_health {
	uint32_t version;     /* in: PMEMFS_HEALTH_VERSION */
	uint32_t op;          /* in: PMEMFS_HEALTH_GET or PMEMFS_HEALTH_SHUTDOWN */
	uint32_t flags;       /* in: PMEMFS_SHUTDOWN_* (SHUTDOWN); 0 (GET) */
	uint32_t state;       /* in: 0; out: PMEMFS_HEALTH_OK, _WRITES_REFUSED or _SHUT_DOWN */
	uint64_t since_ns;    /* in: 0; out: when the state last got worse, ns since the epoch (UTC); 0 while ok */
	uint64_t reserved[5]; /* in: 0; out: 0 */
	char reason[PMEMFS_HEALTH_REASON_BYTES]; /* in: 0; out: why, UTF-8, NUL-terminated; empty while ok */
};

#define PMEMFS_IOC_HEALTH _IOWR('P', 0x51, struct pmemfs_health)

/* ---------------------------------------------------------------------------------------
 * PMEMFS_IOC_DAEMON_STATS: what the daemon serving the mount costs at run time, on any file
 * or directory of the mount (`pmemfs info MOUNT` prints it; docs/cli.md). Anyone may ask.
 * The daemon is a .NET process: the garbage collector pauses every thread that serves
 * requests while it collects, so a pause is added to the latency of whatever is in flight.
 *   uptime_ns            time since the daemon started
 *   gc_collections[g]    garbage collections whose oldest generation collected was g (0, 1, 2)
 *   gc_pause_total_ns    time the daemon's threads were stopped by the collector, in total
 *   gc_pause_max_ns      the longest single such stop seen since the daemon started
 *   allocated_bytes      managed heap bytes allocated since the daemon started
 *   heap_bytes           bytes in use on the managed heap now (live and not yet collected)
 * Counted since the daemon started, never reset: take two answers and subtract.
 * EINVAL: version is not PMEMFS_DAEMON_STATS_VERSION, or reserved0 is not 0.
 * --------------------------------------------------------------------------------------- */

#define PMEMFS_DAEMON_STATS_VERSION 1

struct pmemfs_daemon_stats {
	uint32_t version;            /* in: PMEMFS_DAEMON_STATS_VERSION */
	uint32_t reserved0;          /* in: 0 */
	uint64_t uptime_ns;          /* out */
	uint64_t gc_collections[3];  /* out */
	uint64_t gc_pause_total_ns;  /* out */
	uint64_t gc_pause_max_ns;    /* out */
	uint64_t allocated_bytes;    /* out */
	uint64_t heap_bytes;         /* out */
	uint64_t reserved[7];        /* out: 0 */
};

#define PMEMFS_IOC_DAEMON_STATS _IOWR('P', 0x52, struct pmemfs_daemon_stats)

#ifdef __cplusplus
#define PMEMFS_STATIC_ASSERT static_assert
#else
#define PMEMFS_STATIC_ASSERT _Static_assert
#endif
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_inode_flags) == 64, "pmemfs_inode_flags is 64 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_daemon_stats) == 128, "pmemfs_daemon_stats is 128 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_poison) == 4096, "pmemfs_poison is 4096 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_lease) == 64, "pmemfs_lease is 64 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_lease_ref) == 32, "pmemfs_lease_ref is 32 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_pin) == 64, "pmemfs_pin is 64 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_lease_status) == 80, "pmemfs_lease_status is 80 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_lease_entry) == 64, "pmemfs_lease_entry is 64 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_lease_list) == 4096, "pmemfs_lease_list is 4096 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_extent) == 32, "pmemfs_extent is 32 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_map) == 4096, "pmemfs_map is 4096 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_region) == 4096, "pmemfs_region is 4096 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_clone_range) == 64, "pmemfs_clone_range is 64 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_rmap_entry) == 64, "pmemfs_rmap_entry is 64 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_rmap) == 4096, "pmemfs_rmap is 4096 bytes");
PMEMFS_STATIC_ASSERT(sizeof(struct pmemfs_health) == 512, "pmemfs_health is 512 bytes");
#undef PMEMFS_STATIC_ASSERT

#endif /* PMEMFS_H */
