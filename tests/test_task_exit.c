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

static void *worker(void *arg)
{
	kpf_task *t;

	kpf_launch(&t, exit_thread_task, arg, 100 * MS);
	return NULL;	/* not reached */
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
	TH_LOG("mappings before %d, after %d workers %d", before, workers,
	       after);
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

/* in the child: spin 100 ms inside the task; the parent just waits */
static void fork_task(void *arg)
{
	pid_t *pid = arg;
	uint64_t end;

	*pid = fork();
	if (*pid)
		return;
	end = now_ns() + 100 * MS;
	while (now_ns() < end)
		;
}

TEST(fork_in_task_keeps_the_budget)
{
	kpf_task *t;
	pid_t pid = -1;
	int r, status;

	r = kpf_launch(&t, fork_task, &pid, 20 * MS);
	if (pid == 0) {
		/* the child: its task must have been preempted */
		_exit(r == KPF_PREEMPTED ? 0 : 1);
	}
	/* the parent's task just returns (a slow fork may take a slice) */
	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, KPF_FOREVER);
	ASSERT_EQ(KPF_DONE, r);
	ASSERT_LT(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 1 = its task ran 100 ms to the end");
}

TEST_HARNESS_MAIN
