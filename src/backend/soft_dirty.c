/* SPDX-License-Identifier: MIT */
/*
 * The soft-dirty backend: not built yet. Its probe says so, so AUTO passes it by
 * and an explicit request fails with -ENOSYS and that reason.
 */
#include "../sys/sys.h"
#include "backend.h"

static int soft_dirty_probe(pid_t pid, char *why, size_t whylen)
{
	(void)pid;
	return ww__why(why, whylen, -ENOSYS, "soft-dirty backend: not built yet");
}

const struct ww__backend_ops ww__soft_dirty_ops = {
	.id = WW_BACKEND_SOFT_DIRTY,
	.name = "soft-dirty",
	.probe = soft_dirty_probe,
};
