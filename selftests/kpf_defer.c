// SPDX-License-Identifier: GPL-2.0
/*
 * defer and in_upcall: while area->defer is non-zero, or the frame is
 * still in use (in_upcall), a due expiry is not delivered but turned into
 * pending = 1 and counted in deferred. No expiry is lost: for one-shots
 * fires == delivered + deferred exactly; with a periodic timer an expiry
 * may also find the previous delivery still queued (an overrun).
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define WAIT_NS		(5 * NSEC_PER_SEC)

KPF_CTX_FIXTURE(defer);

/* Wait until the kernel saw a due expiry (fires) reaching @n. */
static int wait_fires(struct kpf_area *a, uint64_t n)
{
	uint64_t end = kpf_now_ns() + WAIT_NS;

	while (READ_ONCE(a->fires) < n)
		if (kpf_now_ns() > end)
			return -ETIMEDOUT;
	return 0;
}

TEST_F(defer, oneshot_deferred)
{
	struct kpf_area *a = self->c.area;
	unsigned int yields = 0;

	KPF_REQUIRE_DEVICE();
	WRITE_ONCE(a->defer, 1);
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 2 * NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, wait_fires(a, 1));
	kpf_spin_ns(10 * NSEC_PER_MSEC);
	EXPECT_EQ(0, READ_ONCE(a->delivered));
	EXPECT_EQ(0, kpf_test_upcall_count);
	EXPECT_EQ(1, READ_ONCE(a->pending));
	EXPECT_EQ(1, READ_ONCE(a->deferred));
	EXPECT_EQ(1, READ_ONCE(a->fires));
	/* A deferred one-shot is consumed: deadline cleared, timer idle. */
	EXPECT_EQ(0, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));

	/* Leaving the section: act on pending, as a library would yield. */
	WRITE_ONCE(a->defer, 0);
	if (READ_ONCE(a->pending)) {
		WRITE_ONCE(a->pending, 0);
		yields++;
	}
	EXPECT_EQ(1, yields);
	kpf_spin_ns(10 * NSEC_PER_MSEC);
	/* Nothing delivered late, nothing lost. */
	EXPECT_EQ(0, READ_ONCE(a->delivered));
	EXPECT_EQ(READ_ONCE(a->fires),
		  READ_ONCE(a->delivered) + READ_ONCE(a->deferred));

	/* Deliveries work again once defer is 0. */
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 2 * NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(0, READ_ONCE(a->pending));
	EXPECT_EQ(1, READ_ONCE(a->deferred));
	EXPECT_EQ(2, READ_ONCE(a->fires));
}

/* defer is a nesting count: any non-zero value defers. */
TEST_F(defer, nesting_count)
{
	struct kpf_area *a = self->c.area;

	KPF_REQUIRE_DEVICE();
	WRITE_ONCE(a->defer, 3);
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, wait_fires(a, 1));
	EXPECT_EQ(1, READ_ONCE(a->pending));
	EXPECT_EQ(0, READ_ONCE(a->delivered));
}

/* A frame still in use (in_upcall set) is never overwritten. */
TEST_F(defer, in_upcall_defers)
{
	struct kpf_area *a = self->c.area;
	struct kpf_frame before;

	KPF_REQUIRE_DEVICE();
	memset(&a->frame, 0x5a, sizeof(a->frame));
	before = a->frame;
	WRITE_ONCE(a->in_upcall, KPF_UPCALL_ACTIVE);
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, wait_fires(a, 1));
	kpf_spin_ns(10 * NSEC_PER_MSEC);
	EXPECT_EQ(0, READ_ONCE(a->delivered));
	EXPECT_EQ(1, READ_ONCE(a->pending));
	EXPECT_EQ(1, READ_ONCE(a->deferred));
	EXPECT_EQ(0, memcmp(&before, (void *)&a->frame, sizeof(before)));
	EXPECT_EQ(KPF_UPCALL_ACTIVE, READ_ONCE(a->in_upcall));
	WRITE_ONCE(a->in_upcall, KPF_UPCALL_IDLE);
	WRITE_ONCE(a->pending, 0);
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
}

/*
 * Periodic timer while the code toggles defer: every expiry ends up
 * either delivered or deferred, and each deferral is seen as pending.
 * A deferred periodic expiry stops the timer; acting on pending means
 * clearing it and arming again.
 */
TEST_F(defer, periodic_toggle_no_loss)
{
	struct kpf_area *a = self->c.area;
	uint64_t end, yields = 0, t;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0,
				  200 * NSEC_PER_USEC));
	end = kpf_now_ns() + 300 * NSEC_PER_MSEC;
	while ((t = kpf_now_ns()) < end) {
		/* 3 ms deferred, 3 ms open. */
		WRITE_ONCE(a->defer, (t / (3 * NSEC_PER_MSEC)) & 1);
		if (!READ_ONCE(a->defer) && READ_ONCE(a->pending)) {
			WRITE_ONCE(a->pending, 0);
			yields++;
			ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC,
						  0, 200 * NSEC_PER_USEC));
		}
	}
	/* Quiesce with defer set, so nothing is queued at DISARM. */
	WRITE_ONCE(a->defer, 1);
	kpf_spin_ns(5 * NSEC_PER_MSEC);
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	kpf_log("fires %llu delivered %llu deferred %llu yields %lu overruns %llu\n",
		READ_ONCE(a->fires), READ_ONCE(a->delivered),
		READ_ONCE(a->deferred), yields,
		READ_ONCE(a->overruns));
	EXPECT_LT(0, READ_ONCE(a->delivered));
	EXPECT_LT(0, READ_ONCE(a->deferred));
	EXPECT_LT(0, yields);
	EXPECT_EXPIRIES_ACCOUNTED(a);
	EXPECT_EQ(READ_ONCE(a->delivered), kpf_test_upcall_count);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
}

/*
 * in_upcall set and left set while the owner sleeps (a thread with many
 * contexts could do this to each): the periodic timer must not keep
 * interrupting once per period. It backs off to about one expiry per
 * second; the next ARM returns to the period.
 */
TEST_F(defer, periodic_in_upcall_stays_set)
{
	const uint64_t period = 20 * NSEC_PER_USEC;
	struct kpf_area *a = self->c.area;
	uint64_t fires;

	KPF_REQUIRE_DEVICE();
	WRITE_ONCE(a->in_upcall, KPF_UPCALL_ACTIVE);
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0, period));
	ASSERT_EQ(0, wait_fires(a, 1));
	/* Sleep: nothing the owner does acknowledges an expiry. */
	usleep(1000 * 1000);
	fires = READ_ONCE(a->fires);
	kpf_log("1 s with in_upcall set, period %llu us: fires %llu deferred %llu armed_ns %llu\n",
		(unsigned long long)(period / NSEC_PER_USEC),
		(unsigned long long)fires, READ_ONCE(a->deferred),
		READ_ONCE(a->armed_ns));
	/* 50,000 periods; doubling gaps from 20 us reach 1 s in 16 steps. */
	EXPECT_LE(fires, 40);
	EXPECT_EQ(fires, READ_ONCE(a->deferred));
	EXPECT_EQ(0, READ_ONCE(a->delivered));
	EXPECT_EQ(1, READ_ONCE(a->pending));

	/* Leaving the upcall and acting on pending: the period is back. */
	WRITE_ONCE(a->in_upcall, KPF_UPCALL_IDLE);
	WRITE_ONCE(a->pending, 0);
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0, period));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 3, WAIT_NS));
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	EXPECT_EQ(0, kpf_test_reg_mismatch);
}

TEST_HARNESS_MAIN
