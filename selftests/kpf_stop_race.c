// SPDX-License-Identifier: GPL-2.0
/*
 * DISARM means stop, even against an expiry already under way. The timer
 * callback may be waiting for timer_lock while DISARM clears the state
 * (on the owner's CPU: the interrupt is held off by DISARM's critical
 * section and runs right after it). If another thread stores a due
 * deadline_ns meanwhile, that callback must not fire: no upcall may
 * arrive on the return from DISARM.
 *
 * The owner arms at the minimum distance and disarms at once, many times;
 * a second thread keeps storing a due deadline. DISARM is a raw system
 * call with a known return address, so an upcall delivered on its return
 * is recognised by the frame's rip.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define RUN_NS		(3 * NSEC_PER_SEC)

struct storer {
	struct kpf_area *area;
	volatile int stop;
};

static void *store_due_deadlines(void *arg)
{
	struct storer *s = arg;

	while (!s->stop)
		__atomic_store_n(&s->area->deadline_ns, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(disarm_stops_a_waiting_callback)
{
	struct kpf_test_ctx c;
	struct storer s = { 0 };
	uint64_t end, rounds = 0, late = 0, upcalls = 0;
	struct kpf_info info;
	pthread_t t;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_info(c.fd, &info));
	s.area = c.area;
	ASSERT_EQ(0, pthread_create(&t, NULL, store_due_deadlines, &s));

	end = kpf_now_ns() + RUN_NS;
	while (kpf_now_ns() < end) {
		uint64_t before;
		long ret;

		ASSERT_EQ(0, kpf_test_arm(&c, 0, info.min_period_ns, 0));
		before = kpf_test_upcall_count;
		ret = kpf_test_raw_syscall(SYS_ioctl, c.fd, KPF_IOC_DISARM, 0,
					   0, 0);
		ASSERT_EQ(0, ret);
		if (kpf_test_upcall_count != before &&
		    kpf_test_last_frame.rip ==
		    (uintptr_t)kpf_test_raw_syscall_ret)
			late++;
		upcalls += kpf_test_upcall_count - before;
		rounds++;
	}
	s.stop = 1;
	pthread_join(t, NULL);
	kpf_log("%llu ARM/DISARM rounds, %llu upcalls during DISARM, %llu on its return\n",
		(unsigned long long)rounds, (unsigned long long)upcalls,
		(unsigned long long)late);
	EXPECT_EQ(0, late);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	kpf_test_ctx_destroy(&c);
}

TEST_HARNESS_MAIN
