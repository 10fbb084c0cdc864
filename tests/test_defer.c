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
#include "kselftest_harness.h"
#include "clock.h"

static void spin_for(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

struct defer_probe {
	volatile int begun;	/* inside its outermost section */
	int stage;		/* how far the task got */
	uint64_t end_ns;	/* when it reached kpf_defer_end() */
	int depth;		/* nesting of sections */
	volatile int stop;	/* the launcher saw it preempted after */
};

/* Give up waiting for a preemption after the section after this long. */
#define GIVE_UP_NS	60000000000ull

static void deferring(void *arg)
{
	struct defer_probe *p = arg;
	uint64_t end;
	int i;

	for (i = 0; i < p->depth; i++)
		kpf_defer_begin();
	p->begun = 1;
	spin_for(30000000);	/* 30 ms, far beyond the 5 ms budget */
	p->stage = 1;
	for (i = 0; i < p->depth - 1; i++)
		kpf_defer_end();
	p->stage = 2;		/* still inside the outermost section */
	p->end_ns = now_ns();
	kpf_defer_end();	/* the deferred preemption happens here */
	p->stage = 3;
	/*
	 * Preemptible again: spin until the launcher has seen that. A fixed
	 * 30 ms spin failed on a loaded host: descheduled past its end, the
	 * task took the expiry inside clock_gettime() (deferred to the next
	 * libc call), found the 30 ms over and returned KPF_DONE.
	 */
	end = now_ns() + GIVE_UP_NS;
	while (!p->stop && now_ns() < end)
		;
	p->stage = 4;
}

FIXTURE(defer) {
	struct defer_probe p;
};

FIXTURE_VARIANT(defer) {
	int depth;
};

FIXTURE_VARIANT_ADD(defer, one_section) {
	.depth = 1,
};

FIXTURE_VARIANT_ADD(defer, three_nested) {
	.depth = 3,
};

FIXTURE_SETUP(defer)
{
	self->p.depth = variant->depth;
}

FIXTURE_TEARDOWN(defer)
{
}

TEST_F_TIMEOUT(defer, stops_at_outermost_end, 120)
{
	uint64_t t0, dt;
	kpf_task *t;
	int r;

	t0 = now_ns();
	r = kpf_launch(&t, deferring, &self->p, 5000000);
	/*
	 * On a loaded host the budget can run out before the task reached
	 * its section (CI, stock guest: stage 0 after 19.6 ms): go on
	 * until a slice has run into it.
	 */
	while (r == KPF_PREEMPTED && !self->p.begun) {
		t0 = now_ns();
		r = kpf_resume(t, 5000000);
	}
	dt = now_ns() - t0;
	/* no preemption inside the section: stopped at kpf_defer_end */
	EXPECT_EQ(KPF_PREEMPTED, r);
	EXPECT_EQ(2, self->p.stage);
	/* the section ran to its end first */
	EXPECT_LE(30000000ull, dt) TH_LOG("%.1f ms for a 5 ms budget", dt / 1e6);
	ASSERT_EQ(KPF_PREEMPTED, r);
	/* after the section the task is preemptible */
	r = kpf_resume(t, 5000000);
	EXPECT_EQ(KPF_PREEMPTED, r);
	EXPECT_EQ(3, self->p.stage);
	self->p.stop = 1;
	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, 5000000);
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_EQ(4, self->p.stage);
}

TEST_HARNESS_MAIN
