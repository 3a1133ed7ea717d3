/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the writewatch tool's commands. */
#ifndef WW_TOOLS_UTIL_H
#define WW_TOOLS_UTIL_H

#include <stdio.h>

/* Write s as a JSON string literal, quotes included. */
void json_str(FILE *f, const char *s);

/* One subcommand of the tool: argv[0] is the command's name. Returns the
 * process exit status. */
struct ww_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_probe(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_dump(int argc, char **argv);

#endif
