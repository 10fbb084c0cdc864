// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Basic launch/resume/pause semantics: a short function returns KPF_DONE,
 * a spinning one is preempted no earlier than its budget and resumes to
 * completion, kpf_pause() yields, KPF_FOREVER runs to the end, a
 * cancelled handle is recognised, a fork child is preempted on its own.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <sys/wait.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "clock.h"
#include "run_to_done.h"

#define MS	1000000ull

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

TEST(short_function_done)
{
	kpf_task *t = (kpf_task *)1;
	int flag = 0;

	/* a budget no scheduling delay on a loaded host reaches */
	EXPECT_EQ(KPF_DONE, kpf_launch(&t, set_flag, &flag, 1000 * MS));
	EXPECT_EQ(42, flag);
	EXPECT_EQ(NULL, t);
	TH_LOG("backend %s", kpf_backend());
}

/* spin 200 ms with 10 ms budgets */
TEST(spin_preempted_and_resumed)
{
	struct spin s = { 0 };
	uint64_t t0, dt;
	kpf_task *t;
	int r, n;

	s.until = now_ns() + 200 * MS;
	t0 = now_ns();
	r = kpf_launch(&t, spin_until, &s, 10 * MS);
	dt = now_ns() - t0;
	ASSERT_EQ(KPF_PREEMPTED, r);
	EXPECT_NE(NULL, t);
	EXPECT_FALSE(s.done);
	/* a budget is wall time: never stopped before it ran out */
	EXPECT_LE(10 * MS, dt) TH_LOG("preempted after %.3f ms", dt / 1e6);
	EXPECT_LT(0ull, s.iters);
	n = 1;
	while ((r = kpf_resume(t, 10 * MS)) == KPF_PREEMPTED)
		n++;
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_TRUE(s.done);
	/* no slice is shorter than its budget: at most 200 / 10 + 1 */
	EXPECT_GE(21, n) TH_LOG("%d slices", n);
}

TEST(pause_and_resume)
{
	int steps = 0;
	kpf_task *t;

	EXPECT_EQ(KPF_PREEMPTED, kpf_launch(&t, pause_three, &steps,
					    KPF_FOREVER));
	EXPECT_EQ(1, steps);
	EXPECT_EQ(KPF_PREEMPTED, kpf_resume(t, KPF_FOREVER));
	EXPECT_EQ(2, steps);
	EXPECT_EQ(KPF_DONE, kpf_resume(t, KPF_FOREVER));
	EXPECT_EQ(3, steps);
}

TEST(forever)
{
	struct kpf_stats s0 = { .size = sizeof(s0) };
	struct kpf_stats s1 = { .size = sizeof(s1) };
	struct spin s = { 0 };
	kpf_task *t;

	s.until = now_ns() + 50 * MS;
	EXPECT_EQ(KPF_DONE, kpf_launch(&t, spin_until, &s, KPF_FOREVER));
	EXPECT_TRUE(s.done);
	/*
	 * A budget ending past KTIME_MAX is the same: nothing is armed (before,
	 * the deadline overflowed KTIME_MAX, every KPF_IOC_ARM failed and a
	 * 2 us fallback timer fired for as long as the task ran).
	 */
	s.done = 0;
	s.until = now_ns() + 50 * MS;
	ASSERT_EQ(0, kpf_thread_stats(&s0));
	EXPECT_EQ(KPF_DONE, kpf_launch(&t, spin_until, &s, 1ull << 63));
	ASSERT_EQ(0, kpf_thread_stats(&s1));
	EXPECT_TRUE(s.done);
	EXPECT_EQ(s0.arm_syscalls, s1.arm_syscalls);
	EXPECT_EQ(s0.upcalls, s1.upcalls);
}

TEST(errors)
{
	int flag = 0;
	kpf_task *t;

	EXPECT_EQ(-EINVAL, kpf_launch(&t, set_flag, &flag, 0));
	EXPECT_EQ(-EINVAL, kpf_launch(NULL, set_flag, &flag, 1000));
	EXPECT_EQ(-EINVAL, kpf_launch(&t, NULL, NULL, 1000));
	EXPECT_EQ(-EINVAL, kpf_resume(NULL, 1000));
}

/* a cancelled task's handle is recognised while its memory is idle */
TEST(resume_cancelled)
{
	struct spin s = { 0 };
	kpf_task *t, *dead;

	s.until = now_ns() + 1000 * MS;
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&t, spin_until, &s, 2 * MS));
	dead = t;
	kpf_cancel(t);
	EXPECT_EQ(-EINVAL, kpf_resume(dead, 1000));
}

static volatile int fork_child_resumes;

static void spin_until_resumed(void *arg)
{
	struct spin *s = arg;

	while (now_ns() < s->until && fork_child_resumes < 3)
		s->iters++;
	s->done = 1;
}

/*
 * A fork child registers again (kernel contexts and POSIX timers are not
 * inherited) and is preempted on its own.
 */
TEST(fork_child)
{
	struct spin s = { 0 };
	kpf_task *t;
	int r, n, status;
	pid_t pid;

	ASSERT_EQ(KPF_DONE, run_to_done(set_flag, &r, 1 * MS));
	pid = fork();
	if (pid == 0) {
		/*
		 * Spins until stopped three times (10 s at most): a fixed
		 * 100 ms spin could pass before the child first ran on a
		 * loaded host, and it returned without a stop.
		 */
		s.until = now_ns() + 10000 * MS;
		r = kpf_launch(&t, spin_until_resumed, &s, 5 * MS);
		n = 0;
		while (r == KPF_PREEMPTED && n < 1000) {
			fork_child_resumes = ++n;
			r = kpf_resume(t, 5 * MS);
		}
		/* the status says what went wrong: 10 + errno, or 2, 3 */
		_exit(r != KPF_DONE ? 10 + (-r & 0x3f) : !s.done ? 2 :
		      n < 3 ? 3 : 0);
	}
	ASSERT_LT(0, pid);
	waitpid(pid, &status, 0);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
