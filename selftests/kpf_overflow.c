// SPDX-License-Identifier: GPL-2.0
/*
 * Expiries beyond KTIME_MAX. As a ktime_t, a time of 2^63 ns or more is
 * negative: an hrtimer restarted there is already expired and its callback
 * runs again at once, forever, in hardirq (one CPU lost, then the guest).
 * A user-written deadline above INT64_MAX must therefore mean "never", and
 * an ARM whose periodic first expiry lands there must fail with EINVAL.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define WAIT_NS		(5 * NSEC_PER_SEC)

FIXTURE(overflow)
{
	struct kpf_test_ctx c;
};

FIXTURE_SETUP(overflow)
{
	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&self->c));
}

FIXTURE_TEARDOWN(overflow)
{
	if (self->c.area)
		WRITE_ONCE(self->c.area->in_upcall, KPF_UPCALL_IDLE);
	if (self->c.stack)
		kpf_test_ctx_destroy(&self->c);
}

/* Postpone a queued one-shot to @deadline, as user space does with a store. */
static void postpone_to(struct kpf_test_ctx *c, uint64_t deadline)
{
	__atomic_store_n(&c->area->deadline_ns, deadline, __ATOMIC_SEQ_CST);
}

static int wait_rearms(struct kpf_area *a, uint64_t n)
{
	uint64_t end = kpf_now_ns() + WAIT_NS;

	while (READ_ONCE(a->rearms) < n)
		if (kpf_now_ns() > end)
			return -ETIMEDOUT;
	return 0;
}

TEST_F(overflow, deadline_beyond_int64_max_is_never)
{
	static const uint64_t huge[] = { 1ULL << 63, UINT64_MAX };
	struct kpf_area *a = self->c.area;
	unsigned int i;

	KPF_REQUIRE_DEVICE();
	for (i = 0; i < 2; i++) {
		/* Far enough that the store is surely first. */
		ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 50 * NSEC_PER_MSEC, 0));
		postpone_to(&self->c, huge[i]);
		/* The expiry moves the timer to the stored deadline... */
		ASSERT_EQ(0, wait_rearms(a, i + 1));
		kpf_spin_ns(20 * NSEC_PER_MSEC);
		kpf_log("deadline %#llx: fires %llu rearms %llu armed_ns %#llx\n",
			(unsigned long long)huge[i], READ_ONCE(a->fires),
			READ_ONCE(a->rearms), READ_ONCE(a->armed_ns));
		/* ...which is never: no expiry, no upcall, no storm. */
		EXPECT_EQ(0, READ_ONCE(a->fires));
		EXPECT_EQ(0, READ_ONCE(a->delivered));
		EXPECT_EQ(i + 1, READ_ONCE(a->rearms));
		EXPECT_EQ((uint64_t)INT64_MAX, READ_ONCE(a->armed_ns));
		EXPECT_EQ(huge[i], READ_ONCE(a->deadline_ns));
	}
	/* An earlier deadline still works: ARM, as the protocol says. */
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(1, READ_ONCE(a->fires));
}

TEST_F(overflow, periodic_first_expiry_bounded)
{
	struct kpf_area *a = self->c.area;
	uint64_t now;

	KPF_REQUIRE_DEVICE();
	/* Deferred expiries must not turn into deliveries meanwhile. */
	WRITE_ONCE(a->in_upcall, KPF_UPCALL_ACTIVE);
	/* value 1 ns is below the minimum: moved by one whole period. */
	EXPECT_EQ(-EINVAL, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 1,
					INT64_MAX));
	EXPECT_EQ(-EINVAL, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 1,
					KPF_MAX_PERIOD_NS + 1));
	EXPECT_EQ(-EINVAL, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0,
					KPF_MAX_PERIOD_NS + 1));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	/* The longest period is accepted, and its first expiry is sane. */
	now = kpf_now_ns();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 1,
				  KPF_MAX_PERIOD_NS));
	EXPECT_GE(READ_ONCE(a->armed_ns), now + KPF_MAX_PERIOD_NS);
	EXPECT_LE(READ_ONCE(a->armed_ns),
		  kpf_now_ns() + KPF_MAX_PERIOD_NS + NSEC_PER_SEC);
	kpf_spin_ns(20 * NSEC_PER_MSEC);
	EXPECT_EQ(0, READ_ONCE(a->fires));
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
}

TEST_HARNESS_MAIN
