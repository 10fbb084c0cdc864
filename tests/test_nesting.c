// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Nesting: tasks launch tasks, 8 deep. Each level spins, launches the
 * next level with a random budget and resumes it until it is done; the
 * innermost level runs the register torture loop. An inner budget is
 * clamped to what remains of the outer ones, so outer budgets expire
 * while inner tasks run: the inner and the outer are both stopped, and
 * both resume correctly. We check that this happened at every level, that
 * every level's work and the torture state are exact, and that
 * kpf_in_task() reports the depth.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "kpf_torture.h"
#include "clock.h"

#define DEPTH	8

static int mode;
static uint64_t torture_iters;
static struct torture_state ref, st;
static uint64_t spin_ns = 150000;
static uint64_t rng = 99;

static volatile int in_child[DEPTH + 2];
static uint64_t cascades[DEPTH + 2];	/* stopped while its child ran */
static uint64_t child_preempts[DEPTH + 2];
static int depth_ok = 1, errors;
static uint64_t work[DEPTH + 2], work_ref[DEPTH + 2];

/* Deterministic work that takes about spin_ns and is checked later. */
static uint64_t spin(uint64_t x)
{
	uint64_t end = now_ns() + spin_ns;
	uint64_t i;

	while (now_ns() < end)
		for (i = 0; i < 64; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

/* Shortest budget: 100 us natively, more where switching is slow. */
static uint64_t min_budget = 100000;

static uint64_t budget(void)
{
	/* 100 us .. 2.1 ms natively */
	return min_budget + torture_splitmix(&rng) % (20 * min_budget);
}

static void pauser(void *arg)
{
	int i, n = *(int *)arg;

	for (i = 0; i < n; i++)
		kpf_pause();
}

/*
 * What one level of the chain costs to resume: a pause and a resume with
 * a deadline earlier than the armed one, so arming takes its slow path.
 * If budgets were not well above eight of these, resuming the chain could
 * use up the budget before the innermost task runs - on every attempt, on
 * a slow (emulated, debug) kernel: no progress at all.
 */
static uint64_t resume_cost_ns(void)
{
	int n = 200, i = 0, r;
	uint64_t t0 = now_ns();
	kpf_task *t;

	r = kpf_launch(&t, pauser, &n, 1000000000);
	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, 1000000000 - 1000 * ++i);
	return (now_ns() - t0) / n;
}

static void level(void *arg)
{
	long k = (long)arg;
	kpf_task *t;
	int r;

	if (kpf_in_task() != k)
		depth_ok = 0;
	if (k == DEPTH) {
		torture_init(&st, 7);
		torture_run(&st, torture_iters, mode);
		return;
	}
	/* the result depends on the timing, so only its chain is checked */
	work[k] = spin(work[k]);
	work_ref[k] = work[k];
	in_child[k] = 1;
	r = kpf_launch(&t, level, (void *)(k + 1), budget());
	in_child[k] = 0;
	while (r == KPF_PREEMPTED) {
		child_preempts[k]++;
		if (in_child[k + 1])
			cascades[k + 1]++;
		if (kpf_in_task() != k)
			depth_ok = 0;
		in_child[k] = 1;
		r = kpf_resume(t, budget());
		in_child[k] = 0;
	}
	if (r < 0)
		errors++;
	if (work[k] != work_ref[k])
		errors++;
}

FIXTURE(nest) {
};

FIXTURE_SETUP(nest)
{
}

FIXTURE_TEARDOWN(nest)
{
}

TEST_F_TIMEOUT(nest, depth_8, 600)
{
	uint64_t t0, cost, scale, base_preempts = 0;
	int runs = 30;
	kpf_task *t;
	int run, r, k, all = 1, mismatches = 0;

	mode = torture_cpu_mode();
	TH_LOG("backend %s", kpf_backend());
	/* budgets, and the work they cut, scale with the cost of a resume */
	cost = resume_cost_ns();
	scale = (100 * cost + min_budget - 1) / min_budget;
	if (scale > 1) {
		min_budget *= scale;
		spin_ns *= scale;
		runs = 10;
	}
	TH_LOG("resume cost %llu ns: budgets from %llu us, %d runs",
		   (unsigned long long)cost,
		   (unsigned long long)min_budget / 1000, runs);
	/* torture run of about 30 shortest budgets (3 ms natively) */
	for (torture_iters = 1000;; torture_iters *= 2) {
		torture_init(&ref, 7);
		t0 = now_ns();
		torture_run(&ref, torture_iters, mode);
		if (now_ns() - t0 > 30 * min_budget)
			break;
	}

	for (run = 0; run < runs; run++) {
		r = kpf_launch(&t, level, (void *)1L, 30 * min_budget);
		if (r == KPF_PREEMPTED && in_child[1])
			cascades[1]++;
		while (r == KPF_PREEMPTED) {
			base_preempts++;
			r = kpf_resume(t, budget() + 10 * min_budget);
			if (r == KPF_PREEMPTED && in_child[1])
				cascades[1]++;
		}
		if (r != KPF_DONE)
			errors++;
		if (memcmp(&st, &ref, sizeof(st)))
			mismatches++;
	}
	EXPECT_EQ(0, errors) TH_LOG("a level's work was not intact");
	EXPECT_TRUE(depth_ok) TH_LOG("kpf_in_task() was wrong at some level");
	EXPECT_EQ(0, kpf_in_task());
	EXPECT_EQ(0, mismatches)
		TH_LOG("torture state at depth %d differs in %d of %d runs",
		       DEPTH, mismatches, runs);
	for (k = 1; k < DEPTH; k++) {
		TH_LOG("level %d: stopped %llu times while its child ran, its child stopped %llu times",
		       k, (unsigned long long)cascades[k],
		       (unsigned long long)child_preempts[k]);
		if (!cascades[k] || !child_preempts[k])
			all = 0;
	}
	/* at every level an outer budget expired inside an inner task */
	EXPECT_TRUE(all);
	EXPECT_LT(0ull, base_preempts);
	EXPECT_LT(0ull, child_preempts[DEPTH - 1]);
}

TEST_HARNESS_MAIN
