/* SPDX-License-Identifier: MIT */
/*
 * A pagemap-scan tracker for another process (library level): the target
 * writes exactly K distinct pages per round, and each collect+reset between
 * rounds reports exactly those pages. Afterwards the target holds no
 * userfaultfd, its descriptor table is as before, it is neither stopped nor
 * traced, and it ends normally (its own checks catch corrupted registers or
 * a lost syscall restart). argv[1]: the target, argv[2]: where it waits
 * (read, sleep, spin).
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

#define PAGES 64
#define K 5
#define ROUNDS 6

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_PAGEMAP_SCAN };
	char why[256], before[8192], after[8192], state;
	struct ww_tracker *t;
	struct iovec out[PAGES];
	struct rtarget tg;
	bool dirty[PAGES];
	long tracer;
	int st;

	CHECK(argc == 3);
	PS = (size_t)sysconf(_SC_PAGESIZE);
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why))) {
		printf("SKIP: pagemap-scan: %s\n", why);
		return SKIP;
	}
	rtarget_start(&tg, argv[1], argv[2], PAGES);
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, tg.pid, why, sizeof(why))) {
		printf("SKIP: pagemap-scan for another process: %s\n", why);
		rtarget_quit(&tg);
		return SKIP;
	}
	usleep(50000); /* let it settle into its waiting mode */
	rtarget_fds(tg.pid, before, sizeof(before));
	o.pid = tg.pid;
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK(!rtarget_has_uffd(tg.pid));
	rtarget_state(tg.pid, &state, &tracer);
	CHECK(state != 't' && state != 'T');
	CHECK_EQ(tracer, 0);

	CHECK_EQ(ww_track(t, tg.addr, PAGES * PS), 0);
	CHECK_EQ(harness_collect_all(t, tg.addr, PAGES * PS, WW_RESET, out, PAGES), 0);
	for (int r = 0; r < ROUNDS; r++) {
		size_t n, count = 0;

		rtarget_write(&tg, K);
		n = harness_collect_all(t, tg.addr, PAGES * PS, WW_RESET, out, PAGES);
		harness_pages(out, n, tg.addr, PAGES, dirty);
		for (size_t p = 0; p < PAGES; p++) {
			bool want = p >= (size_t)r * K && p < (size_t)(r + 1) * K;

			if (dirty[p] != want) {
				fprintf(stderr, "round %d page %zu: reported %d, want %d\n", r, p,
					dirty[p], want);
				return 1;
			}
			count += dirty[p];
		}
		CHECK_EQ(count, K);
	}
	/* not mapped in the target: -ENOMEM, checked against its maps */
	CHECK_EQ(ww_track(t, (char *)4096, PS), -ENOMEM);
	ww_close(t);

	rtarget_fds(tg.pid, after, sizeof(after));
	if (strcmp(before, after)) {
		fprintf(stderr, "descriptor table changed:\n%s---\n%s", before, after);
		return 1;
	}
	rtarget_state(tg.pid, &state, &tracer);
	CHECK(state != 't' && state != 'T');
	CHECK_EQ(tracer, 0);
	st = rtarget_quit(&tg);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}
