/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 7: the library keeps /proc/self/maps open for PROCMAP_QUERY.
 * A daemon that closes every descriptor it has and opens a file of its own
 * on that number must keep its file: the library may neither close it nor
 * query it. Before the fix the next ww_track ran PROCMAP_QUERY on the
 * daemon's file, took the ENOTTY for an old kernel and closed the file.
 */
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The descriptor the library holds on our maps, or -1. */
static int find_maps_fd(void)
{
	char want[64], link[PATH_MAX], path[320];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	CHECK(d);
	snprintf(want, sizeof(want), "/proc/%d/maps", (int)getpid());
	while ((de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, want) && atoi(de->d_name) != dirfd(d))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(4);
	struct stat before, after;
	struct iovec out[4];
	void *next;
	size_t g;
	int fd, mine;

	CHECK_EQ(ww_track(t, m, 4 * PS), 0);
	fd = find_maps_fd();
	if (fd < 0) {
		printf("SKIP: the library holds no /proc/self/maps descriptor here "
		       "(no PROCMAP_QUERY before Linux 6.11)\n");
		return SKIP;
	}
	CHECK_EQ(ww_untrack(t, m, 4 * PS), 0);

	/* The daemon closes everything and reopens a file on that number. */
	CHECK_EQ(close(fd), 0);
	mine = memfd_create("daemon-file", MFD_CLOEXEC);
	CHECK(mine >= 0);
	if (mine != fd) {
		CHECK_EQ(dup2(mine, fd), fd);
		close(mine);
	}
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK_EQ(fstat(fd, &before), 0);

	/* Every call that may query the maps. */
	CHECK_EQ(ww_track(t, m, 4 * PS), 0);
	m[PS] = 1;
	CHECK_EQ(ww_collect(t, m, 4 * PS, WW_RESET, out, 4, &next), 1);
	CHECK_EQ(ww_tracker_granularity(t, m, &g), 0);
	CHECK_EQ(ww_reset(t, m, 4 * PS), 0);
	CHECK_EQ(ww_untrack(t, m, 4 * PS), 0);
	CHECK_EQ(ww_track(t, m + PS, PS), 0);

	/* The daemon's file is still open, still the same file, untouched. */
	CHECK_EQ(fstat(fd, &after), 0);
	CHECK(after.st_dev == before.st_dev && after.st_ino == before.st_ino);
	CHECK_EQ(after.st_size, 1);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 1);
	/* and the library went on with a descriptor of its own */
	CHECK(find_maps_fd() >= 0 && find_maps_fd() != fd);

	ww_close(t);
	CHECK_EQ(fstat(fd, &after), 0);
	CHECK(after.st_ino == before.st_ino);
	printf("ok: %s: a descriptor number reused by the application is left alone\n", argv[1]);
	return 0;
}
