/* SPDX-License-Identifier: MIT */
/*
 * The uffd-wp backend: not built yet. Its probe says so, so AUTO passes it by
 * and an explicit request fails with -ENOSYS and that reason.
 */
#include "../sys/sys.h"
#include "backend.h"

static int uffd_wp_probe(pid_t pid, char *why, size_t whylen)
{
	(void)pid;
	return ww__why(why, whylen, -ENOSYS, "uffd-wp backend: not built yet");
}

const struct ww__backend_ops ww__uffd_wp_ops = {
	.id = WW_BACKEND_UFFD_WP,
	.name = "uffd-wp",
	.probe = uffd_wp_probe,
};
