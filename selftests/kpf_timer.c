// SPDX-License-Identifier: GPL-2.0
/*
 * One-shot (relative, absolute, past, clamped), re-arm, disarm and
 * periodic timers: each delivers, with expiry_ns <= irq_ns <= deliver_ns,
 * expiry_ns equal to the requested expiry, and periodic overruns counted
 * while the thread blocks. Prints delivery latency percentiles.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define WAIT_NS		(5 * NSEC_PER_SEC)
/*
 * Far enough that a vCPU stall on a loaded host does not let the timer
 * expire before the test has looked at the armed state.
 */
#define FAR_NS		(100 * NSEC_PER_MSEC)

FIXTURE(timer)
{
	struct kpf_test_ctx c;
	uint64_t min_period;
};

FIXTURE_SETUP(timer)
{
	struct kpf_info info;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&self->c));
	ASSERT_EQ(0, kpf_test_info(self->c.fd, &info));
	self->min_period = info.min_period_ns;
}

FIXTURE_TEARDOWN(timer)
{
	if (self->c.stack)
		kpf_test_ctx_destroy(&self->c);
}

/* The invariants of one delivered upcall with intended expiry @expiry. */
#define CHECK_ONE_DELIVERY(a, expiry) do {				\
	EXPECT_EQ(1, READ_ONCE((a)->delivered));			\
	EXPECT_EQ(1, READ_ONCE((a)->fires));				\
	EXPECT_EQ(0, READ_ONCE((a)->deferred));				\
	EXPECT_EQ((expiry), READ_ONCE((a)->expiry_ns));			\
	EXPECT_LE(READ_ONCE((a)->expiry_ns), READ_ONCE((a)->irq_ns));	\
	EXPECT_LE(READ_ONCE((a)->irq_ns), READ_ONCE((a)->deliver_ns));	\
	EXPECT_GE(kpf_now_ns(), READ_ONCE((a)->deliver_ns));		\
	EXPECT_EQ(0, READ_ONCE((a)->deadline_ns));			\
	EXPECT_EQ(0, READ_ONCE((a)->armed_ns));				\
	EXPECT_EQ(1, kpf_test_upcall_count);				\
	EXPECT_EQ(0, kpf_test_reg_mismatch);				\
} while (0)

TEST_F(timer, oneshot_relative)
{
	struct kpf_area *a = self->c.area;
	uint64_t t0, t1, d;

	KPF_REQUIRE_DEVICE();
	t0 = kpf_now_ns();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FAR_NS, 0));
	t1 = kpf_now_ns();
	d = READ_ONCE(a->deadline_ns);
	/* The kernel turned the relative time into the absolute deadline. */
	EXPECT_LE(t0 + FAR_NS, d);
	EXPECT_GE(t1 + FAR_NS, d);
	EXPECT_EQ(d, READ_ONCE(a->armed_ns));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	CHECK_ONE_DELIVERY(a, d);
}

TEST_F(timer, oneshot_absolute)
{
	struct kpf_area *a = self->c.area;
	uint64_t t = kpf_now_ns() + FAR_NS;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_ABSOLUTE, t, 0));
	EXPECT_EQ(t, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(t, READ_ONCE(a->armed_ns));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	CHECK_ONE_DELIVERY(a, t);
}

/* A deadline already in the past is delivered right away, not refused. */
TEST_F(timer, oneshot_absolute_past)
{
	struct kpf_area *a = self->c.area;
	uint64_t t0 = kpf_now_ns(), t = t0 - NSEC_PER_MSEC;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_ABSOLUTE, t, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(1, READ_ONCE(a->delivered));
	EXPECT_LE(t, READ_ONCE(a->expiry_ns));
	EXPECT_LE(READ_ONCE(a->expiry_ns), READ_ONCE(a->irq_ns));
	EXPECT_LE(READ_ONCE(a->irq_ns), READ_ONCE(a->deliver_ns));
	/* Clamped to now + the minimum distance, never earlier. */
	EXPECT_LE(t0 + self->min_period, READ_ONCE(a->irq_ns));
	EXPECT_EQ(0, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
}

/* A relative time below the minimum distance is clamped, not refused. */
TEST_F(timer, oneshot_clamped)
{
	struct kpf_area *a = self->c.area;
	uint64_t t0 = kpf_now_ns();

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 1, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(1, READ_ONCE(a->delivered));
	EXPECT_LE(t0 + self->min_period, READ_ONCE(a->irq_ns));
	EXPECT_LE(t0 + 1, READ_ONCE(a->expiry_ns));
	EXPECT_LE(READ_ONCE(a->irq_ns), READ_ONCE(a->deliver_ns));
}

/* ARM replaces the previous timer in both directions. */
TEST_F(timer, arm_replaces)
{
	struct kpf_area *a = self->c.area;
	uint64_t d;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 10 * NSEC_PER_SEC, 0));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 5 * NSEC_PER_MSEC, 0));
	d = READ_ONCE(a->deadline_ns);
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(d, READ_ONCE(a->expiry_ns));
	kpf_spin_ns(30 * NSEC_PER_MSEC);
	EXPECT_EQ(1, READ_ONCE(a->delivered));

	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FAR_NS, 0));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 10 * NSEC_PER_SEC, 0));
	kpf_spin_ns(FAR_NS + 30 * NSEC_PER_MSEC);
	EXPECT_EQ(1, READ_ONCE(a->delivered));
	EXPECT_EQ(1, READ_ONCE(a->fires));
	EXPECT_EQ(0, kpf_test_disarm(&self->c));
}

TEST_F(timer, disarm)
{
	struct kpf_area *a = self->c.area;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FAR_NS, 0));
	EXPECT_NE(0, READ_ONCE(a->armed_ns));
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	EXPECT_EQ(0, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	kpf_spin_ns(FAR_NS + 30 * NSEC_PER_MSEC);
	EXPECT_EQ(0, READ_ONCE(a->fires));
	EXPECT_EQ(0, READ_ONCE(a->delivered));
	EXPECT_EQ(0, kpf_test_upcall_count);
	/* Disarming an idle context is fine. */
	EXPECT_EQ(0, kpf_test_disarm(&self->c));
	/* Periodic too. */
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0,
				  NSEC_PER_MSEC));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 2, WAIT_NS));
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	{
		uint64_t n = READ_ONCE(a->delivered);

		kpf_spin_ns(20 * NSEC_PER_MSEC);
		EXPECT_EQ(n, READ_ONCE(a->delivered));
	}
}

/*
 * Stop a periodic timer so that every expiry is accounted for: with defer
 * set, expiries become deferred instead of queued, and after a while in
 * user mode nothing can still be queued when DISARM runs.
 */
static int stop_periodic(struct kpf_test_ctx *c)
{
	WRITE_ONCE(c->area->defer, 1);
	kpf_spin_ns(5 * NSEC_PER_MSEC);
	return kpf_test_disarm(c);
}

#define PERIOD		NSEC_PER_MSEC
#define RUN_NS		(200 * NSEC_PER_MSEC)

TEST_F(timer, periodic_absolute)
{
	struct kpf_area *a = self->c.area;
	uint64_t t0 = kpf_now_ns() + 20 * PERIOD, end, seen = 0, bad = 0;
	uint64_t first = 0, last = 0, base, n, armed_at;
	uint64_t grid[RUN_NS / PERIOD];
	unsigned int i, nr = 0;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_ABSOLUTE | KPF_ARM_PERIODIC,
				  t0, PERIOD));
	armed_at = kpf_now_ns();
	/* The deadline field is ignored in periodic mode. */
	WRITE_ONCE(a->deadline_ns, 0);
	end = t0 + RUN_NS;
	while (kpf_now_ns() < end) {
		n = READ_ONCE(a->delivered);
		if (n != seen) {
			last = READ_ONCE(a->expiry_ns);
			if (!first)
				first = last;
			if (nr < RUN_NS / PERIOD)
				grid[nr++] = last;
			seen = n;
		}
	}
	ASSERT_EQ(0, stop_periodic(&self->c));
	kpf_log("periodic 1 ms for 200 ms: fires %llu delivered %llu deferred %llu overruns %llu, first expiry t0 + %lu ns\n",
		READ_ONCE(a->fires), READ_ONCE(a->delivered),
		READ_ONCE(a->deferred), READ_ONCE(a->overruns), first - t0);
	/*
	 * Expiries sit on the grid t0 + k * period. If the vCPU stalled
	 * so long that ARM ran after t0, the first expiry was clamped to
	 * "now" and the grid starts there instead.
	 */
	base = armed_at + NSEC_PER_USEC < t0 ? t0 : first;
	for (i = 0; i < nr; i++)
		if (grid[i] < base || (grid[i] - base) % PERIOD)
			bad++;
	EXPECT_EQ(0, bad);
	/*
	 * Normally t0 itself; a stalled vCPU can make the first callback
	 * late, and then the latest due period is the one delivered.
	 */
	EXPECT_LE(t0, first);
	EXPECT_GT(t0 + 50 * PERIOD, first);
	/* Deliveries kept coming until the end (give or take a stall). */
	EXPECT_LE(end - 50 * PERIOD, last);
	EXPECT_GE(kpf_now_ns(), last);
	/* Generous: TCG timers lag, but most periods must get through. */
	EXPECT_LE(RUN_NS / PERIOD / 4, READ_ONCE(a->delivered));
	EXPECT_GE(RUN_NS / PERIOD + 10, READ_ONCE(a->fires));
	EXPECT_EXPIRIES_ACCOUNTED(a);
	/* At most one fire or missed period per period. */
	EXPECT_GE((kpf_now_ns() - t0) / PERIOD + 1,
		  READ_ONCE(a->delivered) + READ_ONCE(a->deferred) +
		  READ_ONCE(a->overruns));
	EXPECT_EQ(READ_ONCE(a->delivered), kpf_test_upcall_count);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
}

/* value_ns == 0: the first expiry is one period after ARM. */
TEST_F(timer, periodic_relative_first_period)
{
	struct kpf_area *a = self->c.area;
	uint64_t t0 = kpf_now_ns(), period = 10 * NSEC_PER_MSEC;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0, period));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_LE(t0 + period, READ_ONCE(a->expiry_ns));
	EXPECT_GE(kpf_now_ns(), READ_ONCE(a->expiry_ns));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 3, WAIT_NS));
	ASSERT_EQ(0, stop_periodic(&self->c));
	EXPECT_EXPIRIES_ACCOUNTED(a);
}

/* Blocked in a syscall through many periods: one delivery, overruns. */
TEST_F(timer, periodic_overruns_while_blocked)
{
	struct kpf_area *a = self->c.area;
	struct timespec ts = { 0, 30 * NSEC_PER_MSEC };
	uint64_t t0, t1;

	KPF_REQUIRE_DEVICE();
	t0 = kpf_now_ns();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0, PERIOD));
	ASSERT_EQ(0, nanosleep(&ts, NULL));
	EXPECT_LE(t0 + 30 * NSEC_PER_MSEC, kpf_now_ns());
	ASSERT_EQ(0, stop_periodic(&self->c));
	t1 = kpf_now_ns();
	kpf_log("%lu us armed (30 ms asleep), 1 ms period: fires %llu delivered %llu deferred %llu overruns %llu\n",
		(t1 - t0) / NSEC_PER_USEC, READ_ONCE(a->fires),
		READ_ONCE(a->delivered), READ_ONCE(a->deferred),
		READ_ONCE(a->overruns));
	EXPECT_LE(1, READ_ONCE(a->delivered));
	/* ~29 periods passed while one delivery was queued. */
	EXPECT_LE(10, READ_ONCE(a->overruns));
	EXPECT_EXPIRIES_ACCOUNTED(a);
	/*
	 * Every period is one fire or one missed period, and an overrun is
	 * either of those: the counts cannot exceed the periods elapsed.
	 */
	EXPECT_GE((t1 - t0) / PERIOD + 1,
		  READ_ONCE(a->delivered) + READ_ONCE(a->deferred) +
		  READ_ONCE(a->overruns));
}

#define LAT_SAMPLES	300

TEST_F(timer, oneshot_latency)
{
	static uint64_t total[LAT_SAMPLES], irq[LAT_SAMPLES], work[LAT_SAMPLES];
	struct kpf_area *a = self->c.area;
	unsigned int i, order_bad = 0;

	KPF_REQUIRE_DEVICE();
	for (i = 0; i < LAT_SAMPLES; i++) {
		uint64_t e, q, d;

		ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 100 * NSEC_PER_USEC, 0));
		ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, i + 1, WAIT_NS));
		e = READ_ONCE(a->expiry_ns);
		q = READ_ONCE(a->irq_ns);
		d = READ_ONCE(a->deliver_ns);
		if (!(e <= q && q <= d)) {
			order_bad++;
			continue;
		}
		total[i] = d - e;
		irq[i] = q - e;
		work[i] = d - q;
	}
	EXPECT_EQ(0, order_bad);
	EXPECT_EQ(LAT_SAMPLES, READ_ONCE(a->delivered));
	EXPECT_EQ(LAT_SAMPLES, READ_ONCE(a->fires));
	kpf_log("one-shot latency over %d upcalls (ns): expiry->deliver p50 %lu p99 %lu; expiry->irq p50 %lu p99 %lu; irq->deliver p50 %lu p99 %lu\n",
		LAT_SAMPLES,
		kpf_percentile(total, LAT_SAMPLES, 50),
		kpf_percentile(total, LAT_SAMPLES, 99),
		kpf_percentile(irq, LAT_SAMPLES, 50),
		kpf_percentile(irq, LAT_SAMPLES, 99),
		kpf_percentile(work, LAT_SAMPLES, 50),
		kpf_percentile(work, LAT_SAMPLES, 99));
}

TEST_HARNESS_MAIN
