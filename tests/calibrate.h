/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Size work by measuring it in the same run: the host is shared and its
 * speed changes, so tests never assume how fast it is.
 */
#ifndef KPF_CALIBRATE_H
#define KPF_CALIBRATE_H

#include <stdint.h>

#include "clock.h"
#include "kpf_torture.h"

/* Fastest of 5 runs of the torture loop: close to its CPU time. */
static inline uint64_t torture_min_ns(uint64_t iters, int mode)
{
	struct torture_state st;
	uint64_t best = UINT64_MAX, t0, d;
	int i;

	for (i = 0; i < 5; i++) {
		torture_init(&st, 1);
		t0 = now_ns();
		torture_run(&st, iters, mode);
		d = now_ns() - t0;
		if (d < best)
			best = d;
	}
	return best;
}

/*
 * Iterations of the torture loop that take at least @ns even when run at
 * full speed (the fastest of 5 runs), so a loaded host only makes them
 * longer.
 */
static inline uint64_t torture_iters_for(uint64_t ns, int mode)
{
	uint64_t iters = 1000;

	while (torture_min_ns(iters, mode) < ns)
		iters *= 2;
	return iters;
}

#endif /* KPF_CALIBRATE_H */
