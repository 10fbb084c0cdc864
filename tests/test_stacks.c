// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Task stacks and the process's mappings and memory:
 *  - launching stopped tasks until it fails stops with -ENOMEM while the
 *    program can still malloc(4 MiB) and create a thread (before: the
 *    whole process ran out of mappings at ~32,751 tasks);
 *  - a frame that jumps its stack's guard into the task mapped below is
 *    reported when that task is resumed (canary at the top of each
 *    stack mapping), and a task that overran its stack without faulting
 *    when it stops (canary at the low end); before, both went unnoticed.
 * The canary tests address stacks through the task handle, which is
 * where the stack ends (its descriptor sits right above the stack), and
 * are built without -fstack-clash-protection, like much code out there.
 */
#include <alloca.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "child.h"

#define KIB		1024ul
#define STACK		(64 * KIB)
#define GUARD		(64 * KIB)	/* Documentation/libkpf.md */
#define MAX_TASKS	200000

static void pause_task(void *arg)
{
	kpf_pause();
}

static void *thread_fn(void *arg)
{
	return arg;
}

/* the guest is a throw-away VM: its sysctl can be changed for good */
static void set_max_map_count(long n)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "w");

	if (f) {
		fprintf(f, "%ld\n", n);
		fclose(f);
	}
}

FIXTURE(many) {
};

FIXTURE_SETUP(many)
{
}

FIXTURE_TEARDOWN(many)
{
}

/* tens of thousands of mmap()s: far from the harness's 30 s on a loaded host */
TEST_F_TIMEOUT(many, mapping_reserve, 300)
{
	static kpf_task *tasks[MAX_TASKS];
	struct kpf_config cfg = {
		.size = sizeof(cfg),
		.stack_size = 16 * KIB,
	};
	int n = 0, r = 0, i;
	pthread_t th;
	void *ret, *big;

	/*
	 * The debug kernel (KASAN) in the guest takes minutes to map and
	 * unmap the ~16,000 stacks of the default limit: give the guest a
	 * lower vm.max_map_count (read by libkpf at its first stack).
	 */
	if (getenv("KPF_KERNEL") && !strcmp(getenv("KPF_KERNEL"), "debug"))
		set_max_map_count(8192);
	ASSERT_EQ(0, kpf_init(&cfg));
	while (n < MAX_TASKS) {
		r = kpf_launch(&tasks[n], pause_task, NULL, KPF_FOREVER);
		if (r != KPF_PREEMPTED)
			break;
		n++;
	}
	TH_LOG("%d stopped tasks, then %d", n, r);
	EXPECT_EQ(-ENOMEM, r);
	EXPECT_LT(1000, n);
	/* the rest of the program still works */
	big = malloc(4 << 20);
	EXPECT_NE(NULL, big);
	free(big);
	EXPECT_EQ(0, pthread_create(&th, NULL, thread_fn, (void *)5L));
	EXPECT_EQ(0, pthread_join(th, &ret));
	EXPECT_EQ(5L, (long)ret);
	for (i = 0; i < n; i++)
		kpf_cancel(tasks[i]);
	/* and stacks come back */
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&tasks[0], pause_task, NULL,
					    KPF_FOREVER));
	kpf_cancel(tasks[0]);
}

static kpf_task *self_handle;

/* Write @len bytes at @addr from a frame that reaches down to it. */
static void __attribute__((noinline)) frame_down_to(uintptr_t addr,
						    size_t len)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	volatile char *p = alloca(sp - addr + 256);
	size_t i;

	for (i = 0; i < len; i++)
		p[addr - (uintptr_t)p + i] = 0x5a;
}

/* Once resumed: a big frame whose bottom is @arg bytes below its map */
static void jumper_task(void *arg)
{
	uintptr_t map;

	kpf_pause();
	map = (uintptr_t)self_handle - STACK - GUARD;
	frame_down_to(map - (uintptr_t)arg, 64);
}

static void neighbour_child(void)
{
	struct kpf_config cfg = { .size = sizeof(cfg), .stack_size = STACK };
	kpf_task *a, *b;

	if (kpf_init(&cfg))
		_exit(3);
	/* a is mapped first, b right below it */
	if (kpf_launch(&a, jumper_task, (void *)64, KPF_FOREVER) != 1 ||
	    kpf_launch(&b, pause_task, NULL, KPF_FOREVER) != 1)
		_exit(4);
	/* adjacent: a's mapping starts where b's (stack + its top) ends */
	if ((uintptr_t)a - (uintptr_t)b < STACK + GUARD + 4 * KIB ||
	    (uintptr_t)a - (uintptr_t)b > STACK + GUARD + 64 * KIB)
		_exit(5);
	self_handle = a;
	kpf_resume(a, KPF_FOREVER);
	kpf_resume(b, KPF_FOREVER);
	_exit(0);
}

TEST(frame_jumps_guard_into_neighbour)
{
	struct child_result res;

	child_run(neighbour_child, &res);
	EXPECT_TRUE(child_aborted(&res)) TH_LOG("status %#x", res.status);
	EXPECT_NE(NULL, strstr(res.err, "canary at the top end"))
		TH_LOG("stderr: '%s'", res.err);
	EXPECT_NE(NULL, strstr(res.err, "-fstack-clash-protection"));
}

static void overrun_task(void *arg)
{
	uintptr_t lo;

	kpf_pause();
	lo = (uintptr_t)self_handle - STACK;
	frame_down_to(lo + 8, 8);
}

static void overrun_child(void)
{
	struct kpf_config cfg = { .size = sizeof(cfg), .stack_size = STACK };
	kpf_task *a;

	if (kpf_init(&cfg))
		_exit(3);
	if (kpf_launch(&a, overrun_task, NULL, KPF_FOREVER) != 1)
		_exit(4);
	self_handle = a;
	kpf_resume(a, KPF_FOREVER);
	_exit(0);
}

TEST(task_overruns_its_stack)
{
	struct child_result res;

	child_run(overrun_child, &res);
	EXPECT_TRUE(child_aborted(&res)) TH_LOG("status %#x", res.status);
	EXPECT_NE(NULL, strstr(res.err, "canary at the low end"))
		TH_LOG("stderr: '%s'", res.err);
}

/*
 * The same jump into memory that is not mapped: the fault is neither in
 * the guard nor in the stack, and died as a plain SIGSEGV without a word
 * (a 136 KiB frame on a 64 KiB stack). The child reserves a PROT_NONE
 * hole below the task's mapping, so the frame surely lands in nothing.
 */
static uintptr_t hole_below;

static void hole_jumper_task(void *arg)
{
	kpf_pause();
	frame_down_to(hole_below + 4 * KIB, 64);
}

static void hole_child(void)
{
	struct kpf_config cfg = { .size = sizeof(cfg), .stack_size = STACK };
	uintptr_t map;
	kpf_task *a;
	void *p;
	int k;

	if (kpf_init(&cfg))
		_exit(3);
	if (kpf_launch(&a, hole_jumper_task, NULL, KPF_FOREVER) != 1)
		_exit(4);
	map = (uintptr_t)a - STACK - GUARD;
	/* the first free 64 KiB at most 4 MiB below the guard */
	for (k = 1; k <= 64; k++) {
		p = mmap((void *)(map - k * 64 * KIB), 64 * KIB, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
		if (p == (void *)(map - k * 64 * KIB))
			break;
		if (p != MAP_FAILED)
			munmap(p, 64 * KIB);
	}
	if (k > 64)
		_exit(5);
	hole_below = (uintptr_t)p;
	kpf_resume(a, KPF_FOREVER);
	_exit(0);
}

TEST(frame_jumps_guard_into_unmapped_memory)
{
	struct child_result res;

	child_run(hole_child, &res);
	EXPECT_TRUE(child_aborted(&res)) TH_LOG("status %#x", res.status);
	EXPECT_NE(NULL, strstr(res.err, "stack overflow in preemptible function"))
		TH_LOG("stderr: '%s'", res.err);
	EXPECT_NE(NULL, strstr(res.err, "jumped the guard"));
}

/*
 * The overflow reporter handles SIGSEGV for the whole process: one that
 * was sent (raise, kill, sigqueue) rather than caused by a fault does not
 * come again by itself, and must still end the program (it was swallowed).
 */
static void raise_segv_after_init(void)
{
	if (kpf_init(NULL))
		_exit(2);
	raise(SIGSEGV);
	_exit(1);
}

TEST(sent_sigsegv_keeps_its_default_action)
{
	struct child_result res;

	child_run(raise_segv_after_init, &res);
	EXPECT_TRUE(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGSEGV)
		TH_LOG("status %#x", res.status);
}

TEST_HARNESS_MAIN
