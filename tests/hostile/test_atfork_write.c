/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 16, item 17): on mprotect, the backend's fork prepare
 * handler blocked every signal and held every span lock until fork
 * returned; fork handlers the application registered before the tracker was
 * opened ran inside that window and died on their first write to a clean
 * tracked page. Here handlers registered before ww_open write tracked
 * memory in prepare, parent and child; the child also writes, then tracks
 * the inherited memory with a tracker of its own (issue 16, item 13: on
 * mprotect it inherited the parent's span table and got -EBUSY).
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NP 8

static char *m;

static void prepare(void)
{
	if (m)
		m[1 * PS]++; /* new values each round: a mechanism may compare content */
}

static void parent(void)
{
	if (m)
		m[2 * PS]++;
}

static void child(void)
{
	if (m)
		m[3 * PS]++;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t;
	struct iovec out[NP];
	bool dirty[NP];
	int status;
	size_t n;
	pid_t pid;

	CHECK_EQ(pthread_atfork(prepare, parent, child), 0);
	t = harness_open(argc, argv);
	m = harness_map(NP);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	for (int round = 0; round < 3; round++) {
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			struct ww_opts o = { .sz = sizeof(o), .backend = harness_backend };
			struct ww_tracker *c;
			void *next;

			memset(m, 5, NP * PS);
			if (ww_open(&o, &c))
				_exit(2);
			if (ww_track(c, m, NP * PS))
				_exit(3);
			m[6 * PS] = 9;
			if (ww_collect(c, m, NP * PS, WW_RESET, out, NP, &next) != 1 ||
			    out[0].iov_base != m + 6 * PS)
				_exit(4);
			ww_close(c);
			_exit(0);
		}
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "child: status %#x\n", status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
		harness_pages(out, n, m, NP, dirty);
		CHECK(dirty[1] && dirty[2]);
		if (harness_has(WW_CAP_EXACT))
			for (size_t i = 0; i < NP; i++)
				CHECK(i == 1 || i == 2 || !dirty[i]);
	}
	ww_close(t);
	printf("ok: %s: fork handlers write tracked memory\n", argv[1]);
	return 0;
}
