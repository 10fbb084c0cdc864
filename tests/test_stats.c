// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * struct kpf_stats can grow: its size field says how much the caller
 * has room for, the library fills in what both know and says how much.
 */
#include <errno.h>
#include <string.h>

#include <kpf.h>
#include "kselftest_harness.h"

static void quick(void *arg)
{
}

/* what a program built against a newer header passes */
struct kpf_stats_bigger {
	struct kpf_stats known;
	uint64_t future[3];
};

TEST(sizes)
{
	struct kpf_stats_bigger big;
	struct kpf_stats st;
	uint64_t small[2];
	kpf_task *t;

	ASSERT_EQ(KPF_DONE, kpf_launch(&t, quick, NULL, KPF_FOREVER));
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, quick, NULL, KPF_FOREVER));

	memset(&st, 0xff, sizeof(st));
	st.size = sizeof(st);
	ASSERT_EQ(0, kpf_thread_stats(&st));
	EXPECT_EQ(sizeof(st), st.size);
	EXPECT_EQ(2ull, st.launches);

	/* 0: the size of this header's struct */
	memset(&st, 0xff, sizeof(st));
	st.size = 0;
	ASSERT_EQ(0, kpf_thread_stats(&st));
	EXPECT_EQ(sizeof(st), st.size);
	EXPECT_EQ(2ull, st.launches);

	/* an older, smaller struct: only what fits */
	small[0] = 2 * sizeof(uint64_t);
	small[1] = 12345;
	ASSERT_EQ(0, kpf_thread_stats((struct kpf_stats *)small));
	EXPECT_EQ(2 * sizeof(uint64_t), small[0]);
	EXPECT_EQ(2ull, small[1]);

	/* a newer, bigger one: size says what was filled, the rest untouched */
	memset(&big, 0xff, sizeof(big));
	big.known.size = sizeof(big);
	ASSERT_EQ(0, kpf_thread_stats(&big.known));
	EXPECT_EQ(sizeof(struct kpf_stats), big.known.size);
	EXPECT_EQ(2ull, big.known.launches);
	EXPECT_EQ(~0ull, big.future[0]);
	EXPECT_EQ(~0ull, big.future[2]);

	st.size = 4;
	EXPECT_EQ(-EINVAL, kpf_thread_stats(&st));
	EXPECT_EQ(-EINVAL, kpf_thread_stats(NULL));
}

static void pause_once(void *arg)
{
	kpf_pause();
}

static uint64_t stack_calls_now(void)
{
	struct kpf_stats st = { .size = sizeof(st) };

	kpf_thread_stats(&st);
	return st.stack_syscalls;
}

/*
 * stack_syscalls counts the system calls of a stack the pool had not:
 * mmap + guard (madvise, or a failed madvise then mprotect the first
 * time) to map one, munmap to drop one beyond the pool. Each test runs in
 * a fresh process, so the pool starts empty.
 */
TEST(stack_syscalls)
{
	struct kpf_config cfg = { .size = sizeof(cfg), .pool_max = 1 };
	kpf_task *t[8];
	uint64_t first, n;
	int i;

	ASSERT_EQ(0, kpf_init(&cfg));
	n = stack_calls_now();
	EXPECT_EQ(0ull, n);

	/* the first launch maps its stack; the second reuses it */
	ASSERT_EQ(KPF_DONE, kpf_launch(&t[0], quick, NULL, KPF_FOREVER));
	first = stack_calls_now() - n;
	EXPECT_GE(first, 2ull);
	EXPECT_LE(first, 3ull);
	n = stack_calls_now();
	ASSERT_EQ(KPF_DONE, kpf_launch(&t[0], quick, NULL, KPF_FOREVER));
	EXPECT_EQ(n, stack_calls_now());

	/* eight live tasks: one stack from the cache, seven new ones */
	for (i = 0; i < 8; i++)
		ASSERT_EQ(KPF_PREEMPTED,
			  kpf_launch(&t[i], pause_once, NULL, KPF_FOREVER));
	EXPECT_EQ(n + 7 * 2, stack_calls_now());

	/* back: 4 to the thread's cache, 1 to the pool, 3 unmapped */
	n = stack_calls_now();
	for (i = 0; i < 8; i++)
		ASSERT_EQ(KPF_DONE, kpf_resume(t[i], KPF_FOREVER));
	EXPECT_EQ(n + 3, stack_calls_now());
}

TEST_HARNESS_MAIN
