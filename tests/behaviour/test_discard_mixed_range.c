/* SPDX-License-Identifier: MIT */
/*
 * Regression: uffd-wp decided per tracked range whether a discard
 * (MADV_DONTNEED) changes content, and said "no" for any range that was not
 * all anonymous private memory. A range spanning anonymous memory and a
 * memfd (shmem) therefore ignored discards in its anonymous part: a page
 * that held data before the discard reads zeros after it, and nothing was
 * reported (found by the fuzzer, whose arena is half anonymous, half memfd).
 * Here: 8 anonymous pages then 8 memfd pages in one range, all holding data;
 * anonymous pages are discarded (one read afterwards, one not touched) and
 * must be reported; a discarded memfd page keeps its content. mprotect and
 * soft-dirty see the page read back only where the kernel maps the zero
 * page (writewatch(7)).
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	struct iovec out[16];
	bool dirty[16];
	size_t n;
	char *m;
	int fd;

	m = mmap(NULL, 16 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK_EQ(madvise(m, 8 * PS, MADV_NOHUGEPAGE), 0);
	fd = memfd_create("ww-mixed", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)(8 * PS)), 0);
	CHECK(mmap(m + 8 * PS, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
	      m + 8 * PS);
	close(fd);
	memset(m, 7, 16 * PS); /* every page holds data before tracking */

	CHECK_EQ(ww_track(t, m, 16 * PS), 0);
	CHECK_EQ(madvise(m + 1 * PS, 2 * PS, MADV_DONTNEED), 0); /* anonymous: now zeros */
	CHECK_EQ(madvise(m + 10 * PS, PS, MADV_DONTNEED), 0); /* memfd: content kept */
	CHECK_EQ(((volatile char *)m)[1 * PS], 0); /* a read after the discard */
	CHECK_EQ(((volatile char *)m)[10 * PS], 7);

	n = harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);
	harness_pages(out, n, m, 16, dirty);
	/* changed to zeros: must be reported */
	CHECK((dirty[1] || !harness_sees_discard_read_back()) && dirty[2]);
	for (size_t i = 0; i < 16; i++)
		/* the documented exception: a discarded page whose content
		 * did not change (page 10, shmem) may be reported; uffd-wp
		 * always reports it, as the event does not say whether the
		 * content went (MADV_REMOVE) or stayed (MADV_DONTNEED) */
		if (i != 1 && i != 2 && i != 10 && harness_has(WW_CAP_EXACT))
			CHECK(!dirty[i]);
	if (harness_backend == WW_BACKEND_UFFD_WP)
		CHECK(dirty[10]);

	/* re-armed: a read is no change, a write is */
	CHECK_EQ(((volatile char *)m)[2 * PS], 0);
	CHECK_EQ(ww_collect(t, m, 8 * PS, 0, out, 16, NULL), 0);
	m[2 * PS + 5] = 1;
	n = harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);
	harness_pages(out, n, m, 16, dirty);
	CHECK(dirty[2]);
	/* soft-dirty: extra pages allowed (writewatch(7)) */
	CHECK(!harness_has(WW_CAP_EXACT) || (!dirty[1] && !dirty[0] && !dirty[9]));
	ww_close(t);
	munmap(m, 16 * PS);
	printf("ok: %s: discards in the anonymous part of a mixed range are reported\n", argv[1]);
	return 0;
}
