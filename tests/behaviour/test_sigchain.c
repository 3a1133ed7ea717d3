/* SPDX-License-Identifier: MIT */
/* A SIGSEGV that is not the tracker's reaches the application's own handler,
 * both for memory outside tracked ranges and for a read-only page inside
 * one; after the last tracker closes, the application's handler is installed
 * again exactly as it was. */
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

static sigjmp_buf jb;
static volatile sig_atomic_t hits;
static void *volatile fault_addr;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	hits++;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static bool faults_on_write(volatile char *p)
{
	if (sigsetjmp(jb, 1) == 0) {
		*p = 1;
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = app_handler, .sa_flags = SA_SIGINFO }, cur;
	struct ww_tracker *t;
	char *m, *guard;
	struct iovec out[4];
	void *next;

	harness_backend_arg(argc, argv);
	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	t = harness_open(argc, argv);
	m = harness_map(4);
	guard = harness_map(1);
	CHECK_EQ(mprotect(guard, PS, PROT_READ), 0);

	CHECK_EQ(ww_track(t, m, 4 * PS), 0);
	CHECK(!faults_on_write(m + PS)); /* tracked write: no app signal */
	CHECK_EQ(hits, 0);
	CHECK(faults_on_write(guard)); /* not tracked: the app's handler */
	CHECK_EQ(hits, 1);
	CHECK(fault_addr == guard);
	CHECK(!faults_on_write(m + 2 * PS));
	CHECK_EQ(ww_collect(t, m, 4 * PS, WW_RESET, out, 4, &next), 1); /* pages 1-2 merged */
	CHECK_EQ(out[0].iov_len, 2 * PS);

	/* a read-only page tracked: writing it is the app's fault, not ours */
	CHECK_EQ(ww_track(t, guard, PS), 0);
	CHECK(faults_on_write(guard));
	CHECK_EQ(hits, 2);
	CHECK_EQ(ww_collect(t, guard, PS, 0, out, 4, &next), 0);

	ww_close(t);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &cur), 0);
	CHECK((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == app_handler);
	CHECK(faults_on_write(guard));
	CHECK_EQ(hits, 3);
	printf("ok: %s: foreign SIGSEGV reaches the application's handler\n", argv[1]);
	return 0;
}
