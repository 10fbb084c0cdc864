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
#include "ktest.h"
#include "torture.h"

#define DEPTH	8

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

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

static uint64_t budget(void)
{
	/* 100 us .. 2.1 ms */
	return 100000 + torture_splitmix(&rng) % 2000000;
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

int main(void)
{
	uint64_t t0, base_preempts = 0;
	kpf_task *t;
	int run, r, k, all = 1, mismatches = 0;

	ktest_plan(6);
	mode = torture_cpu_mode();
	ktest_diag("backend %s", kpf_backend());
	/* torture run of about 3 ms */
	for (torture_iters = 1000;; torture_iters *= 2) {
		torture_init(&ref, 7);
		t0 = now_ns();
		torture_run(&ref, torture_iters, mode);
		if (now_ns() - t0 > 3000000)
			break;
	}

	for (run = 0; run < 30; run++) {
		r = kpf_launch(&t, level, (void *)1L, 3000000);
		if (r == KPF_PREEMPTED && in_child[1])
			cascades[1]++;
		while (r == KPF_PREEMPTED) {
			base_preempts++;
			r = kpf_resume(t, budget() + 1000000);
			if (r == KPF_PREEMPTED && in_child[1])
				cascades[1]++;
		}
		if (r != KPF_DONE)
			errors++;
		if (memcmp(&st, &ref, sizeof(st)))
			mismatches++;
	}
	KTEST_EXPECT(!errors, "no errors, every level's work intact (%d)",
		     errors);
	KTEST_EXPECT(depth_ok && kpf_in_task() == 0,
		     "kpf_in_task() reports the nesting depth at every level");
	KTEST_EXPECT(!mismatches,
		     "torture state at depth %d bit-exact in all 30 runs (%d differ)",
		     DEPTH, mismatches);
	for (k = 1; k < DEPTH; k++) {
		ktest_diag("level %d: stopped %llu times while its child ran, its child stopped %llu times",
			   k, (unsigned long long)cascades[k],
			   (unsigned long long)child_preempts[k]);
		if (!cascades[k] || !child_preempts[k])
			all = 0;
	}
	KTEST_EXPECT(all,
		     "at every level an outer budget expired inside an inner task, and inner budgets expired");
	KTEST_EXPECT(base_preempts > 0, "the outermost task was preempted (%llu)",
		     (unsigned long long)base_preempts);
	KTEST_EXPECT(child_preempts[DEPTH - 1] > 0,
		     "the innermost task was preempted (%llu)",
		     (unsigned long long)child_preempts[DEPTH - 1]);
	return ktest_finish();
}
