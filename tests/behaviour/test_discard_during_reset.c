/* SPDX-License-Identifier: MIT */
/*
 * Regression: a discard (MADV_DONTNEED) racing with a re-arm was lost on
 * uffd-wp. The kernel zaps a discarded page only after the handler has read
 * the discard event, so the backend keeps such a page marked until it sees
 * the zap (pagemap). ww_reset did not look: it cleared the mark of a page
 * whose zap was still to come. And both ww_reset and ww_collect(WW_RESET),
 * when UFFDIO_WRITEPROTECT failed with EAGAIN (an event pending), dropped
 * the tracker lock for the handler to read it and, once the ioctl
 * succeeded, cleared the marks the handler had just set without looking
 * again. Either way the zap landed after the re-arm: the page held data
 * when the call returned, zeros afterwards, and nothing reported it (this
 * test failed in about 1 run in 15 before the fix, always via ww_reset).
 *
 * Here a thread discards a page holding data while the main thread re-arms
 * it (ww_reset, or ww_collect with WW_RESET) and then reads it. Whenever the
 * read after the re-arm still saw the data, the page is zeros once the
 * discard is over, so the next collect must report it. The race is timing
 * dependent: many rounds, each one a chance. Backends that do not see
 * discards skip.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "harness.h"

#define ROUNDS 4000 /* at most; at least MIN_ROUNDS, the rest in the budget */
#define MIN_ROUNDS 300

static char *m;
static atomic_int round_go, round_done;
static atomic_bool stop;

/* Wait for *v to reach i, yielding: on a loaded 2-core machine a pure spin
 * starves the thread it waits for (and the uffd-wp handler). */
static void wait_for(atomic_int *v, int i)
{
	for (int spin = 0; atomic_load(v) != i; spin++)
		if (spin > 100)
			sched_yield();
}

/* Discards the page once per round, when the main thread says go. */
static void *discarder(void *arg)
{
	(void)arg;
	for (int i = 1;; i++) {
		wait_for(&round_go, i);
		if (atomic_load(&stop))
			break;
		CHECK_EQ(madvise(m, PS, MADV_DONTNEED), 0);
		atomic_store(&round_done, i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	struct iovec out[4];
	long raced = 0;
	pthread_t th;
	int i;
	bool readback;

	if (!harness_has(WW_CAP_ATOMIC_RESET)) {
		printf("SKIP: %s: a re-arm is not atomic, with writes or discards (writewatch(7))\n",
		       argv[1]);
		ww_close(t);
		return SKIP;
	}
	readback = harness_sees_discard_read_back();
	m = harness_map(2);
	CHECK_EQ(ww_track(t, m, 2 * PS), 0);
	CHECK_EQ(pthread_create(&th, NULL, discarder, NULL), 0);
	for (i = 1; harness_more(i - 1, MIN_ROUNDS, ROUNDS); i++) {
		bool by_reset = i % 2;
		char seen;

		m[0] = 1; /* data, to be discarded */
		harness_collect_all(t, m, 2 * PS, WW_RESET, out, 4);
		atomic_store(&round_go, i);
		/* a delay swept over the rounds, so that the re-arm meets the
		 * discard at every stage: before its event, between the
		 * event and the zap, after the zap */
		for (volatile int d = 0; d < (i * 37) % 4000; d++)
			;
		if (by_reset)
			CHECK_EQ(ww_reset(t, m, PS), 0);
		else
			CHECK(ww_collect(t, m, PS, WW_RESET, out, 4, NULL) >= 0);
		seen = *(volatile char *)m; /* the content right after the re-arm */
		wait_for(&round_done, i);
		/* (where reading back would hide the discard from mprotect,
		 * only the read above, before it, is made) */
		if (readback)
			CHECK_EQ(*(volatile char *)m, 0);
		if (seen) {
			raced++;
			if (ww_collect(t, m, PS, 0, out, 4, NULL) != 1) {
				fprintf(stderr,
					"round %d: page held data after %s, zeros after the "
					"discard, not reported\n",
					i, by_reset ? "ww_reset" : "ww_collect(WW_RESET)");
				return 1;
			}
		}
	}
	atomic_store(&stop, true);
	atomic_store(&round_go, i);
	CHECK_EQ(pthread_join(th, NULL), 0);
	ww_close(t);
	printf("ok: %s: %d rounds, %ld with the discard landing after the re-arm, all "
	       "reported\n",
	       argv[1], i - 1, raced);
	return 0;
}
