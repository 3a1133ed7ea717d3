/* SPDX-License-Identifier: MIT */
/*
 * The pre-copy live-migration model the summary applies to a measured
 * write working set and dirty rate.
 */
#ifndef WW_TOOLS_MODEL_H
#define WW_TOOLS_MODEL_H

#include <stdbool.h>

/*
 * The pre-copy model (also in writewatch-run(1)): round 1 copies the write
 * working set W; each later round copies what was dirtied while the previous
 * round ran, D(T) = min(W, r * T) with r the mean dirty rate; the rounds stop
 * when the remainder can be copied within the allowed downtime, when a round
 * no longer shrinks (r >= bandwidth: no convergence), or after 30 rounds;
 * the remainder is the final stop-and-copy.
 */
struct migration {
	int rounds;
	bool converges;
	double stop_bytes, stop_ms, copied;
};

/* Rounds for working set W bytes, dirty rate r bytes/s, bandwidth bw
 * bytes/s, allowed downtime in seconds. */
struct migration migrate(double W, double r, double bw, double downtime_s);

#endif
