// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The launcher's own thread state survives its tasks' preemptions
 * (Documentation/libkpf.md, "Per-thread state"): its signal mask, locale
 * and errno are what the launcher had when it launched or resumed the
 * task, even when it changed them after its first use of libkpf, and a
 * task's own signal mask follows the task. Before: libkpf took the
 * launcher's mask once, at the thread's first use, and put that back
 * after every preemption, so a launcher that blocked SIGUSR1 after its
 * first kpf_launch() found it unblocked after a task that never touched
 * its mask was preempted.
 */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "clock.h"
#include "spin.h"

#define MS	1000000ull

static int blocked(int sig)
{
	sigset_t mask;

	sigemptyset(&mask);
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	return sigismember(&mask, sig);
}

static void change_mask(int how, int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(how, &set, NULL);
}

static void nothing(void *arg)
{
}

/* The first use of the thread: what libkpf used to take as the launcher's */
static void first_use(struct __test_metadata *_metadata)
{
	kpf_task *t;

	ASSERT_EQ(KPF_DONE, kpf_launch(&t, nothing, NULL, KPF_FOREVER));
}

struct seen {
	int usr1_in_task;	/* SIGUSR1 blocked as the task started */
	int usr1_at_end;	/* ... as it finished */
	int usr2_at_end;	/* SIGUSR2 blocked as it finished */
	locale_t loc_in_task;	/* its locale as it started */
	locale_t loc_at_end;	/* ... as it finished */
	int own_mask_set;	/* own_mask_task() has set its mask */
};

static void plain_task(void *arg)
{
	struct seen *s = arg;

	s->usr1_in_task = blocked(SIGUSR1);
	s->loc_in_task = uselocale((locale_t)0);
	spin_until_preempted(5 * MS);
	s->usr1_at_end = blocked(SIGUSR1);
	s->loc_at_end = uselocale((locale_t)0);
}

/*
 * A task that never touches its mask, launched after the launcher blocked
 * SIGUSR1: the block stays the launcher's after every preemption, and the
 * task runs with it too (it has no mask of its own).
 */
TEST(launcher_mask_set_after_first_use)
{
	struct seen s = { 0 };
	kpf_task *t;
	int r, n = 0;

	first_use(_metadata);
	change_mask(SIG_BLOCK, SIGUSR1);
	for (r = kpf_launch(&t, plain_task, &s, 1 * MS);
	     r == KPF_PREEMPTED; r = kpf_resume(t, 1 * MS)) {
		n++;
		EXPECT_TRUE(blocked(SIGUSR1))
			TH_LOG("SIGUSR1 unblocked in the launcher after preemption %d",
			       n);
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_LE(1, n);
	EXPECT_TRUE(blocked(SIGUSR1)) TH_LOG("after the task finished");
	EXPECT_TRUE(s.usr1_in_task);
	EXPECT_TRUE(s.usr1_at_end);
}

/*
 * The launcher changes its mask between resumes; the task does not touch
 * its own: after each switch back the launcher has exactly what it set
 * before that resume, and the task runs with it.
 */
TEST(launcher_mask_changes_between_resumes)
{
	struct seen s = { 0 };
	kpf_task *t;
	int r, n = 0;

	first_use(_metadata);
	for (r = kpf_launch(&t, plain_task, &s, 1 * MS);
	     r == KPF_PREEMPTED; r = kpf_resume(t, 1 * MS)) {
		EXPECT_EQ(n & 1, blocked(SIGUSR1))
			TH_LOG("launcher after preemption %d", n);
		n++;
		/* odd runs with SIGUSR1 blocked, even ones without */
		change_mask(n & 1 ? SIG_BLOCK : SIG_UNBLOCK, SIGUSR1);
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_LE(1, n);
	EXPECT_EQ(n & 1, blocked(SIGUSR1)) TH_LOG("after the task finished");
	EXPECT_EQ(n & 1, s.usr1_at_end) TH_LOG("the task's last run");
}

static void own_mask_task(void *arg)
{
	struct seen *s = arg;

	change_mask(SIG_BLOCK, SIGUSR2);
	__atomic_store_n(&s->own_mask_set, 1, __ATOMIC_RELAXED);
	spin_until_preempted(5 * MS);
	s->usr1_at_end = blocked(SIGUSR1);
	s->usr2_at_end = blocked(SIGUSR2);
}

/*
 * The task blocks SIGUSR2, the launcher blocks SIGUSR1 after the first
 * preemption: each keeps its own. The task's mask follows the task, so it
 * does not get the launcher's later SIGUSR1 block.
 */
TEST(task_and_launcher_masks_stay_apart)
{
	struct seen s = { 0 };
	kpf_task *t;
	int r, n = 0;

	first_use(_metadata);
	for (r = kpf_launch(&t, own_mask_task, &s, 1 * MS);
	     r == KPF_PREEMPTED; r = kpf_resume(t, 1 * MS)) {
		EXPECT_FALSE(blocked(SIGUSR2))
			TH_LOG("the task's SIGUSR2 block in the launcher, preemption %d",
			       n);
		EXPECT_EQ(!!n, blocked(SIGUSR1))
			TH_LOG("the launcher's SIGUSR1 block, preemption %d", n);
		/* once the task has its own mask (a slow kernel may stop it
		 * before its first instruction: it would inherit the block) */
		if (!n && __atomic_load_n(&s.own_mask_set, __ATOMIC_RELAXED)) {
			change_mask(SIG_BLOCK, SIGUSR1);
			n = 1;
		}
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_EQ(1, n) TH_LOG("the task was never stopped after it set its mask");
	EXPECT_TRUE(blocked(SIGUSR1));
	EXPECT_FALSE(blocked(SIGUSR2));
	EXPECT_TRUE(s.usr2_at_end);
	EXPECT_FALSE(s.usr1_at_end);
}

static void pause_task(void *arg)
{
	struct seen *s = arg;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);	/* the other entry point */
	kpf_pause();
	s->usr2_at_end = blocked(SIGUSR2);
}

/*
 * Not only preemptions: a task's mask stays with it when it pauses and
 * goes with it when it returns, whether or not it was stopped before (no
 * timing decides what the launcher gets).
 */
TEST(task_mask_on_pause_and_return)
{
	struct seen s = { 0 };
	kpf_task *t;

	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&t, pause_task, &s, KPF_FOREVER));
	EXPECT_FALSE(blocked(SIGUSR2)) TH_LOG("after kpf_pause()");
	change_mask(SIG_BLOCK, SIGUSR1);
	ASSERT_EQ(KPF_DONE, kpf_resume(t, KPF_FOREVER));
	EXPECT_TRUE(s.usr2_at_end) TH_LOG("the task's own block, resumed");
	EXPECT_FALSE(blocked(SIGUSR2)) TH_LOG("after the task returned");
	EXPECT_TRUE(blocked(SIGUSR1)) TH_LOG("the launcher's own block");

	ASSERT_EQ(KPF_DONE, kpf_launch(&t, own_mask_task, &s, KPF_FOREVER));
	EXPECT_FALSE(blocked(SIGUSR2)) TH_LOG("a task that was never stopped");
	EXPECT_TRUE(blocked(SIGUSR1));
}

static void inner_task(void *arg)
{
	change_mask(SIG_BLOCK, SIGUSR2);
}

static void outer_task(void *arg)
{
	struct seen *s = arg;
	kpf_task *t;
	int r;

	/* the outer budget also stops the inner task: finish it first */
	for (r = kpf_launch(&t, inner_task, NULL, KPF_FOREVER);
	     r == KPF_PREEMPTED; r = kpf_resume(t, KPF_FOREVER))
		;
	s->usr1_in_task = blocked(SIGUSR2);	/* shared with the inner */
	spin_until_preempted(5 * MS);
	s->usr2_at_end = blocked(SIGUSR2);
}

/* Nested tasks share their outermost task's mask; the launcher keeps its */
TEST(nested_tasks_share_the_outermost_mask)
{
	struct seen s = { 0 };
	kpf_task *t;
	int r, n = 0;

	for (r = kpf_launch(&t, outer_task, &s, 1 * MS);
	     r == KPF_PREEMPTED; r = kpf_resume(t, 1 * MS)) {
		n++;
		EXPECT_FALSE(blocked(SIGUSR2)) TH_LOG("preemption %d", n);
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_LE(1, n);
	EXPECT_FALSE(blocked(SIGUSR2));
	EXPECT_TRUE(s.usr1_in_task);
	EXPECT_TRUE(s.usr2_at_end);
}

/* The same for uselocale() and errno in the launcher after its first use */
TEST(launcher_locale_and_errno_set_after_first_use)
{
	struct seen s = { 0 };
	locale_t loc;
	kpf_task *t;
	int r, n = 0;

	first_use(_metadata);
	loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	ASSERT_NE((locale_t)0, loc);
	uselocale(loc);
	errno = ERANGE;
	for (r = kpf_launch(&t, plain_task, &s, 1 * MS);
	     r == KPF_PREEMPTED; r = kpf_resume(t, 1 * MS)) {
		n++;
		EXPECT_EQ(ERANGE, errno) TH_LOG("preemption %d", n);
		EXPECT_EQ(loc, uselocale((locale_t)0)) TH_LOG("preemption %d", n);
		errno = ERANGE;
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_LE(1, n);
	EXPECT_EQ(ERANGE, errno);
	EXPECT_EQ(loc, uselocale((locale_t)0));
	EXPECT_EQ(loc, s.loc_in_task);
	uselocale(LC_GLOBAL_LOCALE);
	freelocale(loc);
}

/*
 * A task that never calls uselocale() runs with its launcher's locale of
 * the moment, like its mask: the launcher's change between resumes
 * reaches it (before: it kept the launcher's locale of its first stop).
 */
TEST(launcher_locale_changes_between_resumes)
{
	struct seen s = { 0 };
	locale_t loc;
	kpf_task *t;
	int r, n = 0;

	loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	ASSERT_NE((locale_t)0, loc);
	/*
	 * The launcher changes its locale at the first preemption after the
	 * task has read its own: a slow kernel may stop the task before its
	 * first instruction, and then it starts with the new locale.
	 */
	for (r = kpf_launch(&t, plain_task, &s, 1 * MS);
	     r == KPF_PREEMPTED; r = kpf_resume(t, 1 * MS)) {
		EXPECT_EQ(n ? loc : LC_GLOBAL_LOCALE, uselocale((locale_t)0))
			TH_LOG("the launcher's locale, preemption %d", n);
		if (!n && __atomic_load_n(&s.loc_in_task, __ATOMIC_RELAXED)) {
			uselocale(loc);
			n = 1;
		}
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_EQ(1, n) TH_LOG("the task was never stopped after it started");
	EXPECT_EQ(LC_GLOBAL_LOCALE, s.loc_in_task);
	EXPECT_EQ(loc, s.loc_at_end) TH_LOG("the task after the change");
	uselocale(LC_GLOBAL_LOCALE);
	freelocale(loc);
}

/*
 * A program's signal handler that runs inside a task: the kernel runs it
 * with its sa_mask and the signal blocked on top of the task's mask, and
 * sigreturn puts the task's back. Neither the handler's mask nor its
 * changes may reach the launcher. Before (tests/probes/p1): a handler
 * that called pthread_sigmask() had its mask (SIGUSR1 blocked) recorded
 * as the launcher's, and a task stopped inside a handler gave the
 * handler's mask to its launcher: SIGUSR1 stayed blocked in the launcher.
 */
static volatile int handler_runs;
static volatile int handler_usr1_blocked;	/* inside, after a stop */

static void masking_handler(int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	handler_runs++;
}

static void masking_siginfo_handler(int sig, siginfo_t *si, void *uc)
{
	masking_handler(sig);
}

static void raise_task(void *arg)
{
	raise(SIGUSR1);
}

static void handler_changes_mask(struct __test_metadata *_metadata,
				 int use_sigaction)
{
	struct sigaction sa;
	kpf_task *t;

	first_use(_metadata);
	if (use_sigaction) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = masking_siginfo_handler;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGUSR2);
		ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	} else {
		ASSERT_NE(SIG_ERR, signal(SIGUSR1, masking_handler));
	}
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, raise_task, NULL, KPF_FOREVER));
	EXPECT_EQ(1, handler_runs);
	EXPECT_EQ(0, blocked(SIGUSR1));
	EXPECT_EQ(0, blocked(SIGUSR2));
	if (use_sigaction) {
		/* the program reads back what it set */
		ASSERT_EQ(0, sigaction(SIGUSR1, NULL, &sa));
		EXPECT_EQ((void *)masking_siginfo_handler,
			  (void *)sa.sa_sigaction);
		EXPECT_TRUE(sa.sa_flags & SA_SIGINFO);
	} else {
		EXPECT_EQ((void *)masking_handler,
			  (void *)signal(SIGUSR1, SIG_DFL));
	}
}

TEST(handler_in_a_task_changing_its_mask)
{
	handler_changes_mask(_metadata, 0);
}

TEST(siginfo_handler_in_a_task_changing_its_mask)
{
	handler_changes_mask(_metadata, 1);
}

/*
 * A task that leaves from inside a handler. kpf_pause(): a preemption
 * would do the same, but an expiry in a handler run from inside a libc
 * call (raise()) waits for that call to return in a dynamic program
 * (automatic deferral), and timing must not decide.
 */
static void pausing_handler(int sig)
{
	handler_runs++;
	kpf_pause();
	handler_usr1_blocked = blocked(SIGUSR1);
}

TEST(task_paused_inside_a_handler)
{
	int r, stops = 0, leaked = 0;
	kpf_task *t;

	first_use(_metadata);
	ASSERT_NE(SIG_ERR, signal(SIGUSR1, pausing_handler));
	r = kpf_launch(&t, raise_task, NULL, KPF_FOREVER);
	while (r == KPF_PREEMPTED) {
		if (handler_runs) {
			stops++;
			leaked += blocked(SIGUSR1);
		}
		r = kpf_resume(t, KPF_FOREVER);
	}
	ASSERT_EQ(KPF_DONE, r);
	EXPECT_EQ(1, stops);
	EXPECT_EQ(0, leaked) TH_LOG("SIGUSR1 blocked in the launcher while the task was in its handler");
	/* the handler had its own mask back when it was resumed */
	EXPECT_EQ(1, handler_usr1_blocked);
	EXPECT_EQ(0, blocked(SIGUSR1));
}

TEST_HARNESS_MAIN
