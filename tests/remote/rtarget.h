/* SPDX-License-Identifier: MIT */
/*
 * Driving the target program (target.c) from a remote test: start it on two
 * pipes, read its mapping, send commands, and inspect it from outside
 * (/proc/PID/status, /proc/PID/fd) to prove a tracker left nothing behind.
 */
#ifndef WW_TEST_RTARGET_H
#define WW_TEST_RTARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct rtarget {
	pid_t pid;
	int to, from; /* its stdin (our write end), its stdout (our read end) */
	char *addr;
	size_t pages;
};

/* The target is built like the tests; under ThreadSanitizer its runtime
 * changes what some tests rely on (vfork becomes fork, queued signals of one
 * number merge), so those tests skip. */
#if defined(__SANITIZE_THREAD__)
#define RTARGET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RTARGET_TSAN 1
#endif
#endif

/* Start path with mode and pages; fails the test if it does not start. */
void rtarget_start(struct rtarget *t, const char *path, const char *mode, size_t pages);

/* "w K" and wait for "ok". */
void rtarget_write(struct rtarget *t, size_t k);

/* "m FIRST N": the target munmaps N of its pages from page FIRST. */
void rtarget_unmap(struct rtarget *t, size_t first, size_t n);

/* "q", then wait: returns the exit status as from waitpid. */
int rtarget_quit(struct rtarget *t);

/* Its descriptor table as one string of "fd -> target" lines. */
void rtarget_fds(pid_t pid, char *buf, size_t len);

/* True if it holds a userfaultfd. */
bool rtarget_has_uffd(pid_t pid);

/* Become a child subreaper, so that injection helpers orphaned by a killed
 * tracker become our children (call once, before starting trackers). */
void rtarget_subreaper(void);

/* Wait for every child of ours except keep (the target) to exit: after a
 * tracker was killed, its helper may still be about to attach. */
void rtarget_reap_others(pid_t keep);

/* Its State letter and TracerPid. */
void rtarget_state(pid_t pid, char *state, long *tracer);

#endif
