/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 18, the Win32 layer: in a forked child every call failed
 * with ERROR_GEN_FAILURE (the shared tracker's copy is inert). Now the
 * child's first call re-opens it: GetWriteWatch reports every committed page
 * of an inherited allocation written once (which pages the parent wrote is
 * not known in the child: conservative, never a lost write), then exact
 * pages after ResetWriteWatch, and new allocations work. The parent's
 * watch is untouched by the child.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "win32/w32.h"

#define PAGES 8

static int child(char *p)
{
	void *addrs[PAGES];
	uintptr_t n = PAGES;
	uint32_t gran;
	char *q;

	if (ww_GetWriteWatch(0, p, PAGES * PS, addrs, &n, &gran) != 0)
		return 10 + (int)(ww_GetLastError() & 0xf);
	if (n != 7) /* the 7 committed pages, in order */
		return 30;
	for (uintptr_t i = 0; i < n; i++)
		if (addrs[i] != p + i * PS)
			return 31;
	if (ww_ResetWriteWatch(p, PAGES * PS) != 0)
		return 32;
	n = PAGES;
	if (ww_GetWriteWatch(0, p, PAGES * PS, addrs, &n, &gran) != 0 || n != 0)
		return 33;
	p[5 * PS] = 9;
	n = PAGES;
	if (ww_GetWriteWatch(WW_WRITE_WATCH_FLAG_RESET, p, PAGES * PS, addrs, &n, &gran) != 0 ||
	    n != 1 || addrs[0] != p + 5 * PS)
		return 34;
	q = ww_VirtualAlloc(NULL, 4 * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			    WW_PAGE_READWRITE);
	if (!q)
		return 35;
	q[PS] = 1;
	n = PAGES;
	if (ww_GetWriteWatch(0, q, 4 * PS, addrs, &n, &gran) != 0 || n != 1 || addrs[0] != q + PS)
		return 36;
	if (!ww_VirtualFree(q, 0, WW_MEM_RELEASE) || !ww_VirtualFree(p, 0, WW_MEM_RELEASE))
		return 37;
	return 0;
}

int main(int argc, char **argv)
{
	size_t want[] = { 2 };
	int status;
	char *p;
	pid_t pid;

	w32_setup(argc, argv);
	p = ww_VirtualAlloc(NULL, PAGES * PS, WW_MEM_RESERVE | WW_MEM_WRITE_WATCH,
			    WW_PAGE_READWRITE);
	CHECK(p);
	CHECK(ww_VirtualAlloc(p, 7 * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) == p);
	p[0] = 1;
	CHECK_EQ(ww_ResetWriteWatch(p, PAGES * PS), 0);
	p[2 * PS] = 1;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child(p));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "child: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return 1;
	}
	w32_expect(p, PAGES, want, 1, __LINE__);
	CHECK(ww_VirtualFree(p, 0, WW_MEM_RELEASE));
	printf("ok: %s: the Win32 layer works again in a forked child\n", argv[1]);
	return 0;
}
