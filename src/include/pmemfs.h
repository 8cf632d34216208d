/*
 * pmemfs.h - PmemFs's own ioctls, for C programs and for the pmemfs CLI.
 *
 * Issue these on a file descriptor open on a file or directory inside a PmemFs mount (any
 * open mode, O_RDONLY is enough). FUSE forwards them to the daemon with exactly
 * sizeof(struct pmemfs_inode_flags) bytes in and out, so the struct is fixed-size and holds
 * no pointers. The daemon checks every permission itself (the kernel checks none).
 *
 * Standard flags (immutable, append, noatime, sync, nodump, dax) also travel through the
 * standard FS_IOC_GETFLAGS/SETFLAGS and FS_IOC_FSGETXATTR/FSSETXATTR ioctls; DAX_IMMUTABLE
 * has no Linux bit and travels only through these. Semantics: docs/flags.md.
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
	uint64_t reserved[2]; /* in: 0; out: 0 */
};

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

#ifdef __cplusplus
static_assert(sizeof(struct pmemfs_inode_flags) == 64, "pmemfs_inode_flags is 64 bytes");
#else
_Static_assert(sizeof(struct pmemfs_inode_flags) == 64, "pmemfs_inode_flags is 64 bytes");
#endif

#endif /* PMEMFS_H */
