/* SPDX-License-Identifier: MIT */
/*
 * The oracle with discards: a writer thread writes random bytes into, and
 * MADV_DONTNEEDs, random pages of half-populated anonymous memory while the
 * main thread collects with WW_RESET and copies every reported page into a
 * shadow. At the end the shadow must equal the memory byte for byte: every
 * change of content, by a write or by a discard, was reported, under races.
 * For trackers that report discards with writers running
 * (WW_CAP_DISCARDS and WW_CAP_ATOMIC_RESET, as ww_tracker_caps() gives them
 * here); the others skip.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "memkind.h"

#define NP 256
#define ITER 200000 /* at most; a tenth at least, the rest in the time budget */
#define MAXR 512

static char *m;
static atomic_bool done;
static long ops; /* done by the writer, read after done */

static void *writer(void *arg)
{
	unsigned int seed = 12345;

	(void)arg;
	for (ops = 0; harness_more(ops, ITER / 10, ITER); ops++) {
		unsigned int r = (unsigned int)rand_r(&seed);
		size_t p = r % NP;

		if (r % 10 < 7)
			m[p * PS + (r >> 8) % PS] = (char)(1 + (r >> 20) % 250);
		else if (r % 10 < 9)
			madvise(m + p * PS, PS, MADV_DONTNEED);
		else
			(void)*(volatile char *)(m + p * PS);
	}
	atomic_store(&done, true);
	return NULL;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	static struct iovec out[MAXR];
	char *shadow;
	pthread_t th;
	long rounds = 0;

	/* discards reported by this tracker, here, with the writer running */
	if ((ww_tracker_caps(t) & (WW_CAP_DISCARDS | WW_CAP_ATOMIC_RESET)) !=
	    (WW_CAP_DISCARDS | WW_CAP_ATOMIC_RESET)) {
		printf("SKIP: %s lacks WW_CAP_DISCARDS or WW_CAP_ATOMIC_RESET here (documented in "
		       "docs/memkinds.md)\n",
		       argv[1]);
		ww_close(t);
		return SKIP;
	}
	m = mmap(NULL, NP * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	madvise(m, NP * PS, MADV_NOHUGEPAGE);
	memset(m, 3, NP * PS / 2);
	shadow = malloc(NP * PS);
	CHECK(shadow != NULL);
	memcpy(shadow, m, NP * PS);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(pthread_create(&th, NULL, writer, NULL), 0);
	for (bool last = false; !last;) {
		size_t n;

		last = atomic_load(&done);
		n = harness_collect_all(t, m, NP * PS, WW_RESET, out, MAXR);
		/* re-armed first, copied after: a later change shows next round */
		for (size_t i = 0; i < n; i++)
			memcpy(shadow + ((char *)out[i].iov_base - m), out[i].iov_base,
			       out[i].iov_len);
		rounds++;
	}
	pthread_join(th, NULL);
	for (size_t p = 0; p < NP; p++)
		if (memcmp(shadow + p * PS, m + p * PS, PS)) {
			fprintf(stderr, "page %zu changed and was never reported\n", p);
			return 1;
		}
	ww_close(t);
	free(shadow);
	munmap(m, NP * PS);
	printf("ok: %s: %ld writes/discards, %ld collect rounds, shadow equals memory\n", argv[1],
	       ops, rounds);
	return 0;
}
