// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Basic launch/resume/pause semantics: a short function returns KPF_DONE,
 * a spinning one is preempted after about its budget and resumes to
 * completion, kpf_pause() yields, KPF_FOREVER runs to the end, and misuse
 * gives the documented errors.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <sys/wait.h>
#include <unistd.h>

#include <kpf.h>
#include "ktest.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void set_flag(void *arg)
{
	*(int *)arg = 42;
}

struct spin {
	uint64_t until;		/* wall time to spin to */
	volatile uint64_t iters;
	int done;
};

static void spin_until(void *arg)
{
	struct spin *s = arg;

	while (now_ns() < s->until)
		s->iters++;
	s->done = 1;
}

static void pause_three(void *arg)
{
	int *steps = arg;

	(*steps)++;
	kpf_pause();
	(*steps)++;
	kpf_pause();
	(*steps)++;
}

int main(void)
{
	kpf_task *t = (kpf_task *)1;
	struct spin s = { 0 };
	uint64_t t0, dt;
	int flag = 0, steps = 0, r, n;

	ktest_plan(15);
	ktest_diag("backend %s", kpf_backend());

	r = kpf_launch(&t, set_flag, &flag, 1000000);
	KTEST_EXPECT(r == KPF_DONE && flag == 42 && t == NULL,
		     "short function returns KPF_DONE (r=%d)", r);

	/* spin 200 ms with a 10 ms budget: preempted after ~10 ms */
	s.until = now_ns() + 200000000ull;
	t0 = now_ns();
	r = kpf_launch(&t, spin_until, &s, 10000000);
	dt = now_ns() - t0;
	KTEST_EXPECT(r == KPF_PREEMPTED && t && !s.done,
		     "spinning function is preempted (r=%d)", r);
	KTEST_EXPECT(dt >= 10000000 && dt < 150000000,
		     "preempted after about its budget (10 ms budget, %.3f ms)",
		     dt / 1e6);
	KTEST_EXPECT(s.iters > 0, "it made progress before (%llu iterations)",
		     (unsigned long long)s.iters);
	n = 1;
	while ((r = kpf_resume(t, 10000000)) == KPF_PREEMPTED)
		n++;
	KTEST_EXPECT(r == KPF_DONE && s.done,
		     "resume to completion (r=%d after %d preemptions)", r, n);
	KTEST_EXPECT(n >= 5 && n <= 40,
		     "200 ms of spinning took a plausible number of 10 ms slices (%d)",
		     n);

	r = kpf_launch(&t, pause_three, &steps, KPF_FOREVER);
	KTEST_EXPECT(r == KPF_PREEMPTED && steps == 1,
		     "kpf_pause returns KPF_PREEMPTED (r=%d steps=%d)", r, steps);
	r = kpf_resume(t, KPF_FOREVER);
	KTEST_EXPECT(r == KPF_PREEMPTED && steps == 2,
		     "second pause (r=%d steps=%d)", r, steps);
	r = kpf_resume(t, KPF_FOREVER);
	KTEST_EXPECT(r == KPF_DONE && steps == 3,
		     "resume after pause runs to the end (r=%d steps=%d)", r, steps);

	s.done = 0;
	s.until = now_ns() + 50000000ull;
	r = kpf_launch(&t, spin_until, &s, KPF_FOREVER);
	KTEST_EXPECT(r == KPF_DONE && s.done,
		     "KPF_FOREVER runs 50 ms of spinning to completion (r=%d)", r);

	KTEST_EXPECT(kpf_launch(&t, set_flag, &flag, 0) == -EINVAL,
		     "zero budget gives -EINVAL");
	KTEST_EXPECT(kpf_launch(NULL, set_flag, &flag, 1000) == -EINVAL &&
		     kpf_launch(&t, NULL, NULL, 1000) == -EINVAL,
		     "NULL arguments give -EINVAL");
	KTEST_EXPECT(kpf_resume(NULL, 1000) == -EINVAL,
		     "resuming NULL gives -EINVAL");

	/* a cancelled task's handle is recognised while its memory is idle */
	s.until = now_ns() + 1000000000ull;
	r = kpf_launch(&t, spin_until, &s, 2000000);
	if (r == KPF_PREEMPTED) {
		kpf_task *dead = t;

		kpf_cancel(t);
		r = kpf_resume(dead, 1000);
	}
	KTEST_EXPECT(r == -EINVAL, "resuming a cancelled task gives -EINVAL (r=%d)",
		     r);
	/* a fork child registers again (kernel contexts and POSIX timers
	 * are not inherited) and is preempted on its own */
	pid_t pid = fork();

	if (pid == 0) {
		s.done = 0;
		s.until = now_ns() + 100000000ull;
		r = kpf_launch(&t, spin_until, &s, 5000000);
		n = 0;
		while (r == KPF_PREEMPTED && n < 1000) {
			n++;
			r = kpf_resume(t, 5000000);
		}
		_exit(r == KPF_DONE && s.done && n >= 3 ? 0 : 1);
	}
	waitpid(pid, &r, 0);
	KTEST_EXPECT(WIFEXITED(r) && WEXITSTATUS(r) == 0,
		     "a fork child launches and is preempted (status 0x%x)", r);
	return ktest_finish();
}
