/* SPDX-License-Identifier: MIT */
/*
 * ww-nouffd: run a program the way a container runs it, with userfaultfd
 * denied by seccomp. Docker's default profile leaves userfaultfd(2) out of
 * its allow list (denied with EPERM, its defaultErrnoRet) and gives no
 * /dev/userfaultfd; here the syscall gets EPERM and so does the
 * USERFAULTFD_IOC_NEW ioctl that /dev/userfaultfd would answer. Before
 * running anything it checks, in the filtered process, that the filter
 * works and that AUTO picks mprotect; then it execs PROGRAM with every
 * argument "@auto" replaced by the name of AUTO's choice (the filter is
 * inherited across exec and fork). Exit 77 where seccomp filters cannot be
 * installed or the architecture is not one it knows.
 *
 *   ww-nouffd [PROGRAM [ARG|@auto]...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "writewatch.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00) /* Linux 6.1 <linux/userfaultfd.h> */
#endif

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

int main(int argc, char **argv)
{
#if defined(NATIVE_ARCH) && defined(__NR_userfaultfd)
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		/* the low half of the request (little-endian args[1]) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)USERFAULTFD_IOC_NEW, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	struct ww_tracker *t;
	const char *name;
	char why[512];
	int b, fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		printf("SKIP: cannot install a seccomp filter: %s\n", strerror(errno));
		return 77;
	}
	/* The filter denies what a container denies. */
	if (syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK) >= 0 || errno != EPERM) {
		fprintf(stderr, "ww-nouffd: userfaultfd(2) not denied with EPERM\n");
		return 1;
	}
	fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (fd >= 0 && (ioctl(fd, USERFAULTFD_IOC_NEW, O_CLOEXEC) >= 0 || errno != EPERM)) {
		fprintf(stderr, "ww-nouffd: USERFAULTFD_IOC_NEW not denied with EPERM\n");
		return 1;
	}
	if (fd >= 0)
		close(fd);
	/* AUTO must pick mprotect, and say why the others do not work. */
	unsetenv("WRITEWATCH_BACKEND");
	b = ww_backend_auto(0);
	if (b != WW_BACKEND_MPROTECT) {
		fprintf(stderr, "ww-nouffd: AUTO picked %s, not mprotect\n",
			b < 0 ? strerror(-b) : ww_backend_name((enum ww_backend)b));
		return 1;
	}
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why)) != -EPERM ||
	    !strstr(why, "userfaultfd")) {
		fprintf(stderr, "ww-nouffd: pagemap-scan probe: %s\n", why);
		return 1;
	}
	if (ww_open(NULL, &t) || ww_tracker_backend(t) != WW_BACKEND_MPROTECT) {
		fprintf(stderr, "ww-nouffd: ww_open(NULL) did not give an mprotect tracker\n");
		return 1;
	}
	ww_close(t);
	name = ww_backend_name((enum ww_backend)b);
	if (argc < 2) {
		printf("ok: userfaultfd denied by seccomp; AUTO picks %s (pagemap-scan: %s)\n",
		       name, why);
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "@auto"))
			argv[i] = (char *)name;
	execv(argv[1], argv + 1);
	fprintf(stderr, "ww-nouffd: %s: %s\n", argv[1], strerror(errno));
	return 1;
#else
	(void)argc;
	(void)argv;
	printf("SKIP: ww-nouffd knows no seccomp architecture value for this machine\n");
	return 77;
#endif
}
