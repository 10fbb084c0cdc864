// SPDX-License-Identifier: GPL-2.0
/*
 * Exact resume: the register torture loop of libkpf's tests
 * (tools/include/kpf_torture_x86_64.S: all 15 GPRs, the carry flag, the
 * red zone, xmm/ymm0-15 and on AVX-512 zmm16-31 and k1-k2, a non-default
 * MXCSR and x87 control word) is preempted by a periodic upcall at least
 * 10,000 times, and the upcall entry resumes it from the saved frame. The
 * result must be bit-identical to the same loop run without a timer.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "kpf_test_util.h"
#include "kpf_torture.h"

#define MIN_DELIVERIES	10000
#define CHUNK_ITERS	20000
#define PERIOD_NS	(50 * NSEC_PER_USEC)
#define MAX_RUN_NS	(150 * NSEC_PER_SEC)

static void report_diff(const struct torture_state *a,
			const struct torture_state *b)
{
	unsigned int i;

	for (i = 0; i < 15; i++)
		if (a->gpr[i] != b->gpr[i])
			kpf_log("gpr[%u] %#lx != %#lx\n", i,
				a->gpr[i], b->gpr[i]);
	if (a->flags != b->flags)
		kpf_log("flags %#lx != %#lx\n", a->flags, b->flags);
	if (a->red != b->red)
		kpf_log("red zone %#lx != %#lx\n", a->red, b->red);
	if (a->mxcsr != b->mxcsr)
		kpf_log("mxcsr %#x != %#x\n", a->mxcsr, b->mxcsr);
	if (a->fcw != b->fcw)
		kpf_log("fcw %#x != %#x\n", a->fcw, b->fcw);
	for (i = 0; i < 16; i++)
		if (memcmp(a->vec[i], b->vec[i], sizeof(a->vec[i])))
			kpf_log("xmm/ymm%u differs\n", i);
	for (i = 0; i < 16; i++)
		if (memcmp(a->zmm[i], b->zmm[i], sizeof(a->zmm[i])))
			kpf_log("zmm%u differs\n", i + 16);
	if (memcmp(a->k, b->k, sizeof(a->k)))
		kpf_log("k1/k2 differ\n");
}

KPF_CTX_FIXTURE(resume);

TEST_F_TIMEOUT(resume, bit_exact_under_periodic_upcalls, 300)
{
	struct torture_state run, ref;
	struct kpf_area *a = self->c.area;
	uint64_t chunks = 0, i, t0, elapsed, delivered;
	int mode = torture_cpu_mode();

	KPF_REQUIRE_DEVICE();
	kpf_log("vector mode %s\n", mode == 2 ? "zmm (AVX-512)" :
		mode == 1 ? "ymm (AVX)" : "xmm");
	torture_init(&run, 1);
	torture_init(&ref, 1);
	/* Sanity: the loop is deterministic and really changes the state. */
	torture_run(&ref, CHUNK_ITERS, mode);
	ASSERT_NE(0, memcmp(&run, &ref, sizeof(run)));
	torture_init(&ref, 1);

	t0 = kpf_now_ns();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0, PERIOD_NS));
	do {
		torture_run(&run, CHUNK_ITERS, mode);
		chunks++;
		elapsed = kpf_now_ns() - t0;
	} while (READ_ONCE(a->delivered) < MIN_DELIVERIES &&
		 elapsed < MAX_RUN_NS);
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	delivered = READ_ONCE(a->delivered);

	for (i = 0; i < chunks; i++)
		torture_run(&ref, CHUNK_ITERS, mode);

	kpf_log("%lu upcalls in %lu ms over %lu x %d iterations: fires %llu overruns %llu deferred %llu, %lu ns/upcall\n",
		delivered, elapsed / NSEC_PER_MSEC, chunks, CHUNK_ITERS,
		READ_ONCE(a->fires), READ_ONCE(a->overruns),
		READ_ONCE(a->deferred), elapsed / (delivered ?: 1));
	if (memcmp(&run, &ref, sizeof(run)))
		report_diff(&run, &ref);
	EXPECT_EQ(0, memcmp(&run, &ref, sizeof(run)));
	/* still round toward zero + FTZ, as torture_init() set it */
	EXPECT_EQ(0x7f80U | 0x8000U, run.mxcsr & ~0x3fU);
	ASSERT_LE(MIN_DELIVERIES, delivered);
	EXPECT_EQ(delivered, kpf_test_upcall_count);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	EXPECT_EQ(0, kpf_test_entry_rflags & (X86_EFLAGS_DF | X86_EFLAGS_TF));
	EXPECT_EQ(KPF_UPCALL_IDLE, READ_ONCE(a->in_upcall));
}

TEST_HARNESS_MAIN
