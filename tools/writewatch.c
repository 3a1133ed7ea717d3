/* SPDX-License-Identifier: MIT */
/*
 * The writewatch command: a table of subcommands, each in its own file.
 * Exit status: 0 success, 1 the operation failed, 2 bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "writewatch.h"

static const struct ww_command commands[] = {
	{ "probe", cmd_probe, "which write-tracking mechanisms work here, and why not" },
	{ "run", cmd_run, "start a command and watch which memory it writes" },
	{ "attach", cmd_attach, "watch which memory a running process writes" },
	{ "dump", cmd_dump,
	  "write a core file of a running process, freezing it for milliseconds" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: writewatch COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'writewatch COMMAND --help' for a command's options; man writewatch.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("writewatch %d.%d.%d\n", WW_VERSION_MAJOR, WW_VERSION_MINOR,
		       WW_VERSION_PATCH);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "writewatch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
