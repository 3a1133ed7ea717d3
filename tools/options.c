/* SPDX-License-Identifier: MIT */
/*
 * The options of `writewatch run` and `attach`, parsed into struct wopts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "watch.h"

/* A finite number >= 0; with sizes, an optional K/M/G[i][B][/s] suffix. */
static bool parse_num(const char *arg, double *out, bool sizes)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || !isfinite(v) || v < 0)
		return false;
	if (sizes && *end) {
		double k = end[1] == 'i' ? 1024 : 1000;

		switch (*end) {
		case 'k':
		case 'K':
			v *= k;
			break;
		case 'M':
			v *= k * k;
			break;
		case 'G':
			v *= k * k * k;
			break;
		default:
			return false;
		}
		end += end[1] == 'i' ? 2 : 1;
		if (*end == 'B')
			end++;
		if (!strcmp(end, "/s"))
			end += 2;
	}
	if (!isfinite(v))
		return false;
	*out = v;
	return *end == '\0';
}

static bool add_range(struct pw_exclude *ex, const char *arg)
{
	char *end;
	unsigned long long lo, hi;
	uintptr_t *a, *b;

	errno = 0;
	lo = strtoull(arg, &end, 16);
	if (errno || end == arg || *end != '-')
		return false;
	arg = end + 1;
	hi = strtoull(arg, &end, 16);
	if (errno || end == arg || *end || hi <= lo || hi > UINTPTR_MAX)
		return false;
	a = realloc(ex->lo, (ex->nranges + 1) * sizeof(*a));
	if (!a)
		return false;
	ex->lo = a;
	b = realloc(ex->hi, (ex->nranges + 1) * sizeof(*b));
	if (!b)
		return false;
	ex->hi = b;
	ex->lo[ex->nranges] = (uintptr_t)lo;
	ex->hi[ex->nranges++] = (uintptr_t)hi;
	return true;
}

static bool add_name(struct pw_exclude *ex, const char *pat)
{
	const char **v = realloc(ex->names, (ex->nnames + 1) * sizeof(*v));

	if (!v)
		return false;
	ex->names = v;
	ex->names[ex->nnames++] = pat;
	return true;
}

void usage(FILE *f, const char *cmd)
{
	bool run = !strcmp(cmd, "run");

	fprintf(f,
		"usage: writewatch %s [OPTIONS] %s\n"
		"  Watch which pages %s writes, interval by interval.\n"
		"  -i, --interval SEC       seconds per interval (default 1)\n"
		"  -d, --duration SEC       stop watching after SEC seconds (default: until it "
		"exits)\n"
		"  -o, --output FILE        write the report to FILE (default: %s)\n"
		"  -j, --json               JSON Lines: one object per interval, then a summary\n"
		"  -p, --plain              plain lines even on a terminal\n"
		"  -n, --top N              mappings shown in the live view (default 20)\n"
		"  -b, --backend NAME       mechanism (default auto: pagemap-scan, else "
		"soft-dirty)\n"
		"      --bandwidth RATE     migration link, bytes/s, suffix K/M/G[i] (default 1G)\n"
		"      --max-downtime MS    acceptable stop-and-copy time (default 300)\n"
		"      --svg FILE           write a heatmap of writes over time\n"
		"      --max-mapping SIZE   skip (and name) larger mappings (default: RAM size;\n"
		"                           0: no limit)\n"
		"      --exclude LO-HI      do not track mappings overlapping [LO, HI) (hex)\n"
		"      --exclude-name PAT   do not track mappings whose name matches PAT "
		"(glob)\n"
		"%s",
		cmd, run ? "-- CMD [ARGS...]" : "PID", run ? "CMD" : "process PID",
		run ? "standard error; standard output stays the command's" : "standard output",
		run ? "      --no-children        watch CMD only, not the processes it starts\n" :
		      "      --children           also watch the processes PID starts (found at each\n"
		      "                           interval)\n");
}

int parse(int argc, char **argv, struct wopts *o, const char *cmd)
{
	static const struct option lo[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "plain", no_argument, NULL, 'p' },
		{ "top", required_argument, NULL, 'n' },
		{ "backend", required_argument, NULL, 'b' },
		{ "bandwidth", required_argument, NULL, 'B' },
		{ "max-downtime", required_argument, NULL, 'D' },
		{ "svg", required_argument, NULL, 's' },
		{ "max-mapping", required_argument, NULL, 'M' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "exclude-name", required_argument, NULL, 'X' },
		{ "no-children", no_argument, NULL, 'C' },
		{ "children", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double v;
	int c;

	*o = (struct wopts){
		.interval = 1, .bandwidth = 1e9, .max_downtime_ms = 300, .top = 20, .children = true
	};
	/* default: the machine's RAM; a larger mapping is a sparse reservation */
	o->max_mapping = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	while ((c = getopt_long(argc, argv, "+i:d:o:jpn:b:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!parse_num(optarg, &o->interval, false) || o->interval < 0.01)
				goto bad;
			break;
		case 'd':
			if (!parse_num(optarg, &o->duration, false))
				goto bad;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->plain = true;
			break;
		case 'n':
			if (!parse_num(optarg, &v, false) || v < 1 || v > 1e6)
				goto bad;
			o->top = (int)v;
			break;
		case 'b':
			if (ww_backend_from_name(optarg, &o->backend) < 0) {
				fprintf(stderr, "writewatch %s: unknown backend '%s'\n", cmd,
					optarg);
				return -1;
			}
			break;
		case 'B':
			if (!parse_num(optarg, &o->bandwidth, true) || o->bandwidth <= 0)
				goto bad;
			break;
		case 'D':
			if (!parse_num(optarg, &o->max_downtime_ms, false))
				goto bad;
			break;
		case 's':
			o->svg = optarg;
			break;
		case 'M':
			if (!parse_num(optarg, &o->max_mapping, true) ||
			    o->max_mapping >= 18446744073709551615.0)
				goto bad;
			break;
		case 'x':
			if (!add_range(&o->ex, optarg))
				goto bad;
			break;
		case 'X':
			if (!add_name(&o->ex, optarg))
				goto bad;
			break;
		case 'C':
			if (strcmp(cmd, "run"))
				goto unknown;
			o->children = false;
			break;
		case 'c':
			o->children = true; /* run: the default */
			o->attach_children = !strcmp(cmd, "attach");
			break;
		case 'h':
			usage(stdout, cmd);
			return 1;
		default:
			goto unknown;
		}
	}
	return 0;
unknown:
	usage(stderr, cmd);
	return -1;
bad:
	fprintf(stderr, "writewatch %s: bad value '%s' for %s\n", cmd, optarg, argv[optind - 1]);
	return -1;
}
