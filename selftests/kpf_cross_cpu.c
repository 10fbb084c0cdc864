// SPDX-License-Identifier: GPL-2.0
/*
 * The timer is pinned to the CPU that armed it; the thread may run
 * elsewhere when it expires. Delivery must still happen (the module kicks
 * the other CPU), also while the thread migrates back and forth.
 */
#define _GNU_SOURCE
#include <sched.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define WAIT_NS		(5 * NSEC_PER_SEC)

static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

KPF_CTX_FIXTURE(xcpu);

#define NEED_TWO_CPUS() do {						\
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)				\
		SKIP(return, "needs 2 CPUs (icount guests have 1)");	\
} while (0)

TEST_F(xcpu, arm_on_1_run_on_0)
{
	struct kpf_area *a = self->c.area;
	uint64_t d;

	KPF_REQUIRE_DEVICE();
	NEED_TWO_CPUS();
	ASSERT_EQ(0, pin_to(1));
	ASSERT_EQ(1, sched_getcpu());
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 20 * NSEC_PER_MSEC, 0));
	d = READ_ONCE(a->deadline_ns);
	ASSERT_EQ(0, pin_to(0));
	ASSERT_EQ(0, sched_getcpu());
	/* Spin in user mode on CPU 0: only a kick gets the upcall in. */
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(0, sched_getcpu());
	EXPECT_EQ(d, READ_ONCE(a->expiry_ns));
	EXPECT_LE(READ_ONCE(a->irq_ns), READ_ONCE(a->deliver_ns));
	EXPECT_EQ(1, kpf_test_upcall_count);
	kpf_log("cross-CPU irq->deliver %llu ns\n",
		READ_ONCE(a->deliver_ns) - READ_ONCE(a->irq_ns));
}

#define KICK_SAMPLES	50

/*
 * Expiry on CPU 1 while the thread spins in user mode on CPU 0: only an
 * IPI (kick_process) gets it into the kernel before the next tick. Prints
 * irq->deliver percentiles; a p50 near the tick period means no kick.
 */
TEST_F(xcpu, remote_kick_latency)
{
	static uint64_t lat[KICK_SAMPLES];
	struct kpf_area *a = self->c.area;
	unsigned int i;

	KPF_REQUIRE_DEVICE();
	NEED_TWO_CPUS();
	for (i = 0; i < KICK_SAMPLES; i++) {
		ASSERT_EQ(0, pin_to(1));
		ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 20 * NSEC_PER_MSEC, 0));
		ASSERT_EQ(0, pin_to(0));
		ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, i + 1, WAIT_NS));
		lat[i] = READ_ONCE(a->deliver_ns) - READ_ONCE(a->irq_ns);
	}
	kpf_log("remote irq->deliver over %d upcalls (ns): p50 %lu p90 %lu p99 %lu\n",
		KICK_SAMPLES, kpf_percentile(lat, KICK_SAMPLES, 50),
		kpf_percentile(lat, KICK_SAMPLES, 90),
		kpf_percentile(lat, KICK_SAMPLES, 99));
	EXPECT_EQ(KICK_SAMPLES, READ_ONCE(a->delivered));
}

TEST_F(xcpu, arm_on_0_sleep_wake_on_1)
{
	struct timespec ts = { 0, 30 * NSEC_PER_MSEC };

	KPF_REQUIRE_DEVICE();
	NEED_TWO_CPUS();
	ASSERT_EQ(0, pin_to(0));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, 5 * NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, pin_to(1));
	/* Expires on CPU 0 while we sleep on CPU 1. */
	ASSERT_EQ(0, nanosleep(&ts, NULL));
	ASSERT_EQ(0, kpf_test_wait_delivered(&self->c, 1, WAIT_NS));
	EXPECT_EQ(1, sched_getcpu());
	EXPECT_EQ(1, kpf_test_upcall_count);
}

/* Periodic timer while the thread hops between CPUs every 2 ms. */
TEST_F(xcpu, periodic_while_migrating)
{
	struct kpf_area *a = self->c.area;
	uint64_t end, hops = 0;

	KPF_REQUIRE_DEVICE();
	NEED_TWO_CPUS();
	ASSERT_EQ(0, pin_to(0));
	ASSERT_EQ(0, kpf_test_arm(&self->c, KPF_ARM_PERIODIC, 0,
				  500 * NSEC_PER_USEC));
	end = kpf_now_ns() + 200 * NSEC_PER_MSEC;
	while (kpf_now_ns() < end) {
		ASSERT_EQ(0, pin_to(++hops & 1));
		kpf_spin_ns(2 * NSEC_PER_MSEC);
	}
	WRITE_ONCE(a->defer, 1);
	kpf_spin_ns(5 * NSEC_PER_MSEC);
	ASSERT_EQ(0, kpf_test_disarm(&self->c));
	kpf_log("%lu hops: fires %llu delivered %llu deferred %llu overruns %llu\n",
		hops, READ_ONCE(a->fires), READ_ONCE(a->delivered),
		READ_ONCE(a->deferred), READ_ONCE(a->overruns));
	/* 400 periods; a loaded host's TCG gets far fewer through. */
	EXPECT_LE(5, READ_ONCE(a->delivered));
	EXPECT_LE(4, hops);
	EXPECT_EXPIRIES_ACCOUNTED(a);
	EXPECT_EQ(READ_ONCE(a->delivered), kpf_test_upcall_count);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
}

TEST_HARNESS_MAIN
