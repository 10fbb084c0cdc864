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
#include "ktest.h"
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

int main(void)
{
	struct child_result res;

	ktest_plan(4);
	/* no library call here before the children: they configure it */
	child_run(overflow_child, &res);
	KTEST_EXPECT(child_aborted(&res),
		     "64 KiB stack: overflowing task aborts the process (status 0x%x)",
		     res.status);
	KTEST_EXPECT(strstr(res.err,
			    "kpf: stack overflow in preemptible function (stack 64 KiB)"),
		     "with the message: %s", strtok(res.err, "\n") ?: "(none)");
	child_run(overflow_default_child, &res);
	KTEST_EXPECT(child_aborted(&res),
		     "default 2 MiB stack: aborts too (status 0x%x)", res.status);
	KTEST_EXPECT(strstr(res.err,
			    "kpf: stack overflow in preemptible function (stack 2048 KiB)"),
		     "with the message: %s", strtok(res.err, "\n") ?: "(none)");
	ktest_diag("backend %s", kpf_backend());
	return ktest_finish();
}
