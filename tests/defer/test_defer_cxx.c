// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * C++ exceptions thrown inside libstdc++ (std::vector::at) and caught by
 * the task (defer_cxx_work.cc), while the task is preempted every 20 us
 * and the launcher allocates and throws too: the unwinder walks from
 * libstdc++ through the caller's frames (the deferral stub is never on
 * the stack), and the deferral mark is stale once the exception is
 * caught, so the task is preemptible again.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "defer_test.h"
#include "defer_cxx.h"

static volatile int stop;

/* makes malloc take its arena lock (a single thread skips it) */
static void *allocating_thread(void *unused)
{
	while (!stop) {
		free(malloc(100));
		usleep(20);
	}
	return NULL;
}

TEST(exception_from_libstdcxx_caught_by_task)
{
	struct cxx_arg a = { .rounds = defer_test_n(20000) };
	unsigned long resumes;
	pthread_t th;

	alarm(60);
	ASSERT_EQ(0, pthread_create(&th, NULL, allocating_thread, NULL));
	defer_test_want(20);
	ASSERT_EQ(KPF_DONE, defer_test_drive(cxx_task, &a, 20000, cxx_between,
					     NULL, &resumes));
	stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_GT(a.done, 0U);
	ASSERT_EQ(a.done, a.caught);
	ASSERT_EQ(cxx_expected_strings(a.done), a.strings);
	ASSERT_EQ(1, a.preempted_after);
	ASSERT_GT(resumes, 10UL);
}

TEST_HARNESS_MAIN
