/* SPDX-License-Identifier: MIT */
/*
 * `writewatch probe`: for each backend, whether it works here and why not,
 * the kernel version, and which backend AUTO picks; --json for scripts;
 * --pid PID asks the same for tracking another process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "util.h"
#include "writewatch.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: writewatch probe [--json] [--pid PID]\n"
		   "  Tell which write-tracking mechanisms work on this kernel and why not.\n"
		   "  --json      one JSON object instead of a table\n"
		   "  --pid PID   probe for tracking process PID instead of this process\n");
}

/* The backend numbers the library may name: the public enum's, and in a
 * build for the tests (meson -Dtest_backend=true) one more above them.
 * The library's own list is whichever of these ww_backend_name() knows. */
#define NUMBERS 64

/* What the kernel's answer to a read fault changes, in one line. */
static const char *zero_page_effect(unsigned int facts, int err)
{
	if (!err && (facts & WW_FACT_ZERO_PAGE))
		return "pagemap-scan leaves untouched anonymous memory unarmed: no page tables "
		       "for holes";
	return "pagemap-scan tells a page only read from a page written by its content (all "
	       "zero: not reported)";
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char why[NUMBERS][256], autowhy[256];
	int err[NUMBERS], pick, c;
	bool first = true;
	unsigned int facts = 0, caps = 0;
	int facts_err;
	bool json = false;
	struct utsname u;
	pid_t pid = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "jp:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			errno = 0;
			pid = (pid_t)strtol(optarg, &end, 10);
			if (errno || *end || pid <= 0) {
				fprintf(stderr,
					"writewatch probe: --pid wants a process id, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "writewatch probe: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	for (int b = 1; b < NUMBERS; b++)
		if (ww_backend_name((enum ww_backend)b))
			err[b] = ww_backend_probe((enum ww_backend)b, pid, why[b], sizeof(why[b]));
	pick = ww_backend_auto(pid);
	ww_backend_probe(WW_BACKEND_AUTO, pid, autowhy, sizeof(autowhy));
	facts_err = ww_kernel_facts(&facts);

	if (json) {
		printf("{\"kernel\":");
		json_str(stdout, u.release);
		printf(",\"machine\":");
		json_str(stdout, u.machine);
		printf(",\"pid\":%d,\"backends\":[", (int)pid);
		for (int b = 1; b < NUMBERS; b++) {
			if (!ww_backend_name((enum ww_backend)b))
				continue;
			printf("%s{\"name\":\"%s\",\"works\":%s,\"reason\":", first ? "" : ",",
			       ww_backend_name((enum ww_backend)b), err[b] ? "false" : "true");
			json_str(stdout, why[b]);
			/* its row of the guarantee table, as data */
			printf(",\"caps\":[");
			if (ww_backend_caps((enum ww_backend)b, &caps) == 0)
				for (unsigned int i = 0, n = 0; i < 32; i++)
					if ((caps & (1u << i)) && ww_cap_name(1u << i))
						printf("%s\"%s\"", n++ ? "," : "",
						       ww_cap_name(1u << i));
			printf("]}");
			first = false;
		}
		printf("],\"zero_page\":%s,\"zero_page_effect\":", facts_err ? "null" :
								   facts & WW_FACT_ZERO_PAGE ?
									       "true" :
									       "false");
		json_str(stdout, zero_page_effect(facts, facts_err));
		printf(",\"auto\":");
		if (pick > 0)
			json_str(stdout, ww_backend_name((enum ww_backend)pick));
		else
			printf("null");
		printf("}\n");
	} else {
		printf("kernel: Linux %s %s\n", u.release, u.machine);
		printf("for: %s\n\n", pid ? "another process" : "this process");
		for (int b = 1; b < NUMBERS; b++)
			if (ww_backend_name((enum ww_backend)b))
				printf("  %-13s %-4s %s\n", ww_backend_name((enum ww_backend)b),
				       err[b] ? "no" : "yes", err[b] ? why[b] : "");
		printf("\nread fault on untouched memory: %s\n  %s\n",
		       facts_err		 ? "unknown (probe failed)" :
		       facts & WW_FACT_ZERO_PAGE ? "maps the shared zero page" :
						   "allocates a page (no zero page)",
		       zero_page_effect(facts, facts_err));
		if (pick > 0)
			printf("\nauto picks: %s\n", autowhy);
		else
			printf("\nauto picks nothing: %s\n", autowhy);
	}
	return pick > 0 ? 0 : 1;
}
