/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A task's busy loop that lasts until the task was preempted, not for a
 * fixed time. A fixed wall-clock spin ("100 ms, far beyond the 1 ms
 * budget") fails on a loaded host: a thread descheduled across the end of
 * the spin takes the expiry inside clock_gettime() (a libc call, where
 * preemption is deferred to the next call), finds the time over and
 * returns KPF_DONE without ever being stopped (test_task_state, seen in
 * check-native under two busy loops).
 */
#ifndef KPF_TEST_SPIN_H
#define KPF_TEST_SPIN_H

#include <stdint.h>
#include <kpf.h>
#include "clock.h"

/* Longest a spin waits for its preemption: a broken library fails. */
#define SPIN_GIVE_UP_NS	20000000000ull

/*
 * In a pinned task: spin at least @min_ns and until a task of this
 * thread has been preempted since the spin began (the thread's counter,
 * so this task or, nested, one it runs in), or SPIN_GIVE_UP_NS.
 */
static inline void spin_until_preempted(uint64_t min_ns)
{
	struct kpf_stats s = { .size = sizeof(s) };
	uint64_t t0 = now_ns(), before, t;

	kpf_thread_stats(&s);
	before = s.preemptions;
	for (;;) {
		t = now_ns();
		if (t - t0 >= SPIN_GIVE_UP_NS)
			return;
		if (t - t0 < min_ns)
			continue;
		kpf_thread_stats(&s);
		if (s.preemptions != before)
			return;
	}
}

#endif /* KPF_TEST_SPIN_H */
