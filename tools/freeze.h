/* SPDX-License-Identifier: MIT */
/*
 * Stopping every thread of another process for a moment and reading their
 * registers (tools/freeze.c). A helper process, not the caller, is the
 * tracer: it releases the target when told, when the caller dies (SIGKILL
 * included), or when the freeze outlasts its time limit, whichever comes
 * first; if the helper itself is killed the kernel detaches the target.
 */
#ifndef WW_TOOLS_FREEZE_H
#define WW_TOOLS_FREEZE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "elfcore.h"

struct freeze {
	pid_t helper;
	int sock;
	struct ec_thread *th; /* every thread, the thread group leader first */
	size_t n;
	int eintr_fixed; /* syscalls rewound so the stop does not return EINTR */
};

/*
 * Fork the helper for pid ahead of the freeze (forking in the freeze would
 * lengthen it); it releases the threads by itself after limit_ms stopped.
 * 0 or a negative errno with a reason in why.
 */
int fz_spawn(struct freeze *f, pid_t pid, int limit_ms, char *why, size_t whylen);

/*
 * Stop every thread; on success f->th holds every thread's registers. On
 * failure nothing is left stopped and f is freed. 0 or a negative errno
 * with a reason in why.
 */
int fz_stop(struct freeze *f, char *why, size_t whylen);

/*
 * Let the threads run again. 0 when released by this call; -ETIMEDOUT when
 * the helper had already released them at its time limit (what was copied
 * after that is not one instant); another negative errno on failure.
 */
int fz_release(struct freeze *f);

/* Free what fz_stop allocated and reap the helper (after fz_release, or
 * instead of fz_stop: an idle helper exits when its socket closes). */
void fz_free(struct freeze *f);

#endif
