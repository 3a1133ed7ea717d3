/* SPDX-License-Identifier: MIT */
/* A write by the kernel into tracked memory: read(2) from a pipe. A tracker
 * with WW_CAP_KERNEL_WRITES must let it succeed and report the page; one
 * without (mprotect, or uffd-wp with a user-mode-only userfaultfd) documents
 * that the read fails with EFAULT instead, and then must not lose user-space
 * writes around it. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(8);
	struct iovec out[8];
	int fds[2];
	ssize_t r;
	void *next;

	CHECK_EQ(pipe(fds), 0);
	CHECK_EQ(ww_track(t, m, 8 * PS), 0);
	CHECK_EQ(write(fds[1], "kernel", 6), 6);
	r = read(fds[0], m + 4 * PS + 10, 6);
	if (!(ww_tracker_caps(t) & WW_CAP_KERNEL_WRITES)) {
		/* documented limit: the kernel does not take our fault */
		CHECK_EQ(r, -1);
		CHECK_EQ(errno, EFAULT);
		CHECK_EQ(ww_collect(t, m, 8 * PS, 0, out, 8, &next), 0);
		m[4 * PS] = 1; /* user write: the page becomes writable... */
		CHECK_EQ(read(fds[0], m + 4 * PS + 10, 6), 6); /* ...so this works */
		CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 1);
		printf("ok: %s: kernel write gets EFAULT (documented)\n", argv[1]);
	} else {
		CHECK_EQ(r, 6);
		CHECK(!memcmp(m + 4 * PS + 10, "kernel", 6));
		CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 1);
		CHECK(out[0].iov_base == m + 4 * PS && out[0].iov_len == PS);
		printf("ok: %s: kernel write recorded\n", argv[1]);
	}
	ww_close(t);
	return 0;
}
