/* SPDX-License-Identifier: MIT */
/*
 * Closing a tracker while other threads write its memory must not kill the
 * process. On mprotect the last close puts the previous SIGSEGV action (the
 * default) back; a write that faulted on a page just before untrack made it
 * writable again has its SIGSEGV queued but not yet taken when its thread
 * was not running, and was then killed by the default action (found by
 * test_snapshot_cow in a one-CPU VM: about one run in three). Here three
 * writers (at nice 19) and the closing thread share one CPU, so the
 * closing thread's wake-up often preempts a writer between its fault and
 * the delivery; 50 to 300 open/track/close rounds (harness_more). Passes
 * when no SIGSEGV reaches the application's own handler (installed first,
 * as a program's is) and the process lives.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define NP 2048
#define ROUNDS 300
#define WRITERS 3

static char *m;
static atomic_bool stop;
static atomic_long writes;
static atomic_int round_now, closing;

/* The application's own SIGSEGV handler, the one a tracker chains to: any
 * SIGSEGV that reaches it came from the tracker's protections (the test
 * never faults otherwise). Say what and where, then fail. */
static void app_segv(int sig, siginfo_t *si, void *uc)
{
	char msg[200];
	int n;

	(void)sig;
	(void)uc;
	n = snprintf(msg, sizeof(msg),
		     "FAIL: a SIGSEGV reached the application: code %d, page %ld of the "
		     "tracked memory, round %d, %s\n",
		     si->si_code, (long)(((char *)si->si_addr - m) / (long)PS),
		     atomic_load(&round_now),
		     atomic_load(&closing) ? "during ww_close" : "not during ww_close");
	if (n > 0)
		(void)!write(2, msg, (size_t)n);
	_exit(1);
}

static void *writer(void *arg)
{
	unsigned int x = (unsigned int)(uintptr_t)arg * 7919u + 1;

	/* below the closing thread: its wake-up preempts a writer at any
	 * point, in the middle of a fault too (nice is per thread here) */
	CHECK(nice(19) != -1 || errno == 0);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		x = x * 1103515245u + 12345u;
		m[(x >> 8) % NP * PS + (x & 63)] = (char)x;
		atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o) };
	pthread_t w[WRITERS];
	cpu_set_t one;
	long before;
	int r;

	o.backend = harness_backend_arg(argc, argv);
	{
		struct sigaction sa = { .sa_sigaction = app_segv, .sa_flags = SA_SIGINFO };

		CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	}
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	/* every thread created from here inherits the one CPU */
	CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	m = harness_map(NP);
	for (long k = 0; k < WRITERS; k++)
		CHECK_EQ(pthread_create(&w[k], NULL, writer, (void *)k), 0);
	for (r = 0; harness_more(r, 50, ROUNDS); r++) {
		struct ww_tracker *t = NULL;

		CHECK_EQ(ww_open(&o, &t), 0);
		CHECK_EQ(ww_track(t, m, NP * PS), 0);
		/* writers fault on the armed pages meanwhile */
		nanosleep(&(struct timespec){ 0, (50 + r % 7 * 30) * 1000 }, NULL);
		atomic_store(&round_now, r);
		atomic_store(&closing, 1);
		ww_close(t);
		atomic_store(&closing, 0);
	}
	before = atomic_load(&writes);
	while (atomic_load(&writes) < before + 1000)
		sched_yield(); /* and write on untracked afterwards */
	atomic_store(&stop, true);
	for (int k = 0; k < WRITERS; k++)
		CHECK_EQ(pthread_join(w[k], NULL), 0);
	printf("ok: %s: %d trackers closed while %d threads wrote (%ld writes), process alive\n",
	       argv[1], r, WRITERS, atomic_load(&writes));
	return 0;
}
