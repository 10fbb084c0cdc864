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
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
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

/* glibc's struct kernel_sigaction: rt_sigaction, which libkpf cannot see */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

#define KSA_RESTORER	0x04000000ul

/*
 * The program installs a handler for @sig with a raw rt_sigaction system
 * call: the one way left to replace libkpf's handler in the kernel.
 */
static void install_raw_handler(int sig)
{
	struct ksigaction k;

	/* glibc's restorer, from the disposition glibc installed */
	if (syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof(sigset_t) / 16))
		abort();
	k.handler = (void *)app_handler;
	k.flags = SA_SIGINFO | (k.restorer ? KSA_RESTORER : 0);
	k.mask = 0;
	if (syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(sigset_t) / 16))
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
 * The program replaces libkpf's handler with a raw rt_sigaction after a
 * launch, and launches again @sleep_ns later (past the 10 ms check).
 * (Through sigaction() or signal() the handler is not replaced: libkpf
 * records it, program_handler_set_after_init_is_passed_signals.)
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
	install_raw_handler(SIGRTMIN + 6);
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
	install_raw_handler(SIGRTMIN + 6);
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

static void plain_handler(int sig)
{
	app_count += 100;
}

/*
 * The program sets a handler for libkpf's signal with sigaction() or
 * signal() after libkpf took it: libkpf's handler stays in the kernel and
 * passes the program's signals on to it; the next launch is preempted
 * as before, and the program gets back what it set. Before: the handler
 * replaced libkpf's, the next launch failed with -EBUSY ("got another
 * handler").
 */
static void handler_set_after_init(struct __test_metadata *_metadata,
				   int use_signal)
{
	union sigval v = { .sival_int = 0 };
	int sig = SIGRTMIN + 4, i, want = use_signal ? 300 : 3;
	struct sigaction cur;

	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 1 * MS));
	if (use_signal) {
		EXPECT_EQ((void *)SIG_DFL, (void *)signal(sig, plain_handler));
	} else {
		install_app_handler(sig);
	}
	EXPECT_EQ(KPF_PREEMPTED, preempts());
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, sigqueue(getpid(), sig, v));
	EXPECT_EQ(want, app_count);
	ASSERT_EQ(0, sigaction(sig, NULL, &cur));
	if (use_signal) {
		EXPECT_EQ((void *)plain_handler, (void *)cur.sa_handler);
		EXPECT_TRUE(cur.sa_flags & SA_RESTART);
		EXPECT_EQ((void *)plain_handler,
			  (void *)signal(sig, SIG_DFL));
	} else {
		EXPECT_EQ((void *)app_handler, (void *)cur.sa_sigaction);
		EXPECT_TRUE(cur.sa_flags & SA_SIGINFO);
	}
	EXPECT_EQ(KPF_PREEMPTED, preempts());
}

TEST(program_handler_set_after_init_is_passed_signals)
{
	handler_set_after_init(_metadata, 0);
}

TEST(program_handler_set_with_signal_after_init_is_passed_signals)
{
	handler_set_after_init(_metadata, 1);
}

/*
 * A one-shot handler (sysv_signal(): SA_RESETHAND) for libkpf's signal:
 * the kernel runs libkpf's handler, which must reset the program's
 * disposition as the kernel would: the second signal ends the process.
 */
TEST(program_one_shot_handler_is_reset)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		union sigval v = { .sival_int = 0 };
		struct timespec ts = { .tv_nsec = 100 * MS };
		int sig = SIGRTMIN + 4;

		if (run_to_done(quick_task, NULL, 1 * MS) != KPF_DONE)
			_exit(2);
		if (sysv_signal(sig, plain_handler) != SIG_DFL)
			_exit(3);
		sigqueue(getpid(), sig, v);
		if (app_count != 100 || preempts() != KPF_PREEMPTED)
			_exit(4);
		sigqueue(getpid(), sig, v);
		nanosleep(&ts, NULL);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGRTMIN + 4)
		TH_LOG("status %#x", status);
}

/*
 * After a one-shot handler ran, sigaction() reads back SIG_DFL with the
 * flags the program set, as the kernel keeps them: for libkpf's signal
 * (recorded) and for another (through the trampoline, which the kernel
 * holds with SA_SIGINFO). It read SA_SIGINFO for a plain handler, or no
 * flags at all for libkpf's signal (tests/probes/p13).
 */
TEST(one_shot_handler_flags_read_back_as_set)
{
	int sigs[] = { SIGUSR2, SIGRTMIN + 4 }, i;
	struct sigaction sa, cur;

	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 1 * MS));
	for (i = 0; i < 2; i++) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = plain_handler;
		sa.sa_flags = SA_RESETHAND;
		ASSERT_EQ(0, sigaction(sigs[i], &sa, NULL));
		ASSERT_EQ(0, raise(sigs[i]));
		ASSERT_EQ(0, sigaction(sigs[i], NULL, &cur));
		EXPECT_EQ(SIG_DFL, cur.sa_handler);
		EXPECT_EQ(SA_RESETHAND, cur.sa_flags & (SA_RESETHAND | SA_SIGINFO))
			TH_LOG("signal %d: flags %#x", sigs[i], cur.sa_flags);
		sa.sa_handler = SIG_IGN;
		sa.sa_flags = 0;
		ASSERT_EQ(0, sigaction(sigs[i], &sa, NULL));
	}
}

/*
 * Another thread sets libkpf's signal to SIG_DFL or SIG_IGN while a task
 * runs (generic "reset every signal" code, a library restoring what it
 * saved before kpf_init()), with any of glibc's calls. It is the
 * program's disposition for the signals that are not libkpf's: the task
 * is still preempted, the program reads back what it set, and a signal
 * sent by somebody else gets that disposition. Before (tests/probes/p2):
 * SIG_DFL killed the process at the task's next expiry ("Real-time
 * signal 4"); with SIG_IGN the task was never stopped (a 20 s spin
 * returned KPF_DONE with a 10 ms budget).
 */
enum reset_how {
	RESET_SIGACTION_DFL,
	RESET_SIGACTION_IGN,
	RESET_SIGNAL_IGN,
	RESET_SYSV_SIGNAL_DFL,
	RESET_SIGSET_DFL,
	RESET_SIGIGNORE,
};

struct resetter {
	int sig;
	enum reset_how how;
	volatile int running;	/* the task ran */
	volatile int done;	/* the other thread set the disposition */
	volatile int seen;	/* the task saw that, still running */
};

static void *reset_thread(void *arg)
{
	struct resetter *r = arg;
	struct sigaction sa;

	while (!r->running)
		sched_yield();
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	switch (r->how) {
	case RESET_SIGACTION_DFL:
		sa.sa_handler = SIG_DFL;
		sigaction(r->sig, &sa, NULL);
		break;
	case RESET_SIGACTION_IGN:
		sa.sa_handler = SIG_IGN;
		sigaction(r->sig, &sa, NULL);
		break;
	case RESET_SIGNAL_IGN:
		signal(r->sig, SIG_IGN);
		break;
	case RESET_SYSV_SIGNAL_DFL:
		sysv_signal(r->sig, SIG_DFL);
		break;
	/* deprecated, but still in glibc and in old code */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	case RESET_SIGSET_DFL:
		sigset(r->sig, SIG_DFL);
		break;
	case RESET_SIGIGNORE:
		sigignore(r->sig);
		break;
#pragma GCC diagnostic pop
	}
	r->done = 1;
	return NULL;
}

static void reset_task(void *arg)
{
	struct resetter *r = arg;

	r->running = 1;
	while (!r->done)
		;
	r->seen = 1;
	spin_until_preempted(0);
}

static void reset_while_a_task_runs(struct __test_metadata *_metadata,
				    enum reset_how how)
{
	struct resetter r = { .sig = SIGRTMIN + 4, .how = how };
	int ign = how == RESET_SIGACTION_IGN || how == RESET_SIGNAL_IGN ||
		  how == RESET_SIGIGNORE;
	union sigval v = { .sival_int = 0 };
	struct sigaction cur;
	int res, status;
	pthread_t th;
	kpf_task *t;
	pid_t pid;

	ASSERT_EQ(0, pthread_create(&th, NULL, reset_thread, &r));
	res = kpf_launch(&t, reset_task, &r, 10 * MS);
	/* stopped before it saw the change: let it get that far */
	while (res == KPF_PREEMPTED && !r.seen)
		res = kpf_resume(t, 10 * MS);
	EXPECT_EQ(KPF_PREEMPTED, res);
	if (res == KPF_PREEMPTED)
		kpf_cancel(t);
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, sigaction(r.sig, NULL, &cur));
	EXPECT_EQ((void *)(ign ? SIG_IGN : SIG_DFL), (void *)cur.sa_handler);
	EXPECT_EQ(KPF_PREEMPTED, preempts());
	if (ign) {
		/* ignored, as the program asked */
		ASSERT_EQ(0, sigqueue(getpid(), r.sig, v));
		EXPECT_EQ(KPF_PREEMPTED, preempts());
		return;
	}
	/* the default action: the end of the process */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct timespec ts = { .tv_nsec = 100 * MS };

		kill(getpid(), r.sig);
		nanosleep(&ts, NULL);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == r.sig)
		TH_LOG("status %#x", status);
}

TEST(signal_reset_to_default_while_a_task_runs)
{
	reset_while_a_task_runs(_metadata, RESET_SIGACTION_DFL);
}

TEST(signal_ignored_while_a_task_runs)
{
	reset_while_a_task_runs(_metadata, RESET_SIGACTION_IGN);
}

TEST(signal_ignored_with_signal_while_a_task_runs)
{
	reset_while_a_task_runs(_metadata, RESET_SIGNAL_IGN);
}

TEST(signal_reset_with_sysv_signal_while_a_task_runs)
{
	reset_while_a_task_runs(_metadata, RESET_SYSV_SIGNAL_DFL);
}

TEST(signal_reset_with_sigset_while_a_task_runs)
{
	reset_while_a_task_runs(_metadata, RESET_SIGSET_DFL);
}

TEST(signal_ignored_with_sigignore_while_a_task_runs)
{
	reset_while_a_task_runs(_metadata, RESET_SIGIGNORE);
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
