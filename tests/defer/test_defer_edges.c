// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Edge cases of automatic deferral found by a hostile review of issue 7:
 * each test stops (or would stop) a task in a place where the deferral
 * mark must keep it running, and asserts where it was actually stopped.
 * A hang is a failure (alarm).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "defer_test.h"

#define ALARM_S		60

/* set while the task runs a callback of a deferred library */
static volatile int in_callback;
static int stopped_in_callback;

/* Resume @t with @budget until done, counting stops inside a callback. */
static int run_counting(kpf_task *t, int rc, uint64_t budget)
{
	while (rc == KPF_PREEMPTED) {
		if (in_callback)
			stopped_in_callback++;
		rc = kpf_resume(t, budget);
	}
	return rc;
}

/* ---- a nested task launched from a dl_iterate_phdr() callback ---- */

static void nested_child(void *arg)
{
	defer_test_compute(defer_test_n(3000000));
}

static int launching_callback(struct dl_phdr_info *info, size_t size,
			      void *arg)
{
	kpf_task *t;
	int rc;

	in_callback = 1;
	/* bounded by the parent's budget: it runs out in here */
	rc = kpf_launch(&t, nested_child, NULL, KPF_FOREVER);
	while (rc == KPF_PREEMPTED)
		rc = kpf_resume(t, KPF_FOREVER);
	in_callback = 0;
	*(int *)arg = rc;
	return 1;
}

static void nesting_parent(void *arg)
{
	dl_iterate_phdr(launching_callback, arg);
}

/*
 * When the nested task stops at the parent's deadline, the parent (the
 * launcher, inside dl_iterate_phdr and so holding the loader lock) must
 * not be stopped in the callback: a second thread's dlopen would hang.
 */
TEST(nested_launch_in_callback_keeps_parent)
{
	kpf_task *t;
	int child_rc = -1, rc;

	alarm(ALARM_S);
	ASSERT_EQ(0, kpf_init(NULL));
	stopped_in_callback = 0;
	rc = kpf_launch(&t, nesting_parent, &child_rc, 50000);
	rc = run_counting(t, rc, 50000);
	ASSERT_EQ(KPF_DONE, rc);
	EXPECT_EQ(KPF_DONE, child_rc);
	TH_LOG("parent stopped inside dl_iterate_phdr's callback %d times",
	       stopped_in_callback);
	EXPECT_EQ(0, stopped_in_callback);
}

/* ---- kpf_defer_end() in a qsort() comparator ---- */

static int deferring_compare(const void *a, const void *b)
{
	in_callback = 1;
	kpf_defer_begin();
	defer_test_compute(defer_test_n(300000));
	/* the budget ran out in the section: not a place to stop */
	kpf_defer_end();
	in_callback = 0;
	return *(const int *)a - *(const int *)b;
}

static void sorting_task(void *arg)
{
	int *v = arg;

	qsort(v, 8, sizeof(*v), deferring_compare);
}

TEST(defer_end_in_callback_keeps_task)
{
	int v[8] = { 7, 3, 5, 1, 8, 2, 6, 4 }, i;
	kpf_task *t;
	int rc;

	alarm(ALARM_S);
	ASSERT_EQ(0, kpf_init(NULL));
	stopped_in_callback = 0;
	rc = kpf_launch(&t, sorting_task, v, 50000);
	rc = run_counting(t, rc, 50000);
	ASSERT_EQ(KPF_DONE, rc);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(i + 1, v[i]);
	TH_LOG("task stopped inside qsort's comparator %d times",
	       stopped_in_callback);
	EXPECT_EQ(0, stopped_in_callback);
}

/* ---- a libc call in a signal handler on the alternate stack ---- */

static volatile pid_t handler_pid;
static volatile int handler_on_altstack;

static void altstack_handler(int sig)
{
	stack_t ss;

	/* libc calls, through the deferral stubs */
	handler_pid = getpid();
	if (!sigaltstack(NULL, &ss))
		handler_on_altstack = !!(ss.ss_flags & SS_ONSTACK);
}

static int signalling_compare(const void *a, const void *b)
{
	in_callback = 1;
	raise(SIGUSR1);
	/* the budget runs out here, still inside qsort() */
	defer_test_compute(defer_test_n(300000));
	in_callback = 0;
	return *(const int *)a - *(const int *)b;
}

static void signalling_task(void *arg)
{
	int *v = arg;

	qsort(v, 8, sizeof(*v), signalling_compare);
}

/*
 * The handler runs on the alternate stack libkpf installed for the
 * thread; its libc calls must not take over the task's deferral mark (the
 * task was then preempted in the comparator, i.e. inside qsort(), and a
 * task preempted that way inside malloc corrupted the heap).
 */
TEST(altstack_handler_keeps_task_mark)
{
	struct sigaction sa = {
		.sa_handler = altstack_handler,
		.sa_flags = SA_ONSTACK | SA_RESTART,
	};
	int v[8] = { 7, 3, 5, 1, 8, 2, 6, 4 }, i;
	kpf_task *t;
	int rc;

	alarm(ALARM_S);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, kpf_init(NULL));
	stopped_in_callback = 0;
	rc = kpf_launch(&t, signalling_task, v, 50000);
	rc = run_counting(t, rc, 50000);
	ASSERT_EQ(KPF_DONE, rc);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(i + 1, v[i]);
	EXPECT_EQ(getpid(), handler_pid);
	EXPECT_EQ(1, handler_on_altstack);
	TH_LOG("task stopped inside qsort's comparator %d times",
	       stopped_in_callback);
	EXPECT_EQ(0, stopped_in_callback);
}

/* ---- function pointers taken before kpf_init() ---- */

typedef void (*qsort_fn)(void *, size_t, size_t,
			 int (*)(const void *, const void *));

/* taken by the program's constructor, and in main() before kpf_init() */
static qsort_fn ctor_qsort;
static qsort_fn volatile main_qsort;

__attribute__((constructor)) static void take_pointers(void)
{
	ctor_qsort = qsort;
}

static int spinning_compare(const void *a, const void *b)
{
	in_callback = 1;
	/* the budget runs out here, inside qsort() */
	defer_test_compute(defer_test_n(300000));
	in_callback = 0;
	return *(const int *)a - *(const int *)b;
}

static void early_pointer_task(void *arg)
{
	qsort_fn sort = *(qsort_fn *)arg;
	int v[8] = { 7, 3, 5, 1, 8, 2, 6, 4 }, i;

	sort(v, 8, sizeof(*v), spinning_compare);
	for (i = 0; i < 8; i++)
		if (v[i] != i + 1)
			abort();
}

/*
 * A call through a pointer read from the GOT before kpf_init() is
 * deferred like a direct one: the comparator is never preempted.
 */
TEST(pointer_taken_before_init_defers)
{
	qsort_fn sorts[2];
	kpf_task *t;
	int rc, i;

	alarm(ALARM_S);
	main_qsort = qsort;
	sorts[0] = ctor_qsort;
	sorts[1] = main_qsort;
	ASSERT_EQ(0, kpf_init(NULL));
	for (i = 0; i < 2; i++) {
		stopped_in_callback = 0;
		rc = kpf_launch(&t, early_pointer_task, &sorts[i], 50000);
		rc = run_counting(t, rc, 50000);
		ASSERT_EQ(KPF_DONE, rc);
		TH_LOG("%s: task stopped inside qsort's comparator %d times",
		       i ? "main" : "constructor", stopped_in_callback);
		EXPECT_EQ(0, stopped_in_callback);
	}
}

/*
 * Rewritten at load time, but KPF_CONFIG_NO_DEFER_AUTO still means
 * plain calls: kpf_init() points the slots back at libc.
 */
TEST(no_defer_auto_restores_slots)
{
	struct kpf_config cfg = {
		.size = sizeof(cfg), .flags = KPF_CONFIG_NO_DEFER_AUTO,
	};
	void *real = dlsym(RTLD_DEFAULT, "qsort");

	if (getenv("KPF_DEFER_AUTO"))
		SKIP(return, "KPF_DEFER_AUTO set: it overrides the flag");
	ASSERT_NE(NULL, real);
	main_qsort = qsort;
	EXPECT_NE(real, (void *)main_qsort);
	EXPECT_LT(0UL, kpf_defer_auto_slots());
	ASSERT_EQ(0, kpf_init(&cfg));
	main_qsort = qsort;
	EXPECT_EQ(real, (void *)main_qsort);
	EXPECT_EQ(0UL, kpf_defer_auto_slots());
}

/* ---- libc reached without a stub: deferred by its rip ---- */

static unsigned char *rip_buf;
static void *(*rip_memset)(void *, int, size_t);
#define RIP_BUF		(32u << 20)

static void rip_task(void *arg)
{
	int i;

	for (i = 0; i < 4; i++)
		rip_memset(rip_buf, i, RIP_BUF);
}

/*
 * memset called through a dlsym() pointer has no stub and no mark; an
 * expiry inside it is still deferred (counted) because its rip is libc's,
 * where the previous library stopped the task inside memset (0 deferred).
 * The GOT's memset is a stub, as every libc function is.
 */
TEST(dlsym_call_is_deferred_by_rip)
{
	struct kpf_stats s = { .size = sizeof(s) };
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	void *(*volatile ms)(void *, int, size_t) = memset;
	kpf_task *t;
	int rc;

	if (getenv("KPF_DEFER_AUTO"))
		SKIP(return, "KPF_DEFER_AUTO set");
	alarm(ALARM_S);
	ASSERT_NE(NULL, libc);
	ASSERT_EQ(0, kpf_init(NULL));
	rip_memset = (__typeof__(rip_memset))dlsym(libc, "memset");
	ASSERT_NE(NULL, rip_memset);
	EXPECT_NE((void *)rip_memset, (void *)ms);
	rip_buf = malloc(RIP_BUF);
	ASSERT_NE(NULL, rip_buf);
	rc = kpf_launch(&t, rip_task, NULL, 20000);
	while (rc == KPF_PREEMPTED)
		rc = kpf_resume(t, 20000);
	ASSERT_EQ(KPF_DONE, rc);
	ASSERT_EQ(0, kpf_thread_stats(&s));
	TH_LOG("%llu expiries deferred inside memset, %llu preemptions",
	       (unsigned long long)s.deferred_in_library,
	       (unsigned long long)s.preemptions);
	/* 128 MiB of memset take milliseconds: expiries landed in it */
	EXPECT_LT(0ULL, (unsigned long long)s.deferred_in_library);
	EXPECT_EQ(3, rip_buf[RIP_BUF - 1]);
	free(rip_buf);
}

/* ---- user code after a tail call into libc ---- */

static volatile int go_on;

/*
 * mode 0 tail-calls libc (jmp strlen@plt: the stub records the mark with
 * the return address into the caller's loop); mode 1 is user code that
 * waits until the launcher has seen the task preempted. Called twice from
 * the same call site, the second call's return address lies exactly
 * where the first recorded its mark.
 */
__attribute__((noinline)) static unsigned long tail_step(const char *s,
							 int mode)
{
	if (mode == 0)
		return strlen(s);
	while (!go_on)
		;
	return 0;
}

static void tail_task(void *arg)
{
	volatile unsigned long r = 0;
	volatile int i;

	for (i = 0; i < 2; i++)
		r += tail_step(arg, i);
}

/*
 * Only preemption ends the wait: before the fix the mark looked live
 * forever and this hung.
 */
TEST(user_code_after_tail_call_is_preemptible)
{
	kpf_task *t;
	int rc;

	alarm(ALARM_S);
	ASSERT_EQ(0, kpf_init(NULL));
	go_on = 0;
	rc = kpf_launch(&t, tail_task, "hello", 50000);
	ASSERT_EQ(KPF_PREEMPTED, rc);
	go_on = 1;
	while (rc == KPF_PREEMPTED)
		rc = kpf_resume(t, 50000);
	ASSERT_EQ(KPF_DONE, rc);
}

/* The same through one indirect call site: libc, then user code. */
static size_t user_spin(const char *s)
{
	while (!go_on)
		;
	return 0;
}

static void indirect_task(void *arg)
{
	size_t (*volatile fns[2])(const char *) = { strlen, user_spin };
	volatile size_t r = 0;
	volatile int i;

	for (i = 0; i < 2; i++)
		r += fns[i](arg);
}

TEST(user_code_after_indirect_libc_call_is_preemptible)
{
	kpf_task *t;
	int rc;

	alarm(ALARM_S);
	ASSERT_EQ(0, kpf_init(NULL));
	go_on = 0;
	rc = kpf_launch(&t, indirect_task, "hello", 50000);
	ASSERT_EQ(KPF_PREEMPTED, rc);
	go_on = 1;
	while (rc == KPF_PREEMPTED)
		rc = kpf_resume(t, 50000);
	ASSERT_EQ(KPF_DONE, rc);
}

/* ---- a program's signal handler interrupting a leaf call ---- */

static pthread_t sig_target;
static volatile int sig_stop;
static volatile unsigned long sig_handled;

static void spin_handler(int sig)
{
	volatile unsigned long i;

	for (i = 0; i < 20000; i++)	/* user code, tens of us */
		;
	sig_handled++;
}

static void *sig_kicker(void *unused)
{
	/* in a TCG guest every signal costs far more: fewer of them */
	struct timespec ts = { 0, getenv("KPF_GUEST") ? 200000 : 30000 };

	while (!sig_stop) {
		pthread_kill(sig_target, SIGUSR1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void arena_task(void *arg)
{
	unsigned long i;

	for (i = 0; i < (unsigned long)arg; i++) {
		/* above tcache's 1032 bytes: each call takes the arena lock */
		char *p = malloc(2000 + (i & 1023));
		char *q = malloc(5000);

		if (!p || !q)
			abort();
		free(p);
		free(q);
	}
}

/*
 * A handler that runs while the task is inside malloc runs user code on
 * the task's stack. Without a mark below it (malloc called without a
 * stub, or through a dlsym() pointer), stopping the task there
 * stops it holding the arena lock, and the launcher's malloc below then
 * waits forever (SIGALRM ends the test). Found by review of a library
 * that called malloc without a stub (deadlocked 10 of 10; reverted): a
 * stub's mark lies below the handler, so the expiry is deferred.
 */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

TEST_F_TIMEOUT(slow, signal_handler_inside_malloc_is_not_preempted, 290)
{
	struct sigaction sa = { .sa_handler = spin_handler,
				.sa_flags = SA_RESTART };
	pthread_t k;
	kpf_task *t;
	int rc, rounds = 0;
	time_t give_up;

	if (getenv("KPF_DEFER_AUTO"))
		SKIP(return, "KPF_DEFER_AUTO set");
	alarm(280);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	sig_target = pthread_self();
	ASSERT_EQ(0, pthread_create(&k, NULL, sig_kicker, NULL));
	/*
	 * Until signals came (at least 10): on a loaded host the kicker
	 * thread may not run at all while one task does (0 signals handled
	 * under two busy loops), which would prove nothing. 60 s at most.
	 */
	give_up = time(NULL) + 60;
	do {
		rc = kpf_launch(&t, arena_task,
				(void *)(unsigned long)defer_test_n(200000),
				20000);
		while (rc == KPF_PREEMPTED) {
			void *x = malloc(3000);

			free(x);
			rc = kpf_resume(t, 20000);
		}
		rounds++;
	} while (rc == KPF_DONE && sig_handled < 10 && time(NULL) < give_up);
	sig_stop = 1;
	pthread_join(k, NULL);
	TH_LOG("%lu signals handled in %d tasks", sig_handled, rounds);
	ASSERT_EQ(KPF_DONE, rc);
	EXPECT_LT(0UL, sig_handled);
}

TEST_HARNESS_MAIN
