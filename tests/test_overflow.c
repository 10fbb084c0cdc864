// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stack overflow: a task recursing without bound hits the guard below its
 * stack; the library reports it and aborts instead of corrupting memory.
 * Runs in a child process; checks the message and the SIGABRT.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "child.h"

static volatile long sink;

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static long recurse(long n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	sink += pad[0];
	return recurse(n + 1) + pad[0];
}

static void overflow_task(void *arg)
{
	sink = recurse(0);
}

static void overflow_child(void)
{
	struct kpf_config cfg = {
		.size = sizeof(cfg),
		.stack_size = 64 * 1024,
	};
	kpf_task *t;

	if (kpf_init(&cfg))
		_exit(3);
	kpf_launch(&t, overflow_task, NULL, KPF_FOREVER);
	_exit(4);	/* not reached */
}

static void overflow_default_child(void)
{
	kpf_task *t;

	kpf_launch(&t, overflow_task, NULL, KPF_FOREVER);
	_exit(4);
}

static void check(struct __test_metadata *_metadata, void (*fn)(void),
		  const char *msg)
{
	struct child_result res;

	child_run(fn, &res);
	EXPECT_TRUE(child_aborted(&res)) TH_LOG("status %#x", res.status);
	EXPECT_NE(NULL, strstr(res.err, msg)) TH_LOG("stderr: '%s'", res.err);
}

/* no library call in the test process: the children configure it */
TEST(small_stack)
{
	check(_metadata, overflow_child,
	      "kpf: stack overflow in preemptible function (stack 64 KiB)");
}

TEST(default_stack)
{
	check(_metadata, overflow_default_child,
	      "kpf: stack overflow in preemptible function (stack 2048 KiB)");
}

TEST_HARNESS_MAIN
