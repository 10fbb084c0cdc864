// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exact resumes: a loop with live state in every GPR, the flags, the
 * vector registers (xmm, ymm with AVX, zmm16-31 and k1-k2 with AVX-512),
 * the red zone and the MXCSR rounding mode is preempted at least 10,000
 * times over many launches, several tasks interleaved; its final state
 * must equal, bit for bit, that of an undisturbed run.
 *
 * TORTURE_PREEMPTIONS overrides the 10,000 (slow emulators);
 * TORTURE_MODE=0|1|2 forces xmm|ymm|zmm (default: the best the CPU has).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "kpf_torture.h"
#include "clock.h"

struct job {
	struct torture_state st;
	uint64_t iters;
	int mode;
};

static void job_fn(void *arg)
{
	struct job *j = arg;

	torture_run(&j->st, j->iters, j->mode);
}

#define NSEEDS	8
#define NINTER	3

FIXTURE(torture) {
};

FIXTURE_SETUP(torture)
{
}

FIXTURE_TEARDOWN(torture)
{
}

TEST_F_TIMEOUT(torture, preempted_runs_bit_exact, 600)
{
	static struct torture_state ref[NSEEDS];
	static struct job jobs[NINTER];
	const char *env;
	kpf_task *t[NINTER];
	uint64_t want = 10000, preempt = 0, iters = 1000, t0, dt, start;
	uint64_t budget_min, rng = 12345, mismatches = 0, runs = 0;
	struct kpf_stats stats = { .size = sizeof(stats) };
	int mode = torture_cpu_mode(), i, r, live, errors = 0;

	env = getenv("TORTURE_MODE");
	if (env && *env && atoi(env) < mode)
		mode = atoi(env);
	env = getenv("TORTURE_PREEMPTIONS");
	if (env && *env)
		want = strtoull(env, NULL, 0);
	TH_LOG("backend %s, vector mode %s", kpf_backend(),
		   mode == 2 ? "zmm (AVX-512)" : mode == 1 ? "ymm (AVX)" :
		   "xmm (SSE)");

	/* calibrate: about 2 ms per undisturbed run */
	for (;;) {
		torture_init(&ref[0], 1);
		t0 = now_ns();
		torture_run(&ref[0], iters, mode);
		dt = now_ns() - t0;
		if (dt > 2000000 || iters >= (1ull << 30))
			break;
		iters *= 2;
	}
	for (i = 0; i < NSEEDS; i++) {
		torture_init(&ref[i], 1000 + i);
		torture_run(&ref[i], iters, mode);
	}
	/* the loop depends on its inputs: different seeds, different ends */
	TH_LOG("reference runs: %llu iterations, %.2f ms each",
	       (unsigned long long)iters, dt / 1e6);
	EXPECT_NE(0, memcmp(&ref[0], &ref[1], sizeof(ref[0])));
	EXPECT_EQ(0x7f80u | 0x8000u, ref[0].mxcsr & ~0x3fu);
	EXPECT_EQ(0x0f7f, ref[0].fcw);

	budget_min = strcmp(kpf_backend(), "kmod") ? 20000 : 10000;
	start = now_ns();
	while (preempt < want && now_ns() - start < 120000000000ull) {
		for (i = 0; i < NINTER; i++) {
			torture_init(&jobs[i].st, 1000 + (runs + i) % NSEEDS);
			jobs[i].iters = iters;
			jobs[i].mode = mode;
			r = kpf_launch(&t[i], job_fn, &jobs[i],
				       budget_min + torture_splitmix(&rng) % (4 * budget_min));
			if (r < 0) {
				errors++;
				t[i] = NULL;
			}
			if (r == KPF_PREEMPTED)
				preempt++;
		}
		do {
			live = 0;
			for (i = 0; i < NINTER; i++) {
				if (!t[i])
					continue;
				r = kpf_resume(t[i], budget_min +
					       torture_splitmix(&rng) % (4 * budget_min));
				if (r < 0) {
					errors++;
					t[i] = NULL;
				} else if (r == KPF_PREEMPTED) {
					preempt++;
					live++;
				} else {
					t[i] = NULL;
				}
			}
		} while (live);
		for (i = 0; i < NINTER; i++) {
			if (memcmp(&jobs[i].st, &ref[(runs + i) % NSEEDS],
				   sizeof(ref[0])))
				mismatches++;
		}
		runs += NINTER;
	}
	ASSERT_EQ(0, kpf_thread_stats(&stats));
	TH_LOG("preempted %llu times over %llu launches; library: %llu preemptions, %llu retries, %llu upcalls, %llu arm syscalls",
	       (unsigned long long)preempt, (unsigned long long)runs,
	       (unsigned long long)stats.preemptions,
	       (unsigned long long)stats.retries,
	       (unsigned long long)stats.upcalls,
	       (unsigned long long)stats.arm_syscalls);
	EXPECT_EQ(0, errors);
	EXPECT_LE(want, preempt);
	/* every preempted run is bit-exact with the undisturbed one */
	EXPECT_EQ(0ull, mismatches);
}

TEST_HARNESS_MAIN
