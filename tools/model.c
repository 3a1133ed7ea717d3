/* SPDX-License-Identifier: MIT */
/* The pre-copy live-migration model (model.h). */
#include <math.h>

#include "model.h"

struct migration migrate(double W, double r, double bw, double downtime_s)
{
	struct migration m = { 0 };
	double v = W;

	m.converges = true;
	while (m.rounds < 30) {
		double t, nv;

		if (v / bw <= downtime_s)
			break;
		t = v / bw;
		m.copied += v;
		m.rounds++;
		nv = fmin(W, r * t);
		if (nv >= v) {
			m.converges = false;
			v = nv;
			break;
		}
		v = nv;
	}
	if (m.rounds >= 30 && v / bw > downtime_s)
		m.converges = false;
	m.stop_bytes = v;
	m.stop_ms = v / bw * 1000;
	return m;
}
