/* SPDX-License-Identifier: MIT */
/*
 * A write by the kernel into watched memory (read(2) from a pipe) succeeds
 * and is reported, on every backend that records kernel writes. The mprotect
 * backend cannot (documented in ww_GetWriteWatch(3)): the read fails with
 * EFAULT on a clean page, and that is what is checked there.
 */
#include <unistd.h>

#include "w32.h"

int main(int argc, char **argv)
{
	const size_t N = 8;
	char *base;
	void *addrs[8];
	int fds[2];
	ssize_t r;

	w32_setup(argc, argv);
	base = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);
	CHECK_EQ(pipe(fds), 0);
	CHECK_EQ(write(fds[1], "kernel-write", 12), 12);
	/* 12 bytes across pages 3 and 4. */
	r = read(fds[0], base + 4 * PS - 5, 12);
	if (!harness_has(WW_CAP_KERNEL_WRITES)) {
		CHECK_EQ(r, -1);
		CHECK_EQ(errno, EFAULT);
		EXPECT_NONE(base, N);
		printf("ok: %s: kernel write gets EFAULT (documented limit)\n", argv[1]);
	} else {
		CHECK_EQ(r, 12);
		CHECK(!memcmp(base + 4 * PS - 5, "kernel-write", 12));
		CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 8), 2);
		CHECK(addrs[0] == base + 3 * PS && addrs[1] == base + 4 * PS);
		EXPECT_NONE(base, N);
		printf("ok: %s: kernel write recorded\n", argv[1]);
	}
	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	return 0;
}
