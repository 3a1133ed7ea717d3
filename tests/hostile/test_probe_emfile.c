/* SPDX-License-Identifier: MIT */
/*
 * A probe that fails for want of a descriptor is not remembered: the first
 * ww_backend_probe of a process that has used up its descriptors fails
 * (EMFILE), and once descriptors are free again the same backend works
 * (regression: the failure was cached for the life of the process, so one
 * bad moment at start-up disabled the best backend for good).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

int main(void)
{
	enum ww_backend order[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_UFFD_WP,
				    WW_BACKEND_MPROTECT };
	struct rlimit old, low;
	int fds[64], nfd = 0, tried = 0;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		enum ww_backend b = order[i];
		char why[256];
		pid_t pid = fork();
		int st;

		CHECK(pid >= 0);
		if (pid == 0) {
			/* a fresh process: nothing probed yet. Use up every
			 * descriptor but none. */
			low = old;
			low.rlim_cur = 16;
			if (setrlimit(RLIMIT_NOFILE, &low))
				_exit(10);
			while (nfd < 64 && (fds[nfd] = open("/dev/null", O_RDONLY)) >= 0)
				nfd++;
			if (errno != EMFILE)
				_exit(11);
			if (ww_backend_probe(b, 0, why, sizeof(why)) == 0)
				_exit(3); /* needs no descriptor: nothing to show */
			while (nfd)
				close(fds[--nfd]);
			if (setrlimit(RLIMIT_NOFILE, &old))
				_exit(12);
			_exit(ww_backend_probe(b, 0, why, sizeof(why)) == 0 ? 0 : 13);
		}
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		CHECK(WIFEXITED(st));
		if (WEXITSTATUS(st) == 3)
			continue;
		/* only a backend that works here can show it */
		if (ww_backend_probe(b, 0, NULL, 0))
			continue;
		CHECK_EQ(WEXITSTATUS(st), 0);
		tried++;
	}
	if (!tried) {
		printf("SKIP: no backend here both works and needs a descriptor to probe\n");
		return SKIP;
	}
	printf("ok: %d backends probe again after EMFILE\n", tried);
	return 0;
}
