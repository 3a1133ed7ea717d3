/* SPDX-License-Identifier: MIT */
/*
 * The SVG heatmap of `writewatch run --svg` and `attach --svg`: written
 * pages by interval, per process and mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "watch.h"

int write_svg(struct session *s)
{
	const int H = 400, W = 800, left = 170, top = 40;
	size_t total = 0, buckets = (size_t)H, per, nall = 0;
	int cols = s->tick > 0 ? s->tick : 1;
	double colw = (double)W / cols, *cell;
	size_t **base;
	FILE *f = fopen(s->o.svg, "we");
	int err = 0;

	if (!f) {
		fprintf(stderr, "writewatch: cannot write %s: %s\n", s->o.svg, strerror(errno));
		return -1;
	}
	/* y: the written mappings of every process stacked in address order */
	base = calloc(s->nprocs + 1, sizeof(*base));
	for (size_t q = 0; base && q < s->nprocs; q++) {
		struct wproc *p = s->procs[q];

		base[q] = calloc(p->nmaps + 1, sizeof(**base));
		for (size_t i = 0; i < p->nmaps; i++)
			if (p->maps[i].written)
				total += p->maps[i].pages, nall++;
	}
	if (!total)
		total = 1;
	per = (total + buckets - 1) / buckets;
	cell = calloc(buckets * (size_t)cols, sizeof(*cell));
	if (!base || !cell) {
		fclose(f);
		err = -1;
		goto out;
	}
	{
		size_t at = 0;

		for (size_t q = 0; q < s->nprocs; q++) {
			struct wproc *p = s->procs[q];

			if (!base[q])
				continue;
			for (;;) {
				size_t pick = SIZE_MAX;

				for (size_t i = 0; i < p->nmaps; i++)
					if (p->maps[i].written && !base[q][i] &&
					    (pick == SIZE_MAX ||
					     p->maps[i].start < p->maps[pick].start))
						pick = i;
				if (pick == SIZE_MAX)
					break;
				base[q][pick] = at + 1; /* 0 means unplaced */
				at += p->maps[pick].pages;
			}
		}
	}
	for (size_t i = 0; i < s->nrecs; i++) {
		const struct rec *r = &s->recs[i];
		size_t y0;

		if (r->interval >= cols || !base[r->proc] || !base[r->proc][r->id])
			continue;
		y0 = base[r->proc][r->id] - 1 + r->page;
		for (size_t p = y0; p < y0 + r->n && p / per < buckets; p++)
			cell[(p / per) * (size_t)cols + (size_t)r->interval] += 1.0 / (double)per;
	}
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"11\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		"<text x=\"%d\" y=\"20\" font-size=\"14\">writewatch: writes of pid %d over time "
		"(%s, %.1fs per column; darker = more of the band written)</text>\n"
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f4f4f4\" "
		"stroke=\"#888\"/>\n",
		left + W + 20, top + H + 50, left, (int)s->root->pid, s->mechanism, s->o.interval,
		left, top, W, H);
	for (size_t y = 0; y < buckets; y++) {
		for (int x = 0; x < cols; x++) {
			double v = cell[y * (size_t)cols + (size_t)x];

			if (v <= 0)
				continue;
			if (v > 1)
				v = 1;
			fprintf(f,
				"<rect x=\"%.2f\" y=\"%zu\" width=\"%.2f\" height=\"1\" "
				"fill=\"rgb(%d,%d,%d)\"/>\n",
				left + x * colw, top + y * (size_t)H / buckets, colw + 0.3,
				(int)(255 - 200 * v), (int)(255 - 230 * v), (int)(255 - 120 * v));
		}
	}
	for (size_t q = 0; q < s->nprocs; q++) {
		struct wproc *p = s->procs[q];

		for (size_t i = 0; i < p->nmaps; i++) {
			double y;

			if (!p->maps[i].written)
				continue;
			y = top + (double)(base[q][i] - 1) / (double)per * H / (double)buckets;
			fprintf(f,
				"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n"
				"<text x=\"4\" y=\"%.1f\">",
				left - 5, left + W, y, y, y + 10);
			if (s->nprocs > 1)
				fprintf(f, "%d: ", (int)p->pid);
			xml_str(f,
				p->maps[i].name && *p->maps[i].name ? p->maps[i].name : "[anon]");
			fprintf(f, " 0x%" PRIxPTR "</text>\n", p->maps[i].start);
		}
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\">0 s</text><text x=\"%d\" y=\"%d\" "
		"text-anchor=\"end\">%.1f s (time)</text>\n</svg>\n",
		left, top + H + 20, left + W, top + H + 20, s->elapsed);
	if (ferror(f))
		err = -1;
	if (fclose(f))
		err = -1;
	if (err)
		fprintf(stderr, "writewatch: cannot write %s: %s\n", s->o.svg, strerror(errno));
out:
	for (size_t q = 0; base && q < s->nprocs; q++)
		free(base[q]);
	free(base);
	free(cell);
	return err;
}
