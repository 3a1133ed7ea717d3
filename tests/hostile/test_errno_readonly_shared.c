/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 10: tracking a MAP_SHARED mapping of a file opened
 * read-only gave pagemap-scan an undocumented EPERM (the kernel's answer to
 * registering a mapping that can never be written), where uffd-wp said
 * EOPNOTSUPP. Every backend now either tracks it or says EOPNOTSUPP, the
 * documented "cannot track this kind of memory"; the tracker stays usable.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char path[] = "/tmp/ww-hostile-roXXXXXX";
	struct iovec out[4];
	void *next;
	char *m, *ok;
	int fd, r;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 4 * PS), 0);
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	unlink(path);
	m = mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	close(fd);

	errno = 0;
	r = ww_track(t, m, 4 * PS);
	if (r != 0 && r != -EOPNOTSUPP) {
		fprintf(stderr, "%s: ww_track of a read-only shared file mapping: %d (%s)\n",
			argv[1], r, strerror(-r));
		return 1;
	}
	if (r == 0) {
		CHECK_EQ(ww_collect(t, m, 4 * PS, 0, out, 4, &next), 0);
		CHECK_EQ(ww_untrack(t, m, 4 * PS), 0);
	} else {
		CHECK_EQ(errno, EOPNOTSUPP);
	}
	/* usable afterwards */
	ok = harness_map(2);
	CHECK_EQ(ww_track(t, ok, 2 * PS), 0);
	ok[PS] = 1;
	CHECK_EQ(ww_collect(t, ok, 2 * PS, 0, out, 4, &next), 1);
	ww_close(t);
	printf("ok: %s: read-only shared file mapping: %s\n", argv[1],
	       r ? "EOPNOTSUPP" : "tracked");
	return 0;
}
