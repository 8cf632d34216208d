// SPDX-License-Identifier: GPL-2.0
/*
 * pmemfs_flags - PmemFs's own flag ioctls (src/include/pmemfs.h) and the system calls the
 * flag tests need, with errors printed as errno names (EPERM, EBUSY, ...) so that golden
 * outputs do not depend on a tool's wording.
 *
 * Built by the fstests runner with `gcc -Wall -Werror -I<repo>/src/include` (it also proves
 * that a C program can include the project header).
 *
 *   pmemfs_flags get [-w] FILE [FIELD...]
 *       PMEMFS_IOC_GET_FLAGS; prints "flags=0x21(immutable,dax) state=0x3(dax,can_dax)
 *       dax_mode=0(inode) granularity=1(cache_line)", or only the FIELDs named (flags,
 *       state, dax_mode, granularity). -w: while the state says a DAX change is pending,
 *       close and ask again (up to 5 s; a just-closed descriptor's release can be late).
 *   pmemfs_flags set FILE [+MASK] [-MASK]...
 *       PMEMFS_IOC_SET_FLAGS with the set (+) and clear (-) masks; a MASK is a number
 *       (0x21) or names joined by commas (dax,dax_immutable). Prints "ok" or the errno name.
 *   pmemfs_flags badarg FILE version|reserved0|reserved|unknown|overlap
 *       PMEMFS_IOC_SET_FLAGS with one malformed field; prints "ok" or the errno name.
 *   pmemfs_flags maphold [-r] FILE SECONDS
 *       Opens FILE (O_RDWR, or O_RDONLY with -r), maps it MAP_SHARED (at least one page),
 *       prints "mapped", and sleeps until killed or SECONDS have passed.
 *   pmemfs_flags mstore FILE OFFSET LEN BYTE
 *       Opens FILE O_RDWR, maps it shared, stores LEN bytes of BYTE at OFFSET, msync
 *       (MS_SYNC), munmap. Prints "ok" or "open: ENAME" / "mmap: ENAME" / "msync: ENAME".
 *   pmemfs_flags mstore-loop FILE SECONDS
 *       Opens FILE O_RDWR (its size a multiple of the page size), maps all of it shared,
 *       and for i = 1, 2, ...: fills page p = i % npages with the pattern of iteration i
 *       (below), msync(MS_SYNC) of that page, and only when msync succeeded prints
 *       "ack i p" (flushed at once). Ends on the first failing msync ("msync-error ENAME
 *       i p"), on SIGBUS ("sigbus"), or after SECONDS ("timeout"); exit 0 in each case.
 *       So at most one iteration (the one after the last ack) was in flight at the end.
 *       Pattern of iteration i on page p: u64 words (little endian) w[0] = i, w[1] = p,
 *       w[k] = splitmix64(i << 20 | p << 9 | k) for k = 2..511 (per 4 KiB).
 *   pmemfs_flags mstore-check FILE ACKLOG ORIGBYTE
 *       Checks FILE against the output of mstore-loop (ACKLOG): a page whose last store
 *       was acknowledged must hold that iteration's pattern exactly, a page never
 *       acknowledged the original content (every byte ORIGBYTE); the page of the one
 *       iteration in flight (after the last ack, unless the loop ended on "timeout") may
 *       hold, byte by byte, its acknowledged (or original) content or the in-flight pattern,
 *       since the daemon's in-place store of a page is not atomic. Prints
 *       "acks N last I pages P", "in-flight: none" or "in-flight: iteration J page Q
 *       old|new|torn (N of the M bytes that differ between old and new are new)", one
 *       line per bad page, and "ok" or "BAD";
 *       exit 0 when ok, 1 when not.
 *   pmemfs_flags pwrite [-a] FILE OFFSET LEN BYTE
 *       Opens FILE O_WRONLY (-a: O_WRONLY|O_APPEND), pwrite(2) of LEN bytes of BYTE at
 *       OFFSET. Prints "ok" or "open: ENAME" / "ENAME" (the write's error).
 *   pmemfs_flags held [-a] FILE [+MASK|-MASK...] OP...
 *       Opens FILE O_RDWR (-a: O_WRONLY|O_APPEND) first; then, when masks are given, sets
 *       them through that descriptor (prints "set: ok|ENAME"); then runs each OP on the
 *       same descriptor and prints "OP: ok|ENAME". So the operations meet the flags on a
 *       file that was opened before they were set. OPs: read, write (1 byte at 0),
 *       write-eof (1 byte at EOF), trunc0, trunc-up (+4 KiB), falloc (4 KiB at EOF),
 *       falloc-inside (0..4 KiB), falloc-keep (KEEP_SIZE, at EOF), punch (0..4 KiB), zero
 *       (0..4 KiB), zero-keep, fchmod (to 0600), fchown (to uid 1), futimens-now, futimens
 *       (to 2000-01-01), fsetxattr (user.pmemfs_flags), fremovexattr, fsync.
 *   pmemfs_flags image-flags IMAGE INO SETMASK
 *       Damages an unmounted image on purpose, for fsck tests: ORs SETMASK (numbers or
 *       names) into inode INO's persisted flags and reseals the record's CRC32C, so the
 *       inode verifier accepts it and only fsck's flag rules can object. Layout from
 *       docs/format.md: the superblock's u64 at byte 96 is the inode table's first block;
 *       slot INO-1 is 256 bytes there (u32 crc32c of [4, 256), u16 magic 0x4E49 at 4, u64
 *       ino at 8, u64 flags at 40). Prints "old -> new" flags.
 *   pmemfs_flags open FILE MODE[,MODE...]
 *       open(2) with rdonly|wronly|rdwr and trunc, append, creat; prints "ok" or the errno
 *       name.
 *
 * Exit status: 0 when the call succeeded, 1 when it failed (its errno printed), 2 for a
 * usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <pmemfs.h>

static const char *prog = "pmemfs_flags";

static const char *errno_name(int e)
{
	static char buf[32];
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ENOTTY: return "ENOTTY";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EOVERFLOW: return "EOVERFLOW";
	case ERANGE: return "ERANGE";
	case ENODATA: return "ENODATA";
	case ENOTCONN: return "ENOTCONN";
	case ECONNABORTED: return "ECONNABORTED";
	case EINTR: return "EINTR";
	default:
		snprintf(buf, sizeof(buf), "errno %d", e);
		return buf;
	}
}

static const struct {
	const char *name;
	uint64_t bit;
} flag_names[] = {
	{ "immutable", PMEMFS_FL_IMMUTABLE },
	{ "append", PMEMFS_FL_APPEND },
	{ "noatime", PMEMFS_FL_NOATIME },
	{ "sync", PMEMFS_FL_SYNC },
	{ "nodump", PMEMFS_FL_NODUMP },
	{ "dax", PMEMFS_FL_DAX },
	{ "dax_immutable", PMEMFS_FL_DAX_IMMUTABLE },
};

static const struct {
	const char *name;
	uint64_t bit;
} state_names[] = {
	{ "dax", PMEMFS_STATE_DAX },
	{ "can_dax", PMEMFS_STATE_CAN_DAX },
	{ "dax_pending", PMEMFS_STATE_DAX_PENDING },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void usage(void)
{
	fprintf(stderr,
		"usage: %s get [-w] FILE [flags|state|dax_mode|granularity...]\n"
		"       %s set FILE [+MASK] [-MASK]...   (MASK: 0xNN or name,name)\n"
		"       %s badarg FILE version|reserved0|reserved|unknown|overlap\n"
		"       %s maphold [-r] FILE SECONDS\n"
		"       %s mstore FILE OFFSET LEN BYTE\n"
		"       %s mstore-loop FILE SECONDS\n"
		"       %s mstore-check FILE ACKLOG ORIGBYTE\n"
		"       %s pwrite [-a] FILE OFFSET LEN BYTE\n"
		"       %s held [-a] FILE [+MASK|-MASK...] OP...\n"
		"       %s image-flags IMAGE INO SETMASK\n"
		"       %s open FILE rdonly|wronly|rdwr[,trunc][,append][,creat]\n",
		prog, prog, prog, prog, prog, prog, prog, prog, prog, prog, prog);
	exit(2);
}

static unsigned long long parse_num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0') {
		fprintf(stderr, "%s: not a number: %s\n", prog, s);
		exit(2);
	}
	return v;
}

/* "0x21", "33" or "dax,dax_immutable". */
static uint64_t parse_mask(const char *s)
{
	char *copy, *tok, *save = NULL;
	uint64_t mask = 0;
	size_t i;

	if (*s >= '0' && *s <= '9')
		return parse_num(s);
	copy = strdup(s);
	if (!copy)
		exit(2);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < N_ELEMS(flag_names); i++) {
			if (strcmp(tok, flag_names[i].name) == 0) {
				mask |= flag_names[i].bit;
				break;
			}
		}
		if (i == N_ELEMS(flag_names)) {
			fprintf(stderr, "%s: unknown flag name: %s\n", prog, tok);
			exit(2);
		}
	}
	free(copy);
	return mask;
}

static void print_bits(uint64_t v, int is_state)
{
	size_t i, n = is_state ? N_ELEMS(state_names) : N_ELEMS(flag_names);
	uint64_t known = 0;
	int first = 1;

	printf("0x%" PRIx64 "(", v);
	for (i = 0; i < n; i++) {
		uint64_t bit = is_state ? state_names[i].bit : flag_names[i].bit;
		const char *name = is_state ? state_names[i].name : flag_names[i].name;

		known |= bit;
		if (v & bit) {
			printf("%s%s", first ? "" : ",", name);
			first = 0;
		}
	}
	if (v & ~known)
		printf("%sunknown:0x%" PRIx64, first ? "" : ",", v & ~known);
	printf(")");
}

static const char *dax_mode_name(uint32_t m)
{
	switch (m) {
	case PMEMFS_DAX_INODE: return "inode";
	case PMEMFS_DAX_ALWAYS: return "always";
	case PMEMFS_DAX_NEVER: return "never";
	default: return "unknown";
	}
}

static const char *granularity_name(uint32_t g)
{
	switch (g) {
	case PMEMFS_GRANULARITY_BYTE: return "byte";
	case PMEMFS_GRANULARITY_CACHE_LINE: return "cache_line";
	case PMEMFS_GRANULARITY_PAGE: return "page";
	default: return "unknown";
	}
}

static void print_field(const struct pmemfs_inode_flags *f, const char *field)
{
	if (strcmp(field, "flags") == 0) {
		printf("flags=");
		print_bits(f->flags, 0);
	} else if (strcmp(field, "state") == 0) {
		printf("state=");
		print_bits(f->state, 1);
	} else if (strcmp(field, "dax_mode") == 0) {
		printf("dax_mode=%u(%s)", f->dax_mode, dax_mode_name(f->dax_mode));
	} else if (strcmp(field, "granularity") == 0) {
		printf("granularity=%u(%s)", f->granularity, granularity_name(f->granularity));
	} else {
		fprintf(stderr, "%s: unknown field: %s\n", prog, field);
		exit(2);
	}
}

/* open(2), or print "open: ENAME" and exit 1. */
static int open_or_exit(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0) {
		printf("open: %s\n", errno_name(errno));
		exit(1);
	}
	return fd;
}

static int open_any(const char *path)
{
	/* O_RDONLY works for directories too; O_NONBLOCK keeps FIFOs from blocking. */
	return open_or_exit(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
}

/* Drops OPT from the front of the arguments when it is there; returns whether it was. */
static int take_option(int *argc, char ***argv, const char *opt)
{
	if (*argc < 1 || strcmp((*argv)[0], opt) != 0)
		return 0;
	(*argc)--;
	(*argv)++;
	return 1;
}

/* An argument struct with only the version set, as every call starts. */
static void init_flags(struct pmemfs_inode_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->version = PMEMFS_FLAGS_VERSION;
}

/* Adds "+MASK" to F's set mask or "-MASK" to its clear mask; returns 0 for any other ARG. */
static int add_mask(struct pmemfs_inode_flags *f, const char *arg)
{
	if (arg[0] == '+')
		f->set |= parse_mask(arg + 1);
	else if (arg[0] == '-')
		f->clear |= parse_mask(arg + 1);
	else
		return 0;
	return 1;
}

static int cmd_get(int argc, char **argv)
{
	struct pmemfs_inode_flags f;
	int wait, fd, i, tries;

	wait = take_option(&argc, &argv, "-w");
	if (argc < 1)
		usage();
	for (tries = 0;; tries++) {
		fd = open_any(argv[0]);
		memset(&f, 0, sizeof(f));
		f.version = PMEMFS_FLAGS_VERSION;
		if (ioctl(fd, PMEMFS_IOC_GET_FLAGS, &f) < 0) {
			printf("%s\n", errno_name(errno));
			return 1;
		}
		close(fd);
		if (!wait || !(f.state & PMEMFS_STATE_DAX_PENDING) || tries >= 50)
			break;
		usleep(100000);
	}
	if (argc == 1) {
		print_field(&f, "flags");
		printf(" ");
		print_field(&f, "state");
		printf(" ");
		print_field(&f, "dax_mode");
		printf(" ");
		print_field(&f, "granularity");
	} else {
		for (i = 1; i < argc; i++) {
			if (i > 1)
				printf(" ");
			print_field(&f, argv[i]);
		}
	}
	printf("\n");
	return 0;
}

static int do_set(const char *path, struct pmemfs_inode_flags *f)
{
	int fd = open_any(path);

	if (ioctl(fd, PMEMFS_IOC_SET_FLAGS, f) < 0) {
		printf("%s\n", errno_name(errno));
		close(fd);
		return 1;
	}
	close(fd);
	printf("ok\n");
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	struct pmemfs_inode_flags f;
	int i;

	if (argc < 1)
		usage();
	init_flags(&f);
	for (i = 1; i < argc; i++)
		if (!add_mask(&f, argv[i]))
			usage();
	return do_set(argv[0], &f);
}

static int cmd_badarg(int argc, char **argv)
{
	struct pmemfs_inode_flags f;

	if (argc != 2)
		usage();
	init_flags(&f);
	if (strcmp(argv[1], "version") == 0) {
		f.version = PMEMFS_FLAGS_VERSION + 1;
		f.set = PMEMFS_FL_NODUMP;
	} else if (strcmp(argv[1], "reserved0") == 0) {
		f.reserved0 = 1;
		f.set = PMEMFS_FL_NODUMP;
	} else if (strcmp(argv[1], "reserved") == 0) {
		f.reserved[0] = 1;
		f.set = PMEMFS_FL_NODUMP;
	} else if (strcmp(argv[1], "unknown") == 0) {
		f.set = PMEMFS_FL_NODUMP | (PMEMFS_FL_ALL + 1);
	} else if (strcmp(argv[1], "overlap") == 0) {
		f.set = PMEMFS_FL_NODUMP;
		f.clear = PMEMFS_FL_NODUMP;
	} else {
		usage();
	}
	return do_set(argv[0], &f);
}

static size_t map_length(int fd)
{
	struct stat st;
	long page = sysconf(_SC_PAGESIZE);

	if (fstat(fd, &st) < 0 || st.st_size <= 0)
		return (size_t)page;
	return ((size_t)st.st_size + (size_t)page - 1) / (size_t)page * (size_t)page;
}

static int cmd_maphold(int argc, char **argv)
{
	int ro, fd;
	size_t len;
	void *p;
	time_t end;

	ro = take_option(&argc, &argv, "-r");
	if (argc != 2)
		usage();
	end = time(NULL) + (time_t)parse_num(argv[1]);
	fd = open_or_exit(argv[0], ro ? O_RDONLY : O_RDWR);
	len = map_length(fd);
	p = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("mmap: %s\n", errno_name(errno));
		return 1;
	}
	close(fd); /* the mapping alone keeps the file in use */
	printf("mapped\n");
	fflush(stdout);
	while (time(NULL) < end)
		sleep(1);
	munmap(p, len);
	return 0;
}

static int cmd_mstore(int argc, char **argv)
{
	unsigned long long off, n;
	int fd, byte;
	size_t len;
	struct stat st;
	char *p;

	if (argc != 4)
		usage();
	off = parse_num(argv[1]);
	n = parse_num(argv[2]);
	byte = (int)parse_num(argv[3]);
	fd = open_or_exit(argv[0], O_RDWR);
	if (fstat(fd, &st) < 0 || off + n > (unsigned long long)st.st_size) {
		printf("mstore: range beyond EOF\n");
		return 1;
	}
	len = map_length(fd);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("mmap: %s\n", errno_name(errno));
		return 1;
	}
	memset(p + off, byte, n);
	if (msync(p, len, MS_SYNC) < 0) {
		printf("msync: %s\n", errno_name(errno));
		return 1;
	}
	munmap(p, len);
	if (close(fd) < 0) {
		printf("close: %s\n", errno_name(errno));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* The content of page p after iteration i of mstore-loop (LEN bytes, a multiple of 8). */
static void loop_pattern(unsigned char *buf, size_t len, uint64_t i, uint64_t p)
{
	size_t k;

	for (k = 0; k < len / 8; k++) {
		uint64_t w = k == 0 ? i : k == 1 ? p : splitmix64(i << 20 | p << 9 | k);

		put_le(buf + k * 8, w, 8);
	}
}

static void loop_sigbus(int sig)
{
	static const char msg[] = "sigbus\n";
	ssize_t r;

	(void)sig;
	r = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(0);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_mstore_loop(int argc, char **argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), npages, p;
	struct sigaction sa;
	struct stat st;
	double end;
	uint64_t i;
	unsigned char *base;
	int fd;

	if (argc != 2)
		usage();
	end = now_seconds() + (double)parse_num(argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = loop_sigbus;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return 1;
	fd = open_or_exit(argv[0], O_RDWR);
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (size_t)st.st_size % page != 0) {
		printf("mstore-loop: the size is not a positive multiple of %zu\n", page);
		return 1;
	}
	npages = (size_t)st.st_size / page;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		printf("mmap: %s\n", errno_name(errno));
		return 1;
	}
	for (i = 1;; i++) {
		if (now_seconds() >= end) {
			printf("timeout\n");
			break;
		}
		p = (size_t)(i % npages);
		loop_pattern(base + p * page, page, i, p);
		if (msync(base + p * page, page, MS_SYNC) < 0) {
			printf("msync-error %s %" PRIu64 " %zu\n", errno_name(errno), i, p);
			break;
		}
		printf("ack %" PRIu64 " %zu\n", i, p);
		fflush(stdout);
	}
	fflush(stdout);
	return 0;
}

/* Page P of FD into BUF; on a failed or short read prints "page P: read: ENAME" and returns -1. */
static int read_page(int fd, unsigned char *buf, size_t page, size_t p)
{
	if (pread(fd, buf, page, (off_t)(p * page)) != (ssize_t)page) {
		printf("page %zu: read: %s\n", p, errno_name(errno));
		return -1;
	}
	return 0;
}

/* What page P holds after its last acknowledged iteration LAST (0: none, every byte ORIG). */
static void acked_content(unsigned char *buf, size_t page, uint64_t last, size_t p, int orig)
{
	if (last)
		loop_pattern(buf, page, last, p);
	else
		memset(buf, orig, page);
}

static int cmd_mstore_check(int argc, char **argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), npages, p, k, nnew, ndiff;
	uint64_t *last, i, pg, nacks = 0, max_ack = 0, inflight = 0;
	unsigned char *have, *want, *next;
	char line[256];
	int fd, orig, ended_by_timeout = 0, bad = 0;
	struct stat st;
	FILE *log;

	if (argc != 3)
		usage();
	orig = (int)parse_num(argv[2]);
	fd = open_or_exit(argv[0], O_RDONLY);
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (size_t)st.st_size % page != 0) {
		printf("mstore-check: the size is not a positive multiple of %zu\n", page);
		return 1;
	}
	npages = (size_t)st.st_size / page;
	last = calloc(npages, sizeof(*last));
	have = malloc(page);
	want = malloc(page);
	next = malloc(page);
	if (!last || !have || !want || !next)
		return 1;
	log = fopen(argv[1], "r");
	if (!log) {
		printf("open %s: %s\n", argv[1], errno_name(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), log)) {
		if (sscanf(line, "ack %" SCNu64 " %" SCNu64, &i, &pg) == 2) {
			if (i != max_ack + 1 || pg != i % npages) {
				printf("acklog: unexpected line after ack %" PRIu64 ": %s", max_ack, line);
				return 1;
			}
			last[pg] = i;
			max_ack = i;
			nacks++;
		} else if (strcmp(line, "timeout\n") == 0) {
			ended_by_timeout = 1;
		}
	}
	fclose(log);
	printf("acks %" PRIu64 " last %" PRIu64 " pages %zu\n", nacks, max_ack, npages);
	if (!ended_by_timeout)
		inflight = max_ack + 1;
	/* The page of the iteration in flight: byte by byte, its old or its new content. */
	if (inflight) {
		p = (size_t)(inflight % npages);
		if (read_page(fd, have, page, p) < 0)
			return 1;
		acked_content(want, page, last[p], p, orig);
		loop_pattern(next, page, inflight, p);
		nnew = ndiff = 0;
		for (k = 0; k < page; k++)
			ndiff += want[k] != next[k];
		for (k = 0; k < page; k++) {
			if (have[k] == want[k])
				continue;
			if (have[k] != next[k])
				break;
			nnew++;
		}
		if (k < page) {
			printf("in-flight: iteration %" PRIu64 " page %zu: byte %zu is 0x%02x, neither "
			       "0x%02x (iteration %" PRIu64 ") nor 0x%02x (iteration %" PRIu64 ")\n",
			       inflight, p, k, have[k], want[k], last[p], next[k], inflight);
			bad = 1;
		} else {
			printf("in-flight: iteration %" PRIu64 " page %zu %s (%zu of the %zu bytes "
			       "that differ between old and new are new)\n",
			       inflight, p,
			       memcmp(have, want, page) == 0 ? "old" :
			       memcmp(have, next, page) == 0 ? "new" : "torn",
			       nnew, ndiff);
		}
	} else {
		printf("in-flight: none\n");
	}
	/* Every other page: exactly its last acknowledged iteration, or the original. */
	for (p = 0; p < npages; p++) {
		if (inflight && p == inflight % npages)
			continue;
		if (read_page(fd, have, page, p) < 0)
			return 1;
		acked_content(want, page, last[p], p, orig);
		if (memcmp(have, want, page) != 0) {
			for (k = 0; k < page && have[k] == want[k]; k++)
				;
			printf("page %zu: not iteration %" PRIu64 " from byte %zu on "
			       "(word 0 = %" PRIu64 ", word 1 = %" PRIu64 ")\n",
			       p, last[p], k, get_le(have, 8), get_le(have + 8, 8));
			bad = 1;
		}
	}
	printf("%s\n", bad ? "BAD" : "ok");
	close(fd);
	return bad;
}

static int cmd_pwrite(int argc, char **argv)
{
	int append, fd, byte;
	unsigned long long off, n;
	char *buf;
	ssize_t done;

	append = take_option(&argc, &argv, "-a");
	if (argc != 4)
		usage();
	off = parse_num(argv[1]);
	n = parse_num(argv[2]);
	byte = (int)parse_num(argv[3]);
	fd = open_or_exit(argv[0], O_WRONLY | (append ? O_APPEND : 0));
	buf = malloc(n ? n : 1);
	if (!buf)
		return 1;
	memset(buf, byte, n);
	done = pwrite(fd, buf, n, (off_t)off);
	if (done < 0) {
		printf("%s\n", errno_name(errno));
		return 1;
	}
	if ((unsigned long long)done != n) {
		printf("short write %zd of %llu\n", done, n);
		return 1;
	}
	free(buf);
	if (close(fd) < 0) {
		printf("close: %s\n", errno_name(errno));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int held_op(int fd, const char *op)
{
	struct stat st;
	char c = 'x';
	int r;

	if (fstat(fd, &st) < 0)
		return -1;
	if (strcmp(op, "read") == 0) {
		r = pread(fd, &c, 1, 0) < 0 ? -1 : 0;
	} else if (strcmp(op, "write") == 0) {
		r = pwrite(fd, &c, 1, 0) < 0 ? -1 : 0;
	} else if (strcmp(op, "write-eof") == 0) {
		r = pwrite(fd, &c, 1, st.st_size) < 0 ? -1 : 0;
	} else if (strcmp(op, "trunc0") == 0) {
		r = ftruncate(fd, 0);
	} else if (strcmp(op, "trunc-up") == 0) {
		r = ftruncate(fd, st.st_size + 4096);
	} else if (strcmp(op, "falloc") == 0) {
		r = fallocate(fd, 0, st.st_size, 4096);
	} else if (strcmp(op, "falloc-inside") == 0) {
		r = fallocate(fd, 0, 0, 4096);
	} else if (strcmp(op, "falloc-keep") == 0) {
		r = fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, 4096);
	} else if (strcmp(op, "punch") == 0) {
		r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	} else if (strcmp(op, "zero") == 0) {
		r = fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096);
	} else if (strcmp(op, "zero-keep") == 0) {
		r = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	} else if (strcmp(op, "fchmod") == 0) {
		r = fchmod(fd, 0600);
	} else if (strcmp(op, "fchown") == 0) {
		r = fchown(fd, 1, (gid_t)-1);
	} else if (strcmp(op, "futimens-now") == 0) {
		r = futimens(fd, NULL);
	} else if (strcmp(op, "futimens") == 0) {
		struct timespec ts[2] = { { 946684800, 0 }, { 946684800, 0 } };

		r = futimens(fd, ts);
	} else if (strcmp(op, "fsetxattr") == 0) {
		r = fsetxattr(fd, "user.pmemfs_flags", "v", 1, 0);
	} else if (strcmp(op, "fremovexattr") == 0) {
		r = fremovexattr(fd, "user.pmemfs_flags");
	} else if (strcmp(op, "fsync") == 0) {
		r = fsync(fd);
	} else {
		usage();
		r = -1;
	}
	return r;
}

static int cmd_held(int argc, char **argv)
{
	struct pmemfs_inode_flags f;
	int append, fd, i, any_mask = 0, fails = 0;

	append = take_option(&argc, &argv, "-a");
	if (argc < 2)
		usage();
	fd = open_or_exit(argv[0], append ? O_WRONLY | O_APPEND : O_RDWR);
	init_flags(&f);
	for (i = 1; i < argc; i++)
		any_mask |= add_mask(&f, argv[i]);
	if (any_mask) {
		if (ioctl(fd, PMEMFS_IOC_SET_FLAGS, &f) < 0) {
			printf("set: %s\n", errno_name(errno));
			return 1;
		}
		printf("set: ok\n");
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '+' || argv[i][0] == '-')
			continue;
		if (held_op(fd, argv[i]) < 0) {
			printf("%s: %s\n", argv[i], errno_name(errno));
			fails++;
		} else {
			printf("%s: ok\n", argv[i]);
		}
	}
	close(fd);
	return fails ? 1 : 0;
}

static uint32_t crc32c(const unsigned char *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return crc ^ 0xFFFFFFFFu;
}

static int cmd_image_flags(int argc, char **argv)
{
	unsigned char sb[8], rec[256];
	unsigned long long ino;
	uint64_t mask, table, old;
	off_t off;
	int fd;

	if (argc != 3)
		usage();
	ino = parse_num(argv[1]);
	mask = parse_mask(argv[2]);
	if (ino == 0)
		usage();
	fd = open_or_exit(argv[0], O_RDWR);
	if (pread(fd, sb, sizeof(sb), 96) != (ssize_t)sizeof(sb)) {
		printf("read superblock: %s\n", errno_name(errno));
		return 1;
	}
	table = get_le(sb, 8);
	off = (off_t)(table * 4096 + (ino - 1) * 256);
	if (pread(fd, rec, sizeof(rec), off) != (ssize_t)sizeof(rec)) {
		printf("read inode: %s\n", errno_name(errno));
		return 1;
	}
	if (get_le(rec + 4, 2) != 0x4E49 || get_le(rec + 8, 8) != ino ||
	    get_le(rec, 4) != crc32c(rec + 4, sizeof(rec) - 4)) {
		printf("inode %llu: not a valid inode record at byte %lld\n", ino, (long long)off);
		return 1;
	}
	old = get_le(rec + 40, 8);
	put_le(rec + 40, old | mask, 8);
	put_le(rec, crc32c(rec + 4, sizeof(rec) - 4), 4);
	if (pwrite(fd, rec, sizeof(rec), off) != (ssize_t)sizeof(rec) || fsync(fd) < 0) {
		printf("write inode: %s\n", errno_name(errno));
		return 1;
	}
	close(fd);
	printf("0x%" PRIx64 " -> 0x%" PRIx64 "\n", old, old | mask);
	return 0;
}

static int cmd_open(int argc, char **argv)
{
	char *copy, *tok, *save = NULL;
	int flags = -1, extra = 0, fd;

	if (argc != 2)
		usage();
	copy = strdup(argv[1]);
	if (!copy)
		return 1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "rdonly") == 0)
			flags = O_RDONLY;
		else if (strcmp(tok, "wronly") == 0)
			flags = O_WRONLY;
		else if (strcmp(tok, "rdwr") == 0)
			flags = O_RDWR;
		else if (strcmp(tok, "trunc") == 0)
			extra |= O_TRUNC;
		else if (strcmp(tok, "append") == 0)
			extra |= O_APPEND;
		else if (strcmp(tok, "creat") == 0)
			extra |= O_CREAT;
		else
			usage();
	}
	free(copy);
	if (flags < 0)
		usage();
	fd = open(argv[0], flags | extra, 0644);
	if (fd < 0) {
		printf("%s\n", errno_name(errno));
		return 1;
	}
	close(fd);
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} commands[] = {
		{ "get", cmd_get },
		{ "set", cmd_set },
		{ "badarg", cmd_badarg },
		{ "maphold", cmd_maphold },
		{ "mstore", cmd_mstore },
		{ "mstore-loop", cmd_mstore_loop },
		{ "mstore-check", cmd_mstore_check },
		{ "pwrite", cmd_pwrite },
		{ "held", cmd_held },
		{ "image-flags", cmd_image_flags },
		{ "open", cmd_open },
	};
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 2, argv + 2);
	usage();
	return 2;
}
