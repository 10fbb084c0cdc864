// SPDX-License-Identifier: GPL-2.0
/*
 * Exact resume: an assembly loop keeping its state in all 15 GPRs, the
 * carry flag, the red zone, xmm0-15 and a non-default MXCSR is preempted
 * by a periodic upcall at least 10,000 times, and the upcall entry
 * resumes it from the saved frame. The result must be bit-identical to
 * the same loop run without a timer.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "kpf_test_util.h"

/* Layout shared with kpf_resume_loop.S. */
struct loop_state {
	uint64_t gpr[14];
	uint64_t carry;
	uint64_t red[4];
	uint32_t mxcsr;
	uint32_t pad;
	uint64_t xmm[16][2];
};

_Static_assert(offsetof(struct loop_state, carry) == 112, "carry");
_Static_assert(offsetof(struct loop_state, red) == 120, "red");
_Static_assert(offsetof(struct loop_state, mxcsr) == 152, "mxcsr");
_Static_assert(offsetof(struct loop_state, xmm) == 160, "xmm");

void kpf_resume_loop(struct loop_state *st, uint64_t iters);

#define MIN_DELIVERIES	10000
#define CHUNK_ITERS	20000
#define PERIOD_NS	(50 * NSEC_PER_USEC)
#define MAX_RUN_NS	(150 * NSEC_PER_SEC)
/* Round toward zero (RC = 11b) and flush-to-zero, exceptions masked. */
#define TEST_MXCSR	(0x1f80 | 0x6000 | 0x8000)

static void put_double(uint64_t *dst, double v)
{
	memcpy(dst, &v, sizeof(v));
}

static void init_state(struct loop_state *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < 14; i++)
		s->gpr[i] = 0x9e3779b97f4a7c15ULL * (i + 1) ^ (0xdeadULL << i);
	s->carry = 1;
	for (i = 0; i < 4; i++)
		s->red[i] = 0x5555aaaa0000ULL + i;
	s->mxcsr = TEST_MXCSR;
	for (i = 0; i < 4; i++) {
		put_double(&s->xmm[i][0], 1.0 + i / 3.0);
		put_double(&s->xmm[i][1], 1000.0 / (i + 7));
	}
	put_double(&s->xmm[4][0], 3.3);
	put_double(&s->xmm[4][1], 0.1);
	/* Decays into the denormal range, where FTZ matters. */
	put_double(&s->xmm[5][0], 1e-290);
	put_double(&s->xmm[5][1], 3e-300);
	put_double(&s->xmm[6][0], 0.99);
	put_double(&s->xmm[6][1], 0.97);
	put_double(&s->xmm[7][0], 1.0000001);
	put_double(&s->xmm[7][1], 1.0 / 3.0);
	for (i = 8; i < 16; i++) {
		s->xmm[i][0] = 0x0123456789abcdefULL * i;
		s->xmm[i][1] = ~0x0fedcba987654321ULL * i;
	}
}

static void report_diff(const struct loop_state *a, const struct loop_state *b)
{
	unsigned int i;

	for (i = 0; i < 14; i++)
		if (a->gpr[i] != b->gpr[i])
			kpf_log("gpr[%u] %#lx != %#lx\n", i,
				a->gpr[i], b->gpr[i]);
	if (a->carry != b->carry)
		kpf_log("carry %lu != %lu\n", a->carry, b->carry);
	for (i = 0; i < 4; i++)
		if (a->red[i] != b->red[i])
			kpf_log("red[%u] %#lx != %#lx\n", i,
				a->red[i], b->red[i]);
	if (a->mxcsr != b->mxcsr)
		kpf_log("mxcsr %#x != %#x\n", a->mxcsr, b->mxcsr);
	for (i = 0; i < 16; i++)
		if (memcmp(a->xmm[i], b->xmm[i], 16))
			kpf_log("xmm%u differs\n", i);
}

FIXTURE(resume)
{
	struct kpf_test_ctx c;
};

FIXTURE_SETUP(resume)
{
	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&self->c));
}

FIXTURE_TEARDOWN(resume)
{
	if (self->c.stack)
		kpf_test_ctx_destroy(&self->c);
}

TEST_F_TIMEOUT(resume, bit_exact_under_periodic_upcalls, 300)
{
	struct loop_state run, ref;
	struct kpf_area *a = self->c.area;
	uint64_t chunks = 0, i, t0, elapsed, delivered;

	KPF_REQUIRE_DEVICE();
	init_state(&run);
	init_state(&ref);
	/* Sanity: the loop is deterministic and really changes the state. */
	kpf_resume_loop(&ref, CHUNK_ITERS);
	ASSERT_NE(0, memcmp(&run, &ref, sizeof(run)));
	init_state(&ref);

	t0 = kpf_now_ns();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0, PERIOD_NS));
	do {
		kpf_resume_loop(&run, CHUNK_ITERS);
		chunks++;
		elapsed = kpf_now_ns() - t0;
	} while (READ_ONCE(a->delivered) < MIN_DELIVERIES &&
		 elapsed < MAX_RUN_NS);
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	delivered = READ_ONCE(a->delivered);

	for (i = 0; i < chunks; i++)
		kpf_resume_loop(&ref, CHUNK_ITERS);

	kpf_log("%lu upcalls in %lu ms over %lu x %d iterations: fires %llu overruns %llu deferred %llu, %lu ns/upcall\n",
		delivered, elapsed / NSEC_PER_MSEC, chunks, CHUNK_ITERS,
		READ_ONCE(a->fires), READ_ONCE(a->overruns),
		READ_ONCE(a->deferred), elapsed / (delivered ?: 1));
	if (memcmp(&run, &ref, sizeof(run)))
		report_diff(&run, &ref);
	EXPECT_EQ(0, memcmp(&run, &ref, sizeof(run)));
	EXPECT_EQ(TEST_MXCSR, run.mxcsr & ~0x3fU);
	ASSERT_LE(MIN_DELIVERIES, delivered);
	EXPECT_EQ(delivered, kpf_test_upcall_count);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	EXPECT_EQ(0, kpf_test_entry_rflags & (X86_EFLAGS_DF | X86_EFLAGS_TF));
	EXPECT_EQ(KPF_UPCALL_IDLE, READ_ONCE(a->in_upcall));
}

TEST_HARNESS_MAIN
