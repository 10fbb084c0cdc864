// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The program's signals and the signal backend: libkpf picks a real-time
 * signal nobody handles, refuses one in use, leaves signals that are not
 * its own to the program, and notices at launch when its signal was
 * taken over or blocked (kpf_launch() fails with -EBUSY and a message)
 * instead of running tasks without a time limit. Bad KPF_SIGNAL values
 * fail kpf_init() with a message. On the kmod backend no signal is used:
 * the same programs must simply work.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "stderr_capture.h"
#include "clock.h"
#include "run_to_done.h"
#include "spin.h"

#define MS	1000000ull

/* Which backend kpf_init() will choose (without initializing it). */
static int signal_backend(void)
{
	const char *env = getenv("KPF_BACKEND");
	int fd;

	if (env && !strcmp(env, "signal"))
		return 1;
	if (env && !strcmp(env, "kmod"))
		return 0;
	fd = open("/dev/kpf", O_RDWR);
	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

static void spin_task(void *arg)
{
	uint64_t end = now_ns() + *(uint64_t *)arg;

	while (now_ns() < end)
		;
}

static void quick_task(void *arg)
{
}

static volatile int app_count;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	app_count++;
}

static void install_app_handler(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		abort();
}

/*
 * Launch a spin with a 1 ms budget: it must be preempted. The spin lasts
 * until then (it is cancelled): a fixed 200 ms could end before a task
 * descheduled across it was stopped (tests/spin.h).
 */
static int preempts(void)
{
	uint64_t spin = SPIN_GIVE_UP_NS;
	kpf_task *t;
	int r = kpf_launch(&t, spin_task, &spin, 1 * MS);

	if (r == KPF_PREEMPTED)
		kpf_cancel(t);
	return r;
}

TEST(bad_env_not_a_number)
{
	struct capture c;
	const char *err;
	int r;

	setenv("KPF_SIGNAL", "abc", 1);
	capture_begin(&c);
	r = kpf_init(NULL);
	err = capture_end(&c);
	EXPECT_EQ(-EINVAL, r);
	EXPECT_NE(NULL, strstr(err, "kpf: KPF_SIGNAL=abc is not a real-time signal"))
		TH_LOG("stderr: '%s'", err);
	EXPECT_STREQ("none", kpf_backend());
}

TEST(bad_env_not_realtime)
{
	struct capture c;
	const char *err;
	int r;

	setenv("KPF_SIGNAL", "10", 1);
	capture_begin(&c);
	r = kpf_init(NULL);
	err = capture_end(&c);
	EXPECT_EQ(-EINVAL, r);
	EXPECT_NE(NULL, strstr(err, "kpf: KPF_SIGNAL=10 is not a real-time signal"))
		TH_LOG("stderr: '%s'", err);
}

/* The program owns SIGRTMIN + 4 (libkpf's old fixed choice) first. */
TEST(program_handler_installed_first)
{
	union sigval v = { .sival_int = 0 };
	int i;

	install_app_handler(SIGRTMIN + 4);
	ASSERT_EQ(0, kpf_init(NULL));
	ASSERT_EQ(KPF_PREEMPTED, preempts());
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, sigqueue(getpid(), SIGRTMIN + 4, v));
	/* queued real-time signals are delivered before sigqueue returns */
	EXPECT_EQ(5, app_count);
	ASSERT_EQ(KPF_PREEMPTED, preempts());
}

TEST(named_signal_in_use_is_refused)
{
	struct capture c;
	const char *err;
	char num[16];
	int r;

	install_app_handler(SIGRTMIN + 4);
	snprintf(num, sizeof(num), "%d", SIGRTMIN + 4);
	setenv("KPF_SIGNAL", num, 1);
	capture_begin(&c);
	r = kpf_init(NULL);
	err = capture_end(&c);
	if (!signal_backend()) {
		/* kmod needs no signal */
		EXPECT_EQ(0, r);
		EXPECT_EQ(KPF_PREEMPTED, preempts());
		return;
	}
	EXPECT_EQ(-EBUSY, r);
	EXPECT_NE(NULL, strstr(err, "already has a handler"))
		TH_LOG("stderr: '%s'", err);
}

/*
 * The program installs a handler for libkpf's signal with sigaction()
 * after a launch, and launches again @sleep_ns later. Right away (0) the
 * launch must see it too: before, the check ran at most every 10 ms and
 * the spin ran its whole 100 ms with a 1 ms budget (KPF_DONE).
 */
static void taken_over_after(struct __test_metadata *_metadata,
			     long sleep_ns)
{
	struct timespec ts = { .tv_nsec = sleep_ns };
	uint64_t spin = 100 * MS;
	struct capture c;
	const char *err;
	char num[16];
	kpf_task *t;
	int r;

	snprintf(num, sizeof(num), "%d", SIGRTMIN + 6);
	setenv("KPF_SIGNAL", num, 1);
	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 1 * MS));
	install_app_handler(SIGRTMIN + 6);
	if (sleep_ns)
		nanosleep(&ts, NULL);
	capture_begin(&c);
	r = kpf_launch(&t, spin_task, &spin, 1 * MS);
	err = capture_end(&c);
	if (!signal_backend()) {
		EXPECT_EQ(KPF_PREEMPTED, r);
		kpf_cancel(t);
		return;
	}
	EXPECT_EQ(-EBUSY, r);
	EXPECT_NE(NULL, strstr(err, "got another handler"))
		TH_LOG("stderr: '%s'", err);
}

/* The program installs a handler for libkpf's signal after it started. */
TEST(signal_taken_over_later)
{
	taken_over_after(_metadata, 20 * MS);
}

/* ... and right after a check: the overrun makes the next launch check */
TEST(signal_taken_over_noticed_after_overrun)
{
	uint64_t spin = 100 * MS;
	struct capture c;
	const char *err;
	char num[16];
	kpf_task *t;
	int r1, r2;

	snprintf(num, sizeof(num), "%d", SIGRTMIN + 6);
	setenv("KPF_SIGNAL", num, 1);
	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 1 * MS));
	install_app_handler(SIGRTMIN + 6);
	capture_begin(&c);
	r1 = kpf_launch(&t, spin_task, &spin, 1 * MS);
	r2 = kpf_launch(&t, spin_task, &spin, 1 * MS);
	err = capture_end(&c);
	if (!signal_backend()) {
		EXPECT_EQ(KPF_PREEMPTED, r1);
		return;
	}
	/* r1 ran without a limit (DONE) unless its launch checked already */
	EXPECT_TRUE(r1 == -EBUSY || (r1 == KPF_DONE && r2 == -EBUSY))
		TH_LOG("r1 %d r2 %d", r1, r2);
	EXPECT_NE(NULL, strstr(err, "got another handler"))
		TH_LOG("stderr: '%s'", err);
}

struct blocking {
	struct capture c;
	long sleep_ns;		/* between blocking and the next launch */
};

/* A thread that launched once, blocks every signal, then launches. */
static void *blocking_thread(void *arg)
{
	struct blocking *b = arg;
	struct timespec ts = { .tv_nsec = b->sleep_ns };
	sigset_t all;
	long r;

	if (run_to_done(quick_task, NULL, 1 * MS) != KPF_DONE)
		return (void *)-1L;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (b->sleep_ns)
		nanosleep(&ts, NULL);
	capture_begin(&b->c);
	r = preempts();
	capture_end(&b->c);
	return (void *)r;
}

/* Launch from a thread that blocks every signal @sleep_ns after a launch. */
static void blocked_after(struct __test_metadata *_metadata, long sleep_ns)
{
	struct blocking b = { .sleep_ns = sleep_ns };
	pthread_t th;
	void *r;

	ASSERT_EQ(0, pthread_create(&th, NULL, blocking_thread, &b));
	ASSERT_EQ(0, pthread_join(th, &r));
	if (!signal_backend()) {
		EXPECT_EQ(KPF_PREEMPTED, (long)r);
		return;
	}
	EXPECT_EQ(-EBUSY, (long)r);
	EXPECT_NE(NULL, strstr(b.c.text, "is blocked in this thread"))
		TH_LOG("stderr: '%s'", b.c.text);
}

TEST(signal_blocked_in_thread)
{
	blocked_after(_metadata, 20 * MS);
}

/*
 * A task that blocks every signal: on the signal backend libkpf's own is
 * left unblocked (as glibc keeps its internal ones), the rest really are.
 * Before: the task ran its whole 2 s with a 1 ms budget and returned
 * KPF_DONE. kmod needs no signal and must preempt it as well.
 */
static void block_all_task(void *arg)
{
	uint64_t spin = 2000 * MS;
	sigset_t all, now;
	int *usr1_blocked = arg;

	sigfillset(&all);
	if (usr1_blocked[1])
		sigprocmask(SIG_BLOCK, &all, NULL);
	else
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	usr1_blocked[0] = sigismember(&now, SIGUSR1);
	spin_task(&spin);
}

static void task_blocks_every_signal(struct __test_metadata *_metadata,
				     int use_sigprocmask)
{
	int arg[2] = { -1, use_sigprocmask };
	uint64_t t0 = now_ns(), took;
	kpf_task *t;
	int r;

	r = kpf_launch(&t, block_all_task, arg, 1 * MS);
	/*
	 * Stopped before it blocked anything (the debug kernel can stop a
	 * task before its first instruction): let it get that far. A stop
	 * seen after arg[0] was set came after the block.
	 */
	while (r == KPF_PREEMPTED && arg[0] == -1) {
		t0 = now_ns();
		r = kpf_resume(t, 1 * MS);
	}
	took = now_ns() - t0;
	EXPECT_EQ(KPF_PREEMPTED, r) TH_LOG("returned after %.1f ms",
					   took / 1e6);
	EXPECT_EQ(1, arg[0]);
	if (r == KPF_PREEMPTED)
		kpf_cancel(t);
	/* the launcher's mask never had them blocked */
	EXPECT_EQ(KPF_PREEMPTED, preempts());
}

TEST(task_blocking_every_signal_is_preempted)
{
	task_blocks_every_signal(_metadata, 0);
}

TEST(task_blocking_every_signal_with_sigprocmask_is_preempted)
{
	task_blocks_every_signal(_metadata, 1);
}

/*
 * Without libkpf, a real-time signal nobody handles ends the process;
 * libkpf took the first free one (SIGRTMIN + 4) and swallowed it when
 * somebody else sent it. Its default action must stay.
 */
TEST(foreign_signal_keeps_its_default_action)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct timespec ts = { .tv_nsec = 100 * MS };

		if (run_to_done(quick_task, NULL, 1 * MS) != KPF_DONE)
			_exit(2);
		kill(getpid(), SIGRTMIN + 4);
		nanosleep(&ts, NULL);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGRTMIN + 4)
		TH_LOG("status %#x", status);
}

/* Blocked through pthread_sigmask() right after a launch: seen at once. */
TEST(signal_blocked_right_after_a_launch)
{
	blocked_after(_metadata, 0);
}

TEST(signal_taken_over_just_after_a_launch)
{
	taken_over_after(_metadata, 0);
}

/*
 * A program that takes SIGRTMIN + 4 with sigwaitinfo() blocks it and has
 * no handler for it: libkpf must pick another signal (it took this one,
 * unblocked it in the thread at its first launch and then swallowed, or
 * after the default-action fix died of, the program's signal).
 */
TEST(blocked_signal_is_not_taken)
{
	struct timespec ts = { .tv_sec = 5 };
	union sigval v = { .sival_int = 42 };
	sigset_t set;
	siginfo_t si;

	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 4);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &set, NULL));
	ASSERT_EQ(0, kpf_init(NULL));
	ASSERT_EQ(KPF_PREEMPTED, preempts());
	ASSERT_EQ(0, sigqueue(getpid(), SIGRTMIN + 4, v));
	EXPECT_EQ(SIGRTMIN + 4, sigtimedwait(&set, &si, &ts));
	EXPECT_EQ(42, si.si_value.sival_int);
	EXPECT_EQ(KPF_PREEMPTED, preempts());
}

/*
 * A task that waits for every real-time signal with sigtimedwait(): the
 * kernel hands a waited signal to the waiter, so it took the timer's
 * expiry itself (SI_TIMER), libkpf armed nothing more and the task ran
 * without a limit (a 10 ms budget ran 510 ms and returned KPF_DONE).
 * libkpf's sigtimedwait() leaves its signal out of a task's set: the
 * expiry interrupts the wait and stops the task as it returns. On kmod
 * the wait times out and the task is stopped as it returns as well.
 */
struct wait_result {
	int ret;		/* sigtimedwait()'s, INT_MIN until it returned */
	int err;
	int code;
};

static void rt_wait_task(void *arg)
{
	struct wait_result *w = arg;
	struct timespec ts = { .tv_nsec = 300 * MS };
	siginfo_t si = { 0 };
	sigset_t rt;
	int s, r;

	sigemptyset(&rt);
	for (s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(&rt, s);
	r = sigtimedwait(&rt, &si, &ts);
	w->err = errno;
	w->code = si.si_code;
	w->ret = r;
}

TEST(task_sigtimedwait_does_not_take_the_timer)
{
	struct wait_result w = { .ret = INT_MIN };
	int r, stops = 0;
	kpf_task *t;

	r = kpf_launch(&t, rt_wait_task, &w, 10 * MS);
	while (r == KPF_PREEMPTED) {
		stops++;
		r = kpf_resume(t, 10 * MS);
	}
	ASSERT_EQ(KPF_DONE, r);
	TH_LOG("sigtimedwait returned %d (errno %d, si_code %d), %d stops",
	       w.ret, w.err, w.code, stops);
	EXPECT_EQ(-1, w.ret);
	EXPECT_TRUE(w.err == EINTR || w.err == EAGAIN);
	/* the expiry was not the task's, and it stopped the task */
	EXPECT_LT(0, stops);
}

/* A bad set in a task: EFAULT, as with glibc (libkpf's copy crashed). */
static void bad_set_wait_task(void *arg)
{
	struct timespec zero = { 0 };
	int *res = arg;

	res[0] = sigtimedwait((const sigset_t *)8, NULL, &zero);
	res[1] = errno;
}

TEST(task_sigtimedwait_bad_set_is_efault)
{
	int res[2] = { 0, 0 }, probe = 1, copy = 0;
	struct iovec to = { &copy, sizeof(copy) };
	struct iovec from = { &probe, sizeof(probe) };

	/* libkpf reads a task's set with it where the kernel has it */
	if (signal_backend() &&
	    process_vm_readv(getpid(), &to, 1, &from, 1, 0) != sizeof(copy))
		SKIP(return, "process_vm_readv: %s (a plain read of a bad set faults)",
		     strerror(errno));
	ASSERT_EQ(KPF_DONE, run_to_done(bad_set_wait_task, res, 100 * MS));
	EXPECT_EQ(-1, res[0]);
	EXPECT_EQ(EFAULT, res[1]);
}

TEST_HARNESS_MAIN
