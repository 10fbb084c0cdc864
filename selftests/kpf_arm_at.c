// SPDX-License-Identifier: GPL-2.0
/*
 * KPF_IOC_ARM_AT: the one-shot absolute arm with the expiry passed by
 * value. It must behave exactly like KPF_IOC_ARM with KPF_ARM_ABSOLUTE:
 * the area's deadline_ns and armed_ns, the delivery, the clamp to the
 * minimum distance, moving a queued timer, and the errors (EINVAL, ENOENT,
 * EPERM from another thread, ENOTTY for a sized or directed command).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define FAR_NS		(100 * NSEC_PER_SEC)
#define WAIT_NS		(5 * NSEC_PER_SEC)

KPF_CTX_FIXTURE(arm_at);

static int arm_at(struct kpf_test_ctx *c, uint64_t when)
{
	c->ioctls++;
	return kpf_ioctl(c->fd, KPF_IOC_ARM_AT, when);
}

TEST_F(arm_at, feature_bit)
{
	struct kpf_info info;

	ASSERT_EQ(0, kpf_test_info(self->c.fd, &info));
	EXPECT_NE(0, info.features & KPF_FEAT_ARM_AT);
}

/* The area says what ARM with KPF_ARM_ABSOLUTE would say. */
TEST_F(arm_at, area_like_arm)
{
	struct kpf_area *a = self->c.area;
	uint64_t t = kpf_now_ns() + FAR_NS;

	ASSERT_EQ(0, arm_at(&self->c, t));
	EXPECT_EQ(t, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(t, READ_ONCE(a->armed_ns));
	/* Moving the queued timer earlier and later. */
	ASSERT_EQ(0, arm_at(&self->c, t - NSEC_PER_SEC));
	EXPECT_EQ(t - NSEC_PER_SEC, READ_ONCE(a->armed_ns));
	ASSERT_EQ(0, arm_at(&self->c, t + NSEC_PER_SEC));
	EXPECT_EQ(t + NSEC_PER_SEC, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(t + NSEC_PER_SEC, READ_ONCE(a->armed_ns));
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	EXPECT_EQ(0, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	/* Then the same with KPF_IOC_ARM. */
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_ABSOLUTE, t, 0));
	EXPECT_EQ(t, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(t, READ_ONCE(a->armed_ns));
	EXPECT_EQ(0, READ_ONCE(a->fires));
}

/* It fires, once, at or after the time asked, and delivers. */
TEST_F(arm_at, delivers)
{
	struct kpf_area *a = self->c.area;
	uint64_t t = kpf_now_ns() + 2 * NSEC_PER_MSEC;

	ASSERT_EQ(0, arm_at(&self->c, t));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(t, READ_ONCE(a->expiry_ns));
	EXPECT_LE(t, READ_ONCE(a->irq_ns));
	EXPECT_EQ(1, READ_ONCE(a->fires));
	EXPECT_EQ(1, READ_ONCE(a->delivered));
	EXPECT_EQ(0, READ_ONCE(a->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	/* Armed once, fired once: nothing else queued. */
	kpf_spin_ns(20 * NSEC_PER_MSEC);
	EXPECT_EQ(1, READ_ONCE(a->fires));
}

/*
 * A time in the past is moved out to the minimum distance from now, and
 * the area's deadline keeps the time asked for (as ARM does). A minimum of
 * one second (the largest the parameters take) leaves the timer queued
 * while the test looks.
 */
TEST_F(arm_at, past_is_clamped)
{
	uint64_t cap = kpf_param("min_period_cap_ns");
	uint64_t unpriv = kpf_param("min_period_ns");
	uint64_t before, armed;

	ASSERT_NE(UINT64_MAX, cap);
	ASSERT_NE(UINT64_MAX, unpriv);
	ASSERT_EQ(0, kpf_set_param("min_period_cap_ns", NSEC_PER_SEC));
	EXPECT_EQ(0, kpf_set_param("min_period_ns", NSEC_PER_SEC));
	before = kpf_now_ns();
	EXPECT_EQ(0, arm_at(&self->c, 1));
	armed = READ_ONCE(self->c.area->armed_ns);
	EXPECT_EQ(1, READ_ONCE(self->c.area->deadline_ns));
	EXPECT_LE(before + NSEC_PER_SEC, armed);
	EXPECT_GE(kpf_now_ns() + NSEC_PER_SEC, armed);
	EXPECT_EQ(0, kpf_test_disarm(&self->c));
	EXPECT_EQ(0, kpf_set_param("min_period_ns", unpriv));
	EXPECT_EQ(0, kpf_set_param("min_period_cap_ns", cap));
}

TEST_F(arm_at, bad_values)
{
	EXPECT_EQ(-EINVAL, arm_at(&self->c, 0));
	EXPECT_EQ(-EINVAL, arm_at(&self->c, 1ULL << 63));
	EXPECT_EQ(-EINVAL, arm_at(&self->c, ~0ULL));
	EXPECT_EQ(0, READ_ONCE(self->c.area->armed_ns));
}

/* Not a structure command: any size or direction is another command. */
TEST_F(arm_at, sized_or_directed_is_enotty)
{
	uint64_t t = kpf_now_ns() + FAR_NS;

	EXPECT_EQ(-ENOTTY, kpf_ioctl(self->c.fd,
				     KPF_IOC_SIZED(KPF_IOC_ARM_AT, 8), t));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(self->c.fd,
				     _IOW(KPF_IOC_MAGIC, 5, uint64_t),
				     (uintptr_t)&t));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(self->c.fd, _IO(KPF_IOC_MAGIC, 6), t));
	EXPECT_EQ(0, READ_ONCE(self->c.area->armed_ns));
}

TEST_F(arm_at, unregistered_enoent)
{
	ASSERT_EQ(0, kpf_test_unregister(&self->c));
	EXPECT_EQ(-ENOENT, arm_at(&self->c, kpf_now_ns() + FAR_NS));
	/* and the arguments are still checked first */
	EXPECT_EQ(-EINVAL, arm_at(&self->c, 0));
}

static void *other_thread(void *arg)
{
	struct kpf_test_ctx *c = arg;

	return (void *)(intptr_t)kpf_ioctl(c->fd, KPF_IOC_ARM_AT,
					   kpf_now_ns() + NSEC_PER_MSEC);
}

TEST_F(arm_at, other_thread_eperm)
{
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, pthread_create(&t, NULL, other_thread, &self->c));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(-EPERM, (int)(intptr_t)ret);
	EXPECT_EQ(0, READ_ONCE(self->c.area->armed_ns));
	EXPECT_EQ(0, READ_ONCE(self->c.area->fires));
}

TEST_HARNESS_MAIN
