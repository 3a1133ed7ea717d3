/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 16, item 16): on mprotect, a write from a thread that
 * blocks SIGSEGV killed the process: a synchronous SIGSEGV that is blocked
 * makes the kernel reset the action to the default, so the handler never
 * runs (a garbage collector's marker threads block every signal; bdwgc's
 * gctest died in 7 of 23 runs). Here threads block every signal, one with
 * pthread_sigmask and one with sigprocmask, one from before the tracker is
 * opened, then write tracked memory; every write must be reported, on every
 * backend. A thread created while all signals are blocked inherits the mask
 * and is tested too.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define NP 32

static char *m;
static atomic_int go, done;

static void wait_go(void)
{
	while (!atomic_load(&go))
		sched_yield();
}

static void *blocker_pthread(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &all, NULL), 0);
	wait_go();
	for (int i = 0; i < 8; i++)
		m[i * PS] = 1;
	atomic_fetch_add(&done, 1);
	return NULL;
}

static void *blocker_sigprocmask(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	CHECK_EQ(sigprocmask(SIG_SETMASK, &all, NULL), 0);
	wait_go();
	for (int i = 8; i < 16; i++)
		m[i * PS] = 1;
	atomic_fetch_add(&done, 1);
	return NULL;
}

static void *inherits(void *arg)
{
	(void)arg;
	wait_go();
	for (int i = 16; i < 24; i++)
		m[i * PS] = 1;
	atomic_fetch_add(&done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	struct iovec out[NP];
	bool dirty[NP];
	pthread_t th[3];
	struct ww_tracker *t;
	sigset_t all, old;
	size_t n;

	PS = (size_t)sysconf(_SC_PAGESIZE); /* harness_open sets it too, later */
	m = mmap(NULL, NP * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	memset(m, 0, NP * PS);
	/* started (and blocking) before the tracker exists */
	CHECK_EQ(pthread_create(&th[0], NULL, blocker_pthread, NULL), 0);
	t = harness_open(argc, argv);
	CHECK_EQ(pthread_create(&th[1], NULL, blocker_sigprocmask, NULL), 0);
	sigfillset(&all);
	CHECK_EQ(pthread_sigmask(SIG_SETMASK, &all, &old), 0);
	CHECK_EQ(pthread_create(&th[2], NULL, inherits, NULL), 0);
	CHECK_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	atomic_store(&go, 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(atomic_load(&done), 3);
	n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
	harness_pages(out, n, m, NP, dirty);
	for (int i = 0; i < NP; i++)
		CHECK(dirty[i] == (i < 24) || !harness_has(WW_CAP_EXACT));
	ww_close(t);
	printf("ok: %s: threads that block every signal write tracked memory\n", argv[1]);
	return 0;
}
