// SPDX-License-Identifier: GPL-2.0
/*
 * pmemfs_lease - a lease holder that speaks PmemFs's lease protocol with nothing but
 * src/include/pmemfs.h (it proves a C program can). Built by the mount tests with
 * `gcc -Wall -Werror -I<repo>/src/include`.
 *
 *   pmemfs_lease hold [-r] [-R] [-f] FILE read|write OFFSET LENGTH [PIN_OFFSET PIN_LENGTH]
 *       Opens FILE (O_RDWR; -r: O_RDONLY), takes a lease (LENGTH "end": to the end of the
 *       file), pins a range if given, prints "lease ID", "pin ID", "ready", then waits in
 *       poll() for POLLPRI on the descriptor. On each wake it asks PMEMFS_IOC_LEASE_STATUS and,
 *       when the state changed, prints "event NS STATE REMAINING_MS DEADLINE_NS" (NS:
 *       CLOCK_REALTIME when poll returned; STATE recalled|revoked; the deadline 0 once revoked). -R: on a recall, release the lease and print "released NS".
 *       Ends when the lease is gone ("gone"), on stdin EOF or after 120 s. -f: fork first
 *       and let the child (which inherits the descriptor) sleep, so the open file outlives
 *       this process: its lease must still end when it dies.
 *   pmemfs_lease try FILE read|write OFFSET LENGTH
 *       Opens FILE O_RDWR, asks for a lease and prints "ok ID" or the errno name.
 *   pmemfs_lease list PATH
 *       PMEMFS_IOC_LEASE_LIST over the whole mount, every page; one line per row:
 *       "lease ID ino INO pid PID MODE STATE OFFSET LENGTH" or "pin ID of LEASE OFFSET LENGTH".
 *   pmemfs_lease region FILE
 *       Opens FILE O_RDONLY, asks PMEMFS_IOC_REGION and prints "region PATH kind KIND size SIZE
 *       granularity G"; then opens the region O_RDWR as a direct-access client must and prints
 *       "region open ok" or "region open ERRNO"; when open, maps its first page and prints
 *       "uuid ok" if the UUID is where the reply says.
 * Errors are printed as errno names (EAGAIN, ETXTBSY...), exit 0; usage errors exit 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "pmemfs.h"

static const char *ename(int e)
{
	switch (e) {
	case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN"; case EBUSY: return "EBUSY"; case EINVAL: return "EINVAL";
	case ETXTBSY: return "ETXTBSY"; case EOVERFLOW: return "EOVERFLOW"; case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOTTY: return "ENOTTY"; case EROFS: return "EROFS"; case ESRCH: return "ESRCH"; case EACCES: return "EACCES";
	default: { static char b[32]; snprintf(b, sizeof b, "errno%d", e); return b; }
	}
}

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static uint64_t num(const char *s)
{
	return strcmp(s, "end") == 0 ? PMEMFS_LENGTH_TO_END : strtoull(s, NULL, 0);
}

static uint32_t mode_of(const char *s)
{
	return strcmp(s, "write") == 0 ? PMEMFS_LEASE_WRITE : strcmp(s, "read") == 0 ? PMEMFS_LEASE_READ : 0;
}

static const char *state_name(uint32_t s)
{
	return s == PMEMFS_LEASE_ACTIVE ? "active" : s == PMEMFS_LEASE_RECALLED ? "recalled" : s == PMEMFS_LEASE_REVOKED ? "revoked" : "?";
}

static int hold(int argc, char **argv)
{
	int rdonly = 0, release = 0, forking = 0, opt;
	while ((opt = getopt(argc, argv, "rRf")) != -1) {
		if (opt == 'r') rdonly = 1;
		else if (opt == 'R') release = 1;
		else if (opt == 'f') forking = 1;
		else return 2;
	}
	if (argc - optind != 4 && argc - optind != 6) return 2;
	int fd = open(argv[optind], rdonly ? O_RDONLY : O_RDWR);
	if (fd < 0) { printf("open: %s\n", ename(errno)); return 0; }
	struct pmemfs_lease l = { .version = PMEMFS_LEASE_VERSION, .mode = mode_of(argv[optind + 1]),
		.offset = num(argv[optind + 2]), .length = num(argv[optind + 3]) };
	if (ioctl(fd, PMEMFS_IOC_LEASE_ACQUIRE, &l) < 0) { printf("lease: %s\n", ename(errno)); return 0; }
	printf("lease %llu\n", (unsigned long long)l.lease_id);
	if (argc - optind == 6) {
		struct pmemfs_pin p = { .version = PMEMFS_LEASE_VERSION, .lease_id = l.lease_id,
			.offset = num(argv[optind + 4]), .length = num(argv[optind + 5]) };
		if (ioctl(fd, PMEMFS_IOC_PIN, &p) < 0) { printf("pin: %s\n", ename(errno)); return 0; }
		printf("pin %llu\n", (unsigned long long)p.pin_id);
	}
	if (forking && fork() == 0) {
		/* The child keeps the open file (and so the FUSE handle) alive; it never uses it. */
		fclose(stdout);
		sleep(120);
		_exit(0);
	}
	printf("ready\n");
	fflush(stdout);
	long long end = now_ns() + 120LL * 1000000000LL;
	uint32_t last = PMEMFS_LEASE_ACTIVE;
	while (now_ns() < end) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLPRI }, { .fd = 0, .events = POLLIN } };
		int n = poll(p, 2, 1000);
		long long woke = now_ns();
		if (n < 0 && errno == EINTR) continue;
		if (p[1].revents & (POLLIN | POLLHUP)) {
			char b[64];
			if (read(0, b, sizeof b) <= 0) break;
		}
		if (!(p[0].revents & POLLPRI)) continue;
		struct pmemfs_lease_status s = { .version = PMEMFS_LEASE_VERSION, .lease_id = l.lease_id };
		if (ioctl(fd, PMEMFS_IOC_LEASE_STATUS, &s) < 0) { printf("gone %s\n", ename(errno)); break; }
		if (s.state != last)
			printf("event %lld %s %lld %lld\n", woke, state_name(s.state), (long long)(s.remaining_ns / 1000000), (long long)s.deadline_ns);
		last = s.state;
		fflush(stdout);
		if (s.state == PMEMFS_LEASE_REVOKED) { printf("gone\n"); break; }
		if (s.state == PMEMFS_LEASE_RECALLED && release) {
			struct pmemfs_lease_ref r = { .version = PMEMFS_LEASE_VERSION, .id = l.lease_id };
			if (ioctl(fd, PMEMFS_IOC_LEASE_RELEASE, &r) < 0) printf("release: %s\n", ename(errno));
			else printf("released %lld\n", now_ns());
			printf("gone\n");
			break;
		}
		if (s.state == PMEMFS_LEASE_RECALLED) {
			/* Still recalled: POLLPRI stays set until the lease ends; do not spin. */
			usleep(20000);
		}
	}
	fflush(stdout);
	return 0;
}

static int try_lease(int argc, char **argv)
{
	if (argc != 6) return 2;
	int fd = open(argv[2], O_RDWR);
	if (fd < 0) { printf("open: %s\n", ename(errno)); return 0; }
	struct pmemfs_lease l = { .version = PMEMFS_LEASE_VERSION, .mode = mode_of(argv[3]), .offset = num(argv[4]), .length = num(argv[5]) };
	if (ioctl(fd, PMEMFS_IOC_LEASE_ACQUIRE, &l) < 0) printf("%s\n", ename(errno));
	else printf("ok %llu\n", (unsigned long long)l.lease_id);
	return 0;
}

static int list(int argc, char **argv)
{
	if (argc != 3) return 2;
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0) { printf("open: %s\n", ename(errno)); return 0; }
	static struct pmemfs_lease_list page;
	memset(&page, 0, sizeof page);
	page.version = PMEMFS_LEASE_VERSION;
	do {
		if (ioctl(fd, PMEMFS_IOC_LEASE_LIST, &page) < 0) { printf("%s\n", ename(errno)); return 0; }
		for (uint32_t i = 0; i < page.count; i++) {
			struct pmemfs_lease_entry *e = &page.entries[i];
			if (e->pin_id == 0)
				printf("lease %llu ino %llu pid %d %s %s %llu %lld\n", (unsigned long long)e->lease_id, (unsigned long long)e->ino,
					e->pid, e->mode == PMEMFS_LEASE_WRITE ? "write" : "read", state_name(e->state),
					(unsigned long long)e->offset, e->length == PMEMFS_LENGTH_TO_END ? -1LL : (long long)e->length);
			else
				printf("pin %llu of %llu %llu %lld\n", (unsigned long long)e->pin_id, (unsigned long long)e->lease_id,
					(unsigned long long)e->offset, e->length == PMEMFS_LENGTH_TO_END ? -1LL : (long long)e->length);
		}
	} while (page.more);
	return 0;
}

static int region(int argc, char **argv)
{
	if (argc != 3) return 2;
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0) { printf("open: %s\n", ename(errno)); return 0; }
	static struct pmemfs_region r;
	r.version = PMEMFS_REGION_VERSION;
	if (ioctl(fd, PMEMFS_IOC_REGION, &r) < 0) { printf("%s\n", ename(errno)); return 0; }
	printf("region %s kind %s size %llu granularity %u\n", r.path, r.kind == PMEMFS_REGION_DEVDAX ? "devdax" : "file",
		(unsigned long long)r.size, r.granularity);
	int rfd = open(r.path, O_RDWR);
	if (rfd < 0) { printf("region open %s\n", ename(errno)); return 0; }
	printf("region open ok\n");
	unsigned char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, rfd, 0);
	if (p == MAP_FAILED) { printf("mmap %s\n", ename(errno)); return 0; }
	if (r.uuid_offset + 16 <= 4096 && memcmp(p + r.uuid_offset, r.uuid, 16) == 0) printf("uuid ok\n");
	munmap(p, 4096);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "hold") == 0) return hold(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "try") == 0) return try_lease(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "list") == 0) return list(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "region") == 0) return region(argc, argv);
	fprintf(stderr, "usage: pmemfs_lease hold|try|list|region ...\n");
	return 2;
}
