// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * longjmp() out of a preemptible function is not supported: the library
 * would still count the task as running on the thread. It must be
 * detected and reported ("left by longjmp()") with an abort, whether the
 * launcher next calls the library or just keeps running until the
 * task's deadline passes. Before, kpf_in_task() stayed 1, the next launch
 * inherited the dead task's deadline, and from a deeper frame the program
 * died of SIGSEGV without a word.
 */
#include <setjmp.h>
#include <stdint.h>
#include <time.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "child.h"
#include "clock.h"

#define MS	1000000ull

static jmp_buf launcher_jb;

static void jump_out(void *arg)
{
	longjmp(launcher_jb, 1);
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int deep(int n)
{
	volatile char pad[256];

	pad[0] = (char)n;
	if (n == 0)
		longjmp(launcher_jb, 1);
	return deep(n - 1) + pad[0];
}

static void jump_out_deep(void *arg)
{
	deep(40);
}

static void quick(void *arg)
{
}

static void leave_by_longjmp(void (*fn)(void *))
{
	kpf_task *t;

	if (!setjmp(launcher_jb))
		kpf_launch(&t, fn, NULL, 50 * MS);
}

static void then_in_task(void)
{
	leave_by_longjmp(jump_out);
	_exit(10 + kpf_in_task());
}

static void then_launch(void)
{
	kpf_task *t;

	leave_by_longjmp(jump_out_deep);
	_exit(10 + kpf_launch(&t, quick, NULL, 50 * MS));
}

/* the launcher never calls the library again: the deadline catches it */
static void then_spin(void)
{
	uint64_t end;

	leave_by_longjmp(jump_out_deep);
	end = now_ns() + 500 * MS;
	while (now_ns() < end)
		;
	_exit(10);
}

static void check_aborted(struct __test_metadata *_metadata,
			  void (*fn)(void))
{
	struct child_result res;

	child_run(fn, &res);
	EXPECT_TRUE(child_aborted(&res))
		TH_LOG("status %#x (exit %d)", res.status,
		       WIFEXITED(res.status) ? WEXITSTATUS(res.status) : -1);
	EXPECT_NE(NULL, strstr(res.err, "left by longjmp()"))
		TH_LOG("stderr: '%s'", res.err);
}

TEST(longjmp_then_in_task)
{
	check_aborted(_metadata, then_in_task);
}

TEST(longjmp_from_deep_frame_then_launch)
{
	check_aborted(_metadata, then_launch);
}

TEST(longjmp_then_no_library_call)
{
	check_aborted(_metadata, then_spin);
}

TEST_HARNESS_MAIN
