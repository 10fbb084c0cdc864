// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The older versions of the libc functions libkpf defines. A library
 * linked against glibc < 2.32 binds pthread_sigmask@GLIBC_2.2.5 (it moved
 * from libpthread into libc in 2.32): libkpf defined only the default
 * version, so a task in such a library could block every signal, libkpf's
 * too, and was never stopped (tests/probes/p4: still running after 3 s
 * with a 10 ms budget). On kmod no signal is used: the task must be
 * stopped as well. Dynamic only: a static link has no symbol versions.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "clock.h"
#include "spin.h"

#define MS	1000000ull

int old_pthread_sigmask(int how, const sigset_t *set, sigset_t *old);
__asm__(".symver old_pthread_sigmask, pthread_sigmask@GLIBC_2.2.5");

struct blocker {
	volatile int blocked;	/* -1 until the task blocked everything */
	int usr1_blocked;	/* what the task then saw */
};

static void old_block_all_task(void *arg)
{
	struct blocker *b = arg;
	sigset_t all, now;

	sigfillset(&all);
	old_pthread_sigmask(SIG_SETMASK, &all, NULL);
	old_pthread_sigmask(SIG_BLOCK, NULL, &now);
	b->usr1_blocked = sigismember(&now, SIGUSR1);
	b->blocked = 1;
	spin_until_preempted(0);
}

TEST(task_blocking_every_signal_with_old_pthread_sigmask_is_preempted)
{
	struct blocker b = { .blocked = -1, .usr1_blocked = -1 };
	uint64_t t0 = now_ns(), took;
	sigset_t mask;
	kpf_task *t;
	int r;

	r = kpf_launch(&t, old_block_all_task, &b, 10 * MS);
	/* stopped before it blocked anything: let it get that far */
	while (r == KPF_PREEMPTED && b.blocked == -1) {
		t0 = now_ns();
		r = kpf_resume(t, 10 * MS);
	}
	took = now_ns() - t0;
	TH_LOG("%s after %.1f ms (budget 10 ms)",
	       r == KPF_PREEMPTED ? "preempted" : "returned", took / 1e6);
	EXPECT_EQ(KPF_PREEMPTED, r);
	/* the other signals really were blocked, in the task only */
	EXPECT_EQ(1, b.usr1_blocked);
	if (r == KPF_PREEMPTED)
		kpf_cancel(t);
	ASSERT_EQ(0, old_pthread_sigmask(SIG_BLOCK, NULL, &mask));
	EXPECT_EQ(0, sigismember(&mask, SIGUSR1));
}

TEST_HARNESS_MAIN
