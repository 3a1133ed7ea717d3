/* SPDX-License-Identifier: MIT */
/*
 * Getting a userfaultfd out of another process (src/remote.c): the target
 * executes userfaultfd(2) under ptrace, we copy the descriptor with
 * pidfd_getfd(2), the target closes its copy, and everything it had is put
 * back. The uffd's ioctls then act on the target's address space.
 */
#ifndef WW_REMOTE_H
#define WW_REMOTE_H

#include <stddef.h>
#include <sys/types.h>

/* Is pid a user process one could watch at all, whatever the mechanism:
 * -ESRCH if there is none (or it has exited), -EINVAL for a kernel thread
 * (no user memory), -EPERM if /proc hides it from us. Touches nothing. */
int ww__remote_target(pid_t pid, char *why, size_t whylen);

/* Can we inject into pid at all: architecture, the process exists and is
 * not a zombie, not already traced, no seccomp filter, ptrace permission.
 * Touches nothing in the target. 0 or a negative errno with a reason. */
int ww__remote_check(pid_t pid, char *why, size_t whylen);

/* A userfaultfd (O_CLOEXEC | O_NONBLOCK) created in pid's address space, as
 * a descriptor of this process; UFFDIO_API has not been called on it. The
 * target is left running (or stopped, if it was group-stopped) with its
 * registers, signal mask and descriptor table as before, on every path. */
int ww__remote_uffd(pid_t pid, char *why, size_t whylen);

#endif /* WW_REMOTE_H */
