/* SPDX-License-Identifier: MIT */
/* fork() while tracking, with a thread writing tracked memory across the
 * fork: the child can write the (inherited) memory without hanging, its
 * ww_close of the inherited tracker leaves the parent's tracking intact
 * (uffd ioctls act on the parent's memory whoever makes them), and it can
 * track the same memory with a tracker of its own. The parent keeps seeing
 * its own writes afterwards. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 8

static char *m;
static atomic_int stop, started;

static void *writer(void *arg)
{
	unsigned int i = 0;

	(void)arg;
	atomic_store(&started, 1);
	while (!atomic_load(&stop)) {
		__atomic_store_n(&m[(i % PAGES) * PS + 8], (char)i, __ATOMIC_RELAXED);
		i++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	struct iovec out[PAGES];
	pthread_t th;
	int status;
	void *next;
	pid_t pid;

	m = harness_map(PAGES);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	CHECK_EQ(pthread_create(&th, NULL, writer, NULL), 0);
	/* Fork only once the writer runs its own code: a thread still
	 * starting may hold a lock of the allocator (AddressSanitizer's is not
	 * fork-safe; glibc's is), and the child, which mallocs, would hang. */
	while (!atomic_load(&started))
		sched_yield();
	for (int round = 0; round < 20; round++) {
		harness_collect_all(t, m, PAGES * PS, WW_RESET, out, PAGES);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			/* Child: plain writes everywhere, then drop the copy,
			 * then track the same memory with a tracker of its
			 * own (the child inherited no registration). */
			struct ww_opts o = { .sz = sizeof(o), .backend = harness_backend };
			struct ww_tracker *c;

			memset(m, round, PAGES * PS);
			ww_close(t);
			memset(m, round + 1, PAGES * PS);
			if (ww_open(&o, &c) || ww_track(c, m, PAGES * PS))
				_exit(3);
			m[5 * PS] = (char)(round + 2); /* not the memset's value */
			if (ww_collect(c, m, PAGES * PS, WW_RESET, out, PAGES, &next) != 1 ||
			    out[0].iov_base != m + 5 * PS)
				_exit(4);
			ww_close(c);
			_exit(0);
		}
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "child: status %#x\n", status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	atomic_store(&stop, 1);
	CHECK_EQ(pthread_join(th, NULL), 0);

	/* The parent's tracking survived the children's ww_close. */
	harness_collect_all(t, m, PAGES * PS, WW_RESET, out, PAGES);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, 0, out, PAGES, &next), 0);
	m[3 * PS] = 1;
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, PAGES, &next), 1);
	CHECK(out[0].iov_base == m + 3 * PS && out[0].iov_len == PS);
	ww_close(t);
	printf("ok: %s: fork while tracking: child writes freely, parent keeps tracking\n",
	       argv[1]);
	return 0;
}
