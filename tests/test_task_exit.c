// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Leaving a task through the process or thread: pthread_exit() in a task
 * ends the thread and frees the task's stack (before: 1,000 workers left
 * +2,009 mappings); exit() in a task ends the process with its status and
 * runs the atexit handlers; fork() in a task gives a child that is still
 * inside the task and keeps what remains of the task's budget (before:
 * the child ran 100 ms past a 1 ms budget, no timer at all).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "child.h"
#include "clock.h"
#include "run_to_done.h"

#define MS	1000000ull
#define WORKERS	1000

static int count_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c, n = 0;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void exit_thread_task(void *arg)
{
	pthread_exit(arg);
}

/*
 * The task ends the thread. Resumed until it does: on a loaded host (the
 * stock guest under two busy loops) a 100 ms budget can run out before
 * the task's first instruction, and the worker returned NULL.
 */
static void *worker(void *arg)
{
	/* not reached unless the launch fails: a value no worker passes */
	return (void *)(long)(-1000 + run_to_done(exit_thread_task, arg,
						   100 * MS));
}

/*
 * 1,000 threads that each register a kpf context took longer than the
 * harness's 30 s on the debug kernel (KASAN) in the guest: 100 there.
 */
static int nr_workers(void)
{
	const char *k = getenv("KPF_KERNEL");

	return k && !strcmp(k, "debug") ? WORKERS / 10 : WORKERS;
}

TEST(pthread_exit_frees_the_stack)
{
	int before, after, i, workers = nr_workers();
	pthread_t th;
	void *ret;

	/* one round first: the pool and libc's thread cache fill up */
	ASSERT_EQ(0, pthread_create(&th, NULL, worker, (void *)7L));
	ASSERT_EQ(0, pthread_join(th, &ret));
	ASSERT_EQ(7L, (long)ret);
	before = count_mappings();
	for (i = 0; i < workers; i++) {
		ASSERT_EQ(0, pthread_create(&th, NULL, worker, (void *)(long)i));
		ASSERT_EQ(0, pthread_join(th, &ret));
		ASSERT_EQ(i, (long)ret);
	}
	after = count_mappings();
	TH_LOG("mappings: %d before, %d after %d workers", before, after,
	       workers);
	/* a leak costs 2 per worker; a few pooled stacks are fine */
	EXPECT_LT(after - before, workers / 10);
}

static void at_exit_report(void)
{
	static const char m[] = "atexit handler ran\n";

	if (write(STDERR_FILENO, m, sizeof(m) - 1) < 0)
		_exit(99);
}

static void exit_task(void *arg)
{
	exit(7);
}

static void exit_child(void)
{
	kpf_task *t;

	atexit(at_exit_report);
	kpf_launch(&t, exit_task, NULL, 100 * MS);
	_exit(3);
}

TEST(exit_in_task)
{
	struct child_result res;

	child_run(exit_child, &res);
	ASSERT_TRUE(WIFEXITED(res.status)) TH_LOG("status %#x", res.status);
	EXPECT_EQ(7, WEXITSTATUS(res.status));
	EXPECT_NE(NULL, strstr(res.err, "atexit handler ran"))
		TH_LOG("stderr: '%s'", res.err);
}

struct fork_arg {
	volatile int preempts;	/* written by the launcher, read by the task */
	int wait_for_preemption;
	pid_t pid;
};

/* in the child: spin 100 ms inside the task; the parent just returns */
static void fork_task(void *arg)
{
	struct fork_arg *a = arg;
	uint64_t end;

	/* fork in a resumed slice: wait until the launcher saw a preemption */
	while (a->wait_for_preemption && !a->preempts)
		;
	a->pid = fork();
	if (a->pid)
		return;
	end = now_ns() + 100 * MS;
	while (now_ns() < end)
		;
}

/*
 * Run fork_task in 20 ms slices. The child returns from whichever
 * kpf_launch() or kpf_resume() the parent was in when the task forked, so
 * every return is checked with getpid(): @pid or the slice count cannot
 * tell (the task may be preempted before it stores fork()'s result). The
 * child exits 0 if its task was preempted, 1 if it ran 100 ms to the end.
 */
static int run_fork_task(struct fork_arg *a, int *slices)
{
	pid_t parent = getpid();
	kpf_task *t;
	int r;

	r = kpf_launch(&t, fork_task, a, 20 * MS);
	for (*slices = 1;; ++*slices) {
		if (getpid() != parent)
			_exit(r == KPF_PREEMPTED ? 0 : 1);
		if (r != KPF_PREEMPTED)
			return r;
		a->preempts++;
		/*
		 * a finite budget: the child keeps what remains of this slice
		 * (the debug kernel can stop a task before its first
		 * instruction, so the fork can come in any slice; resumed
		 * with KPF_FOREVER the child had no deadline and ran to the
		 * end: "Expected 0 < pid (0)" printed by the child)
		 */
		r = kpf_resume(t, 20 * MS);
	}
}

static void check_fork_child(struct __test_metadata *_metadata,
			     struct fork_arg *a)
{
	int r, status, slices;

	r = run_fork_task(a, &slices);
	TH_LOG("the parent's task took %d slice(s), %d preemption(s) seen",
	       slices, a->preempts);
	ASSERT_EQ(KPF_DONE, r);
	ASSERT_LT(0, a->pid);
	ASSERT_EQ(a->pid, waitpid(a->pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 1 = its task ran 100 ms to the end");
}

TEST(fork_in_task_keeps_the_budget)
{
	struct fork_arg a = { .pid = -1 };

	check_fork_child(_metadata, &a);
}

/* the fork comes after a preemption, in a slice given by kpf_resume() */
TEST(fork_in_resumed_task_keeps_the_budget)
{
	struct fork_arg a = { .pid = -1, .wait_for_preemption = 1 };

	check_fork_child(_metadata, &a);
	EXPECT_LE(1, a.preempts);
}

TEST_HARNESS_MAIN
