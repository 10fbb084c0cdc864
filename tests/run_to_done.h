/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Launch a task and resume it until it finishes. For tests whose subject
 * is what happens after a task returned, not whether it fit its budget:
 * on a loaded host or the debug kernel under TCG even an empty task can
 * be stopped before its first instruction, so "the launch returned
 * KPF_DONE" is a statement about the machine's speed.
 */
#ifndef KPF_RUN_TO_DONE_H
#define KPF_RUN_TO_DONE_H

#include <stdint.h>
#include <kpf.h>

/* KPF_DONE, or the -errno of the launch or a resume. */
static inline int run_to_done(void (*fn)(void *), void *arg, uint64_t budget)
{
	kpf_task *t;
	int r = kpf_launch(&t, fn, arg, budget);

	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, budget);
	return r;
}

#endif /* KPF_RUN_TO_DONE_H */
