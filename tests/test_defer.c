// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Deferred preemption: a budget that runs out inside
 * kpf_defer_begin()/kpf_defer_end() stops the task at the outermost
 * kpf_defer_end(), not before; sections nest; outside a section the task
 * is preempted normally again.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <kpf.h>
#include "ktest.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void spin_for(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

struct defer_probe {
	int stage;		/* how far the task got */
	uint64_t end_ns;	/* when it reached kpf_defer_end() */
	int depth;		/* nesting of sections */
};

static void deferring(void *arg)
{
	struct defer_probe *p = arg;
	int i;

	for (i = 0; i < p->depth; i++)
		kpf_defer_begin();
	spin_for(30000000);	/* 30 ms, far beyond the 5 ms budget */
	p->stage = 1;
	for (i = 0; i < p->depth - 1; i++)
		kpf_defer_end();
	p->stage = 2;		/* still inside the outermost section */
	p->end_ns = now_ns();
	kpf_defer_end();	/* the deferred preemption happens here */
	p->stage = 3;
	spin_for(30000000);	/* preemptible again */
	p->stage = 4;
}

int main(void)
{
	struct defer_probe p = { 0 };
	uint64_t t0, dt;
	kpf_task *t;
	int r, depth;

	ktest_plan(8);
	ktest_diag("backend %s", kpf_backend());
	for (depth = 1; depth <= 3; depth += 2) {
		p.stage = 0;
		p.depth = depth;
		t0 = now_ns();
		r = kpf_launch(&t, deferring, &p, 5000000);
		dt = now_ns() - t0;
		KTEST_EXPECT(r == KPF_PREEMPTED && p.stage == 2,
			     "depth %d: no preemption inside the section, stopped at kpf_defer_end (r=%d stage=%d after %.1f ms)",
			     depth, r, p.stage, dt / 1e6);
		KTEST_EXPECT(dt >= 30000000,
			     "depth %d: the section ran to its end first (%.1f ms for a 5 ms budget)",
			     depth, dt / 1e6);
		r = kpf_resume(t, 5000000);
		KTEST_EXPECT(r == KPF_PREEMPTED && p.stage == 3,
			     "depth %d: after the section the task is preemptible (r=%d stage=%d)",
			     depth, r, p.stage);
		while (r == KPF_PREEMPTED)
			r = kpf_resume(t, 5000000);
		KTEST_EXPECT(r == KPF_DONE && p.stage == 4,
			     "depth %d: runs to the end (r=%d stage=%d)", depth, r,
			     p.stage);
	}
	return ktest_finish();
}
