/* SPDX-License-Identifier: MIT */
/*
 * VirtualProtect (to READONLY, NOACCESS and back) neither dirties nor resets
 * pages; a page written before becoming NOACCESS stays dirty; read-only
 * pages are reset normally; the protection really applies (a child touching
 * a NOACCESS page dies of SIGSEGV, a write to a READONLY one too); watching
 * continues after the change.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "w32.h"

/* Run f(p) in a child; true if the child died of SIGSEGV. */
static bool faults(void (*f)(volatile char *), char *p)
{
	int st;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		f(p);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

static void do_read(volatile char *p)
{
	(void)*p;
}

static void do_write(volatile char *p)
{
	*p = 1;
}

int main(int argc, char **argv)
{
	const size_t N = 16;
	char *base;
	void *addrs[64];
	uint32_t old = 0;

	w32_setup(argc, argv);
	base = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);

	/* Argument checks. */
	CHECK_ERR(!ww_VirtualProtect(base, PS, WW_PAGE_READONLY, NULL), WW_ERROR_NOACCESS);
	CHECK_ERR(!ww_VirtualProtect(base, PS, 0, &old), WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualProtect(base, N * PS + 1, WW_PAGE_READONLY, &old),
		  WW_ERROR_INVALID_ADDRESS);

	/* Round trip through READONLY: nothing dirtied, nothing reset. */
	base[1 * PS] = 1;
	base[2 * PS] = 1;
	CHECK(ww_VirtualProtect(base, 3 * PS, WW_PAGE_READONLY, &old));
	CHECK_EQ(old, WW_PAGE_READWRITE);
	EXPECT(base, N, 1, 2);
	CHECK(faults(do_write, base + PS));
	CHECK(!faults(do_read, base + PS));
	CHECK(ww_VirtualProtect(base, 3 * PS, WW_PAGE_READWRITE, &old));
	CHECK_EQ(old, WW_PAGE_READONLY);
	EXPECT(base, N, 1, 2);

	/* Read-only pages are reset normally. */
	CHECK(ww_VirtualProtect(base, 3 * PS, WW_PAGE_READONLY, &old));
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 64), 2);
	EXPECT_NONE(base, N);
	CHECK(ww_VirtualProtect(base, 3 * PS, WW_PAGE_READWRITE, &old));
	EXPECT_NONE(base, N);
	CHECK_EQ(base[PS], 1); /* data intact */
	base[0] = 1; /* watching continues on re-protected pages */
	base[2 * PS] = 2;
	EXPECT(base, N, 0, 2);
	CHECK_EQ(ww_ResetWriteWatch(base, N * PS), 0);

	/* Written, then NOACCESS: stays dirty; a reset while NOACCESS holds. */
	base[5 * PS] = 5;
	CHECK(ww_VirtualProtect(base + 5 * PS, PS, WW_PAGE_NOACCESS, &old));
	CHECK_EQ(old, WW_PAGE_READWRITE);
	CHECK(faults(do_read, base + 5 * PS));
	EXPECT(base, N, 5);
	CHECK(ww_VirtualProtect(base + 5 * PS, PS, WW_PAGE_READWRITE, &old));
	CHECK_EQ(old, WW_PAGE_NOACCESS);
	EXPECT(base, N, 5);
	CHECK_EQ(base[5 * PS], 5);
	CHECK(ww_VirtualProtect(base + 5 * PS, PS, WW_PAGE_NOACCESS, &old));
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 64), 1);
	CHECK(addrs[0] == base + 5 * PS);
	CHECK(ww_VirtualProtect(base + 5 * PS, PS, WW_PAGE_READWRITE, &old));
	EXPECT_NONE(base, N);
	base[5 * PS] = 6;
	EXPECT(base, N, 5);

	/* Protecting a range that is partly dirty keeps exactly that state,
	 * neighbours outside the range included. */
	CHECK_EQ(ww_ResetWriteWatch(base, N * PS), 0);
	base[7 * PS] = base[8 * PS] = base[10 * PS] = 1;
	CHECK(ww_VirtualProtect(base + 8 * PS, 4 * PS, WW_PAGE_NOACCESS, &old));
	EXPECT(base, N, 7, 8, 10);
	CHECK(ww_VirtualProtect(base + 8 * PS, 4 * PS, WW_PAGE_READONLY, &old));
	CHECK_EQ(old, WW_PAGE_NOACCESS);
	CHECK(ww_VirtualProtect(base + 8 * PS, 4 * PS, WW_PAGE_READWRITE, &old));
	CHECK_EQ(old, WW_PAGE_READONLY);
	EXPECT(base, N, 7, 8, 10);
	base[9 * PS] = 1;
	EXPECT(base, N, 7, 8, 9, 10);

	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	printf("ok: %s: VirtualProtect keeps write-watch state\n", argv[1]);
	return 0;
}
