/* SPDX-License-Identifier: MIT */
/* A freshly tracked range is clean, whether its pages were populated before
 * or never touched, and reading tracked memory never dirties it. */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 64;
	char *m =
		mmap(NULL, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec out[64];
	volatile char sink = 0;
	void *next;

	CHECK(m != MAP_FAILED);
	/* half populated with data, half never touched */
	memset(m, 0x5a, pages / 2 * PS);
	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 64, &next), 0);
	CHECK(next == m + pages * PS);

	for (size_t i = 0; i < pages * PS; i += 512)
		sink += m[i];
	(void)sink;
	CHECK_EQ(ww_collect(t, m, pages * PS, WW_RESET, out, 64, &next), 0);
	CHECK(next == m + pages * PS);
	/* a never-touched page, written now, is reported */
	m[(pages - 1) * PS] = 1;
	CHECK_EQ(ww_collect(t, m, pages * PS, WW_RESET, out, 64, &next), 1);
	CHECK(out[0].iov_base == m + (pages - 1) * PS && out[0].iov_len == PS);
	ww_close(t);
	printf("ok: %s: fresh range clean, reads never dirty\n", argv[1]);
	return 0;
}
