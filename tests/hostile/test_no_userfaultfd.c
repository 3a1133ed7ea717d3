/* SPDX-License-Identifier: MIT */
/*
 * Issue 16: where userfaultfd is denied (a container's default seccomp
 * profile, non-root), AUTO picks mprotect, and that is what users meet
 * first. Here a seccomp filter denies userfaultfd(2) and the
 * /dev/userfaultfd ioctl with EPERM, as such a profile does; then AUTO must
 * pick mprotect (or pagemap-scan/uffd-wp never), and the cases the hostile
 * review broke must hold under it: a small heap buffer, a thread that
 * blocks every signal, a reserve-then-commit region, a fork whose child
 * tracks the inherited memory. Core test: no backend argument.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

static void deny_userfaultfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)USERFAULTFD_IOC_NEW, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

static char *shared;

static void *blocker(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (int i = 0; i < 4; i++)
		shared[i * PS] = 1;
	return NULL;
}

int main(void)
{
	struct ww_tracker *t;
	struct iovec out[16];
	bool dirty[16];
	char *buf, *m;
	pthread_t th;
	int status;
	size_t n;
	pid_t pid;

	PS = (size_t)sysconf(_SC_PAGESIZE);
	harness_backend = WW_BACKEND_MPROTECT;
	deny_userfaultfd();
	CHECK(syscall(__NR_userfaultfd, 0) < 0 && errno == EPERM);
	if (getenv("WRITEWATCH_BACKEND"))
		unsetenv("WRITEWATCH_BACKEND");
	CHECK_EQ(ww_backend_auto(0), WW_BACKEND_MPROTECT);
	CHECK_EQ(ww_open(NULL, &t), 0);
	CHECK_EQ(ww_tracker_backend(t), WW_BACKEND_MPROTECT);

	/* a small heap buffer (item 1) */
	buf = malloc(64);
	CHECK(buf != NULL);
	CHECK_EQ(ww_track(t, buf, 64), 0);
	buf[3] = 1;
	CHECK(harness_collect_all(t, buf, 64, WW_RESET, out, 16) == 1);
	CHECK_EQ(ww_untrack(t, buf, 64), 0);
	free(buf);

	/* a thread that blocks every signal (item 16) */
	shared = harness_map(8);
	CHECK_EQ(ww_track(t, shared, 8 * PS), 0);
	CHECK_EQ(pthread_create(&th, NULL, blocker, NULL), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	n = harness_collect_all(t, shared, 8 * PS, WW_RESET, out, 16);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == shared && out[0].iov_len == 4 * PS);

	/* reserve, then commit (item 3) */
	m = mmap(NULL, 16 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK_EQ(ww_track(t, m, 16 * PS), 0);
	CHECK_EQ(mprotect(m, 16 * PS, PROT_READ | PROT_WRITE), 0);
	m[9 * PS] = 1;
	n = harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);
	harness_pages(out, n, m, 16, dirty);
	CHECK(dirty[9]);

	/* fork: the child tracks the inherited memory itself (item 13) */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct ww_tracker *c;
		void *next;

		shared[5 * PS] = 2;
		if (ww_open(NULL, &c) || ww_track(c, shared, 8 * PS))
			_exit(3);
		shared[6 * PS] = 2;
		if (ww_collect(c, shared, 8 * PS, WW_RESET, out, 16, &next) != 1 ||
		    out[0].iov_base != shared + 6 * PS)
			_exit(4);
		ww_close(c);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ww_close(t);
	printf("ok: userfaultfd denied by seccomp: AUTO picks mprotect, and it holds\n");
	return 0;
}
