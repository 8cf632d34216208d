// SPDX-License-Identifier: GPL-2.0
//
// pmemfs_handle: name_to_handle_at / open_by_handle_at from the shell, for the file handle tests.
//
//   pmemfs_handle encode PATH HANDLE_FILE   stores PATH's handle (one line: type, then the bytes in hex)
//   pmemfs_handle open MOUNT HANDLE_FILE    opens the handle on MOUNT's file system (needs
//                                           CAP_DAC_READ_SEARCH) and prints what it reached:
//                                           a regular file's bytes, a directory's sorted names and
//                                           the path the kernel reconnected it to ("path: ...")
//
// Errors are printed as their errno names (ESTALE, ...) so that golden output does not depend
// on the C library's wording; the exit status is 1 then.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case ESTALE: return "ESTALE";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EIO: return "EIO";
	case ENOTCONN: return "ENOTCONN";
	default: return strerror(e);
	}
}

static int fail(const char *what)
{
	int e = errno;
	printf("%s: %s\n", what, errname(e));
	return 1;
}

static int encode(const char *path, const char *out)
{
	struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	int mount_id;
	FILE *f;

	h->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, h, &mount_id, 0) != 0)
		return fail("name_to_handle_at");
	f = fopen(out, "w");
	if (!f)
		return fail("fopen");
	fprintf(f, "%d ", h->handle_type);
	for (unsigned i = 0; i < h->handle_bytes; i++)
		fprintf(f, "%02x", h->f_handle[i]);
	fprintf(f, "\n");
	fclose(f);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(int fd)
{
	char *names[4096];
	int n = 0;
	DIR *d = fdopendir(dup(fd));
	struct dirent *e;

	if (!d)
		return fail("fdopendir");
	while ((e = readdir(d)) && n < 4096)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	for (int i = 0; i < n; i++)
		printf("%s\n", names[i]);
	return 0;
}

static int open_handle(const char *mount, const char *in)
{
	struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	char hex[2 * MAX_HANDLE_SZ + 2], proc[64], path[PATH_MAX];
	int type, mfd, fd;
	unsigned n = 0;
	struct stat st;
	FILE *f = fopen(in, "r");

	if (!f)
		return fail("fopen");
	if (fscanf(f, "%d %257s", &type, hex) != 2) {
		printf("bad handle file\n");
		return 1;
	}
	fclose(f);
	for (; hex[2 * n] && n < MAX_HANDLE_SZ; n++)
		sscanf(hex + 2 * n, "%2hhx", &h->f_handle[n]);
	h->handle_bytes = n;
	h->handle_type = type;
	mfd = open(mount, O_RDONLY | O_DIRECTORY);
	if (mfd < 0)
		return fail("open mount");
	fd = open_by_handle_at(mfd, h, O_RDONLY);
	if (fd < 0)
		return fail("open_by_handle_at");
	if (fstat(fd, &st) != 0)
		return fail("fstat");
	if (S_ISDIR(st.st_mode)) {
		ssize_t len;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		len = readlink(proc, path, sizeof(path) - 1);
		if (len < 0)
			return fail("readlink");
		path[len] = 0;
		// Relative to the mount, so the output does not depend on where it is.
		if (!strncmp(path, mount, strlen(mount)))
			printf("path: /%s\n", path + strlen(mount) + (path[strlen(mount)] == '/'));
		else
			printf("path: %s (not under the mount)\n", path);
		return list(fd);
	}
	for (;;) {
		char buf[65536];
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0)
			return fail("read");
		if (r == 0)
			break;
		fwrite(buf, 1, r, stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "encode"))
		return encode(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "open"))
		return open_handle(argv[2], argv[3]);
	fprintf(stderr, "usage: %s encode PATH HANDLE_FILE | open MOUNT HANDLE_FILE\n", argv[0]);
	return 2;
}
