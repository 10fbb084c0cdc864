// SPDX-License-Identifier: GPL-2.0
/*
 * KPF_ARM_LINGER: a one-shot timer that finds no deadline (the thread went
 * idle) or has just fired stays queued linger_ns ahead, at most linger_max
 * times in a row, so the next deadline stored at least linger_ns ahead is
 * a plain store: armed_ns is non-zero and not later than it, and the
 * upcall comes with no further ioctl. Without the flag the same store
 * after an idle gap finds armed_ns == 0 and needs KPF_IOC_ARM (issue 10:
 * the pool's "no system call per switch" fraction was 53-71%).
 *
 * Lingering ends like any timer: DISARM, close, the owner's exit. Every
 * bad linger argument is EINVAL.
 *
 * Steps are 20 ms: a loaded host can stall a vCPU for milliseconds, and
 * the assertions only rely on the order of events, not their spacing.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define STEP_NS		(20 * NSEC_PER_MSEC)
#define WAIT_NS		(10 * NSEC_PER_SEC)

static int arm_linger(struct kpf_test_ctx *c, uint32_t flags, uint64_t value,
		      uint64_t linger_ns, uint32_t linger_max)
{
	struct kpf_arm arm;

	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = flags;
	arm.value_ns = value;
	arm.linger_ns = linger_ns;
	arm.linger_max = linger_max;
	c->ioctls++;
	return kpf_ioctl(c->fd, KPF_IOC_ARM, (uintptr_t)&arm);
}

/* Store a deadline the way the ABI says: a full barrier, then armed_ns. */
static uint64_t store_deadline(struct kpf_area *a, uint64_t d)
{
	__atomic_exchange_n(&a->deadline_ns, d, __ATOMIC_SEQ_CST);
	return READ_ONCE(a->armed_ns);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC };

	while (nanosleep(&ts, &ts))
		;
}

/* Sleep (idle, in the kernel) until *@p reaches @n; -ETIMEDOUT if not. */
static int idle_until(const __u64 *p, uint64_t n)
{
	uint64_t end = kpf_now_ns() + WAIT_NS;

	while (READ_ONCE(*p) < n) {
		if (kpf_now_ns() > end)
			return -ETIMEDOUT;
		sleep_ns(NSEC_PER_MSEC);
	}
	return 0;
}

FIXTURE(linger)
{
	struct kpf_test_ctx c;
	uint64_t min_ns;
};

FIXTURE_SETUP(linger)
{
	struct kpf_info info;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&self->c));
	ASSERT_EQ(0, kpf_test_info(self->c.fd, &info));
	ASSERT_TRUE(info.features & KPF_FEAT_LINGER);
	self->min_ns = info.min_period_ns;
	ASSERT_GT(STEP_NS / 4, self->min_ns);
	self->c.ioctls = 0;	/* count from here on */
}

FIXTURE_TEARDOWN(linger)
{
	if (self->c.stack)
		kpf_test_ctx_destroy(&self->c);
}

/*
 * The reproducer: a task returns early (deadline 0), the thread sleeps
 * longer than the queued expiry, then the next task stores its deadline.
 * Without lingering the timer has stopped: armed_ns == 0, ARM needed.
 */
TEST_F(linger, without_linger_idle_gap_needs_arm)
{
	struct kpf_area *a = self->c.area;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, STEP_NS, 0));
	store_deadline(a, 0);
	sleep_ns(3 * STEP_NS);
	EXPECT_EQ(0, store_deadline(a, kpf_now_ns() + STEP_NS));
	EXPECT_EQ(0, READ_ONCE(a->lingers));
}

/* The same with KPF_ARM_LINGER: the store alone brings the upcall. */
TEST_F(linger, store_after_idle_gap_needs_no_arm)
{
	struct kpf_area *a = self->c.area;
	uint64_t d, armed;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				50));
	store_deadline(a, 0);
	/* Idle across at least two expiries that found no deadline. */
	ASSERT_EQ(0, idle_until(&a->lingers, 2));
	d = kpf_now_ns() + STEP_NS;
	armed = store_deadline(a, d);
	EXPECT_NE(0, armed);
	EXPECT_GE(d, armed);
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(1, self->c.ioctls);
	EXPECT_EQ(d, READ_ONCE(a->expiry_ns));
	EXPECT_EQ(1, READ_ONCE(a->fires));
	EXPECT_EQ(1, kpf_test_upcall_count);
	EXPECT_EXPIRIES_ACCOUNTED(a);
}

/* After a delivery (a preemption) the timer lingers too. */
TEST_F(linger, store_after_fire_needs_no_arm)
{
	struct kpf_area *a = self->c.area;
	uint64_t d, armed;
	int i;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				50));
	for (i = 1; i <= 3; i++) {
		ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, i, WAIT_NS));
		d = kpf_now_ns() + STEP_NS;
		armed = store_deadline(a, d);
		EXPECT_NE(0, armed);
		EXPECT_GE(d, armed);
	}
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 4, WAIT_NS));
	EXPECT_EQ(1, self->c.ioctls);
	EXPECT_EQ(d, READ_ONCE(a->expiry_ns));
	EXPECT_EQ(4, READ_ONCE(a->fires));
	EXPECT_EXPIRIES_ACCOUNTED(a);
}

/*
 * An idle thread costs exactly linger_max interrupts, then none: the
 * timer stops as it did without the flag.
 */
TEST_F(linger, bounded)
{
	struct kpf_area *a = self->c.area;
	uint64_t step = STEP_NS / 4, global0 = kpf_counter("lingers");

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, step, step, 5));
	store_deadline(a, 0);
	ASSERT_EQ(0, idle_until(&a->lingers, 5));
	/* The expiry after the fifth finds 0 again and stops. */
	sleep_ns(3 * step);
	while (READ_ONCE(a->armed_ns))
		sleep_ns(step);
	sleep_ns(5 * step);
	EXPECT_EQ(5, READ_ONCE(a->lingers));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	EXPECT_EQ(0, READ_ONCE(a->fires));
	EXPECT_LE(global0 + 5, kpf_counter("lingers"));
	/* Now a store needs ARM again. */
	EXPECT_EQ(0, store_deadline(a, kpf_now_ns() + STEP_NS));
}

/*
 * A deadline found starts the count again: 2 lingering expiries before the
 * store (maybe 3), then the fire and 3 more. Without the restart there
 * could be at most 3 in all.
 */
TEST_F(linger, count_restarts)
{
	struct kpf_area *a = self->c.area;
	uint64_t armed;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				3));
	store_deadline(a, 0);
	ASSERT_EQ(0, idle_until(&a->lingers, 2));
	armed = store_deadline(a, kpf_now_ns() + STEP_NS);
	/* Two more steps would have had to pass: a stalled vCPU. */
	if (!armed)
		SKIP(return, "the timer stopped before the store (stalled host)");
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	ASSERT_EQ(0, idle_until(&a->lingers, 5));
	while (READ_ONCE(a->armed_ns))
		sleep_ns(STEP_NS);
	sleep_ns(2 * STEP_NS);
	EXPECT_LE(5, READ_ONCE(a->lingers));
	EXPECT_GE(6, READ_ONCE(a->lingers));
	EXPECT_EQ(1, self->c.ioctls);
}

/* DISARM ends lingering at once, and a plain ARM turns it off. */
TEST_F(linger, disarm_and_plain_arm_stop_it)
{
	struct kpf_area *a = self->c.area;
	uint64_t n;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				KPF_MAX_LINGER));
	store_deadline(a, 0);
	ASSERT_EQ(0, idle_until(&a->lingers, 1));
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	n = READ_ONCE(a->lingers);
	sleep_ns(3 * STEP_NS);
	EXPECT_EQ(n, READ_ONCE(a->lingers));

	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				KPF_MAX_LINGER));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, STEP_NS, 0));
	store_deadline(a, 0);
	sleep_ns(3 * STEP_NS);
	EXPECT_EQ(n, READ_ONCE(a->lingers));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
}

/* close() stops a lingering timer (no context is left to count it). */
TEST_F(linger, close_stops_it)
{
	struct kpf_area *a = self->c.area;
	uint64_t global;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, arm_linger(&self->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				KPF_MAX_LINGER));
	store_deadline(a, 0);
	ASSERT_EQ(0, idle_until(&a->lingers, 1));
	close(self->c.fd);
	self->c.fd = -1;
	global = kpf_counter("lingers");
	ASSERT_NE(UINT64_MAX, global);
	sleep_ns(4 * STEP_NS);
	EXPECT_EQ(global, kpf_counter("lingers"));
}

struct owner {
	struct kpf_test_ctx c;
	int err;
};

static void *linger_owner(void *arg)
{
	struct owner *o = arg;

	o->err = kpf_test_ctx_setup(&o->c);
	if (!o->err)
		o->err = arm_linger(&o->c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				    KPF_MAX_LINGER);
	if (!o->err) {
		store_deadline(o->c.area, 0);
		o->err = idle_until(&o->c.area->lingers, 1);
	}
	return NULL;
}

/* The owner exits with the file still open: the timer stops for good. */
TEST(owner_exit_stops_it)
{
	struct owner o;
	pthread_t t;
	uint64_t n;

	KPF_REQUIRE_DEVICE();
	memset(&o, 0, sizeof(o));
	ASSERT_EQ(0, pthread_create(&t, NULL, linger_owner, &o));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, o.err);
	/* At most the expiry already queued runs, and finds the owner gone. */
	sleep_ns(2 * STEP_NS);
	n = READ_ONCE(o.c.area->lingers);
	sleep_ns(4 * STEP_NS);
	EXPECT_EQ(n, READ_ONCE(o.c.area->lingers));
	EXPECT_EQ(0, READ_ONCE(o.c.area->armed_ns));
	kpf_test_ctx_destroy(&o.c);
}

/* Every bad linger argument is EINVAL; the old-size caller is unaffected. */
TEST_F(linger, bad_args)
{
	struct kpf_test_ctx *c = &self->c;
	uint64_t min = self->min_ns;
	struct kpf_arm arm;

	KPF_REQUIRE_DEVICE();
	/* Linger fields without the flag. */
	EXPECT_EQ(-EINVAL, arm_linger(c, 0, STEP_NS, STEP_NS, 0));
	EXPECT_EQ(-EINVAL, arm_linger(c, 0, STEP_NS, 0, 1));
	/* The flag with a bad count or distance. */
	EXPECT_EQ(-EINVAL, arm_linger(c, KPF_ARM_LINGER, STEP_NS, STEP_NS, 0));
	EXPECT_EQ(-EINVAL, arm_linger(c, KPF_ARM_LINGER, STEP_NS, STEP_NS,
				      KPF_MAX_LINGER + 1));
	EXPECT_EQ(-EINVAL, arm_linger(c, KPF_ARM_LINGER, STEP_NS, 0, 1));
	EXPECT_EQ(-EINVAL, arm_linger(c, KPF_ARM_LINGER, STEP_NS, min - 1, 1));
	EXPECT_EQ(-EINVAL, arm_linger(c, KPF_ARM_LINGER, STEP_NS,
				      KPF_MAX_PERIOD_NS + 1, 1));
	/* Only one-shot timers linger. */
	EXPECT_EQ(-EINVAL, arm_linger(c, KPF_ARM_LINGER | KPF_ARM_PERIODIC,
				      0, STEP_NS, 1));
	/* reserved1 stays reserved. */
	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = KPF_ARM_LINGER;
	arm.value_ns = STEP_NS;
	arm.linger_ns = STEP_NS;
	arm.linger_max = 1;
	arm.reserved1 = 1;
	EXPECT_EQ(-EINVAL, kpf_ioctl(c->fd, KPF_IOC_ARM, (uintptr_t)&arm));
	/* A first-version caller cannot pass linger_max: the flag is EINVAL. */
	arm.reserved1 = 0;
	arm.size = KPF_ARM_SIZE_VER0;
	EXPECT_EQ(-EINVAL, kpf_ioctl(c->fd,
				     KPF_IOC_SIZED(KPF_IOC_ARM,
						   KPF_ARM_SIZE_VER0),
				     (uintptr_t)&arm));
	/* Nothing above armed anything. */
	EXPECT_EQ(0, READ_ONCE(c->area->armed_ns));
	/* The limits themselves are accepted. */
	EXPECT_EQ(0, arm_linger(c, KPF_ARM_LINGER, STEP_NS, min, 1));
	EXPECT_EQ(0, arm_linger(c, KPF_ARM_LINGER, STEP_NS,
				KPF_MAX_PERIOD_NS, KPF_MAX_LINGER));
	EXPECT_EQ(0, kpf_test_disarm(c));
	/* The first version's ARM still works, without lingering. */
	arm.flags = 0;
	arm.linger_ns = 0;
	arm.linger_max = 0;
	EXPECT_EQ(0, kpf_ioctl(c->fd, KPF_IOC_SIZED(KPF_IOC_ARM,
						     KPF_ARM_SIZE_VER0),
			       (uintptr_t)&arm));
	store_deadline(c->area, 0);
	sleep_ns(3 * STEP_NS);
	EXPECT_EQ(0, READ_ONCE(c->area->lingers));
	EXPECT_EQ(0, READ_ONCE(c->area->armed_ns));
}

TEST_HARNESS_MAIN
