/* SPDX-License-Identifier: MIT */
/*
 * The two-minute tour: track a buffer, write to some pages, ask which pages
 * were written (and re-arm them in the same step), print the runs.
 *
 *   cc track_buffer.c $(pkg-config --cflags --libs writewatch)
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign, sysconf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <writewatch.h>

int main(void)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), len = 64 * ps;
	struct ww_tracker *t;
	struct iovec runs[16];
	char *buf;
	ssize_t n;
	int err;

	if (posix_memalign((void **)&buf, ps, len))
		return 1;
	memset(buf, 0, len);

	err = ww_open(NULL, &t); /* NULL: the best mechanism this kernel has */
	if (err) {
		fprintf(stderr, "ww_open: %s\n", strerror(-err));
		return 1;
	}
	err = ww_track(t, buf, len); /* from here on, every page is clean */
	if (err) {
		fprintf(stderr, "ww_track: %s\n", strerror(-err));
		return 1;
	}

	buf[3 * ps] = 1; /* page 3 */
	memset(buf + 10 * ps, 7, 3 * ps); /* pages 10, 11, 12 */
	strcpy(buf + 21 * ps - 2, "straddle"); /* pages 20 and 21 */

	n = ww_collect(t, buf, len, WW_RESET, runs, 16, NULL);
	printf("backend %s: %zd runs written since ww_track:\n",
	       ww_backend_name(ww_tracker_backend(t)), n);
	for (ssize_t i = 0; i < n; i++) {
		size_t first = (size_t)((char *)runs[i].iov_base - buf) / ps;

		printf("  pages %zu-%zu\n", first, first + runs[i].iov_len / ps - 1);
	}
	/* WW_RESET re-armed them: nothing is written now */
	printf("after reset: %zd runs\n", ww_collect(t, buf, len, 0, runs, 16, NULL));

	ww_close(t);
	free(buf);
	return 0;
}
