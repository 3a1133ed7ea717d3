/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the writewatch tool's commands. */
#ifndef WW_TOOLS_UTIL_H
#define WW_TOOLS_UTIL_H

#include <stdio.h>

/* Strings the watched process controls (see util.c): as a JSON string
 * literal with its quotes, as XML character data, as terminal text. Bytes
 * that are not safe printable UTF-8 come out as the text \xNN. */
void json_str(FILE *f, const char *s);
void xml_str(FILE *f, const char *s);
void text_str(FILE *f, const char *s);
size_t ww_safe_char(const unsigned char *s);

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);

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
