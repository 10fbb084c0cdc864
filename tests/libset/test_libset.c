// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libsets with a non-reentrant library of our own (libnonreent.so.1: one
 * global parse in progress at a time, a second one aborts).
 *
 * - 30 tasks preempted over and over inside nr_parse() while the launcher
 *   parses between resumes: every result exact, preemptions inside the
 *   copies counted, the tasks beyond the number of copies fall back to
 *   deferred calls in the base copy;
 * - the same workload without libsets aborts ("reentered"): the test can
 *   fail;
 * - a finished task's copy is reused as it is, a cancelled task's copy
 *   (stopped half-way through a parse) is reloaded first;
 * - bad inputs: declaring after a launch, a bad or unknown name, a copy
 *   count the loader cannot give, KPF_LIBSETS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "../clock.h"
#include "libnonreent.h"
#include "../child.h"

#define LIB		"libnonreent.so.1"
#define NTASKS		30
#define PARSES		4
#define ROUNDS		400
#define BUDGET_NS	20000
#define WAVES_WALL_NS	60000000000ull

struct worker {
	char text[48];
	unsigned int rounds;	/* work per byte; 0 = ROUNDS */
	int parses;		/* completed */
	int wrong;		/* results that differ from nr_expected() */
	uint64_t want;
};

static void parse_loop(void *arg)
{
	struct worker *w = arg;
	unsigned int rounds = w->rounds ? w->rounds : ROUNDS;
	int i;

	for (i = 0; i < PARSES; i++) {
		if (nr_parse(w->text, rounds) != w->want)
			w->wrong++;
		w->parses++;
	}
}

struct run_result {
	int live_after_launch;	/* tasks preempted in their first slice */
	uint64_t copies_at_launch;	/* copies handed out in the launch wave */
	uint64_t taken_at_launch;	/* tasks that took a copy or fell back */
	int launcher_parses;
	int launcher_wrong;
	int task_wrong;
	int unfinished;
	int resumes;
};

/*
 * NTASKS tasks round-robin on this thread with BUDGET_NS budgets; the
 * launcher parses a text of its own between resumes.
 */
static void run_workload(struct run_result *r)
{
	static struct worker w[NTASKS];
	kpf_task *task[NTASKS];
	const char *mine = "the launcher's own text, parsed in between";
	uint64_t want_mine = nr_expected(mine, ROUNDS / 8);
	struct kpf_stats before = { .size = sizeof(before) };
	struct kpf_stats after = { .size = sizeof(after) };
	int i, live = 0, ret;

	memset(r, 0, sizeof(*r));
	kpf_thread_stats(&before);
	for (i = 0; i < NTASKS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		snprintf(w[i].text, sizeof(w[i].text),
			 "task %d parses this text, round %d", i, i * 7);
		w[i].want = nr_expected(w[i].text, ROUNDS);
		ret = kpf_launch(&task[i], parse_loop, &w[i], BUDGET_NS);
		if (ret == KPF_PREEMPTED)
			live++;
	}
	r->live_after_launch = live;
	kpf_thread_stats(&after);
	r->copies_at_launch = after.libset_copies - before.libset_copies;
	r->taken_at_launch = r->copies_at_launch +
			     after.libset_fallbacks - before.libset_fallbacks;
	while (live && r->resumes < 2000000) {
		for (i = 0; i < NTASKS; i++) {
			if (!task[i])
				continue;
			if (nr_parse(mine, ROUNDS / 8) != want_mine)
				r->launcher_wrong++;
			r->launcher_parses++;
			ret = kpf_resume(task[i], BUDGET_NS);
			r->resumes++;
			if (ret == KPF_DONE) {
				task[i] = NULL;
				live--;
			}
		}
	}
	for (i = 0; i < NTASKS; i++) {
		if (w[i].parses != PARSES)
			r->unfinished++;
		r->task_wrong += w[i].wrong;
	}
}

static uint64_t stat_sum_preemptions(struct kpf_stats *s)
{
	kpf_thread_stats(s);
	return s->preemptions;
}

/* generous: TCG guests on a loaded host are 10-50 times slower */
FIXTURE(heavy) {
	int unused;
};

FIXTURE_SETUP(heavy)
{
}

FIXTURE_TEARDOWN(heavy)
{
}

TEST_F_TIMEOUT(heavy, nonreent_30_tasks_in_copies, 300)
{
	struct run_result r;
	struct kpf_stats s = { .size = sizeof(s) };
	uint64_t first_wave, deadline;
	int copies, want_copies, waves;

	ASSERT_EQ(0, kpf_libset_declare(LIB));
	copies = kpf_libset_copies();
	ASSERT_GE(copies, 1);
	run_workload(&r);
	stat_sum_preemptions(&s);
	TH_LOG("%d copies; %d resumes, %llu preemptions, %llu inside a copy",
	       copies, r.resumes, (unsigned long long)s.preemptions,
	       (unsigned long long)s.libset_preemptions);
	TH_LOG("%llu copies handed out, %llu tasks fell back",
	       (unsigned long long)s.libset_copies,
	       (unsigned long long)s.libset_fallbacks);
	EXPECT_EQ(0, r.unfinished);
	EXPECT_EQ(0, r.task_wrong);
	EXPECT_EQ(0, r.launcher_wrong);
	EXPECT_GT(r.launcher_parses, 0);
	/* every task took a copy or fell back, once */
	EXPECT_EQ((uint64_t)NTASKS, s.libset_copies + s.libset_fallbacks);
	want_copies = copies < NTASKS ? copies : NTASKS;
	if (r.live_after_launch == NTASKS && r.taken_at_launch == NTASKS) {
		/*
		 * All were stopped in their first slice, after their first
		 * call: 30 held a copy or the base copy at the same time.
		 * (A task that finishes in its first slice - under valgrind,
		 * whose signals come late - gives its copy back early; one
		 * stopped before its first call - the debug kernel can stop a
		 * task before its first instruction - takes one later, maybe
		 * a copy another task gave back.)
		 */
		EXPECT_EQ((uint64_t)want_copies, r.copies_at_launch);
	} else {
		TH_LOG("%d tasks stopped in their first slice, %llu of them after their first call",
		       r.live_after_launch,
		       (unsigned long long)r.taken_at_launch);
	}
	/* with every task live, none gave a copy back for another */
	if (r.live_after_launch == NTASKS)
		EXPECT_GE((uint64_t)want_copies, r.copies_at_launch);
	/* the launcher's own parses and the fallback ones ran in the base */
	EXPECT_EQ((unsigned long)r.launcher_parses +
		  s.libset_fallbacks * PARSES, nr_parse_count());

	/* a second wave reuses the copies the first wave released */
	first_wave = s.libset_copies;
	waves = 1;
	deadline = now_ns() + WAVES_WALL_NS;
	do {
		run_workload(&r);
		waves++;
		EXPECT_EQ(0, r.unfinished);
		EXPECT_EQ(0, r.task_wrong);
		EXPECT_EQ(0, r.launcher_wrong);
		kpf_thread_stats(&s);
		/*
		 * The test is only worth something if tasks stopped inside a
		 * copy. How many do depends on the host: a loaded one delays
		 * the guest's timer interrupts by milliseconds (a CI run on
		 * the debug kernel: 29 of 30 tasks finished in their first
		 * 20 us slice, 0 stops inside a copy), so more waves run
		 * until one has, for up to WAVES_WALL_NS.
		 */
	} while (!s.libset_preemptions && now_ns() < deadline);
	TH_LOG("%d waves; %llu preemptions inside a copy", waves,
	       (unsigned long long)s.libset_preemptions);
	EXPECT_GT(s.libset_preemptions, 0U);
	EXPECT_EQ((uint64_t)waves * NTASKS,
		  s.libset_copies + s.libset_fallbacks);
	/* the released copies were handed out again */
	EXPECT_GT(s.libset_copies, first_wave);
}

static void workload_without_libsets(void)
{
	struct run_result r;

	run_workload(&r);
	/* only reached if no reentry was caught: report what went wrong */
	fprintf(stderr, "finished: %d wrong task results, %d wrong launcher results\n",
		r.task_wrong, r.launcher_wrong);
	_exit(r.task_wrong || r.launcher_wrong ? 3 : 0);
}

TEST_F_TIMEOUT(heavy, nonreent_without_libsets_fails, 300)
{
	struct child_result res;

	child_run(workload_without_libsets, &res);
	TH_LOG("without libsets: status 0x%x, stderr: %.200s", res.status,
	       res.err);
	/* preempted inside nr_parse, the launcher's parse reenters it */
	EXPECT_TRUE(child_aborted(&res) ||
		    (WIFEXITED(res.status) && WEXITSTATUS(res.status) == 3));
	if (child_aborted(&res))
		EXPECT_NE(NULL, strstr(res.err, "reentered"));
}

struct probe {
	unsigned long count_at_start;
	int busy_at_start;
	uint64_t result;
	int spin;
};

static void probe_task(void *arg)
{
	struct probe *p = arg;

	p->count_at_start = nr_parse_count();
	p->busy_at_start = nr_in_progress();
	p->result = nr_parse("probe", ROUNDS);
}

/* parses until cancelled */
static void endless_parse(void *arg)
{
	struct probe *p = arg;

	for (;;)
		p->result = nr_parse("a long text that keeps the parser busy for a while",
				     ROUNDS * 8);
}

TEST(copy_reuse_and_reload)
{
	struct probe a = { 0 }, b = { 0 }, c = { 0 };
	struct kpf_stats s = { .size = sizeof(s) };
	kpf_task *t;
	int tries = 0;

	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "1", 1));
	ASSERT_EQ(0, kpf_libset_declare(LIB));
	ASSERT_EQ(1, kpf_libset_copies());

	/* a task that finishes leaves its copy as it is */
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, probe_task, &a, KPF_FOREVER));
	EXPECT_EQ(0U, a.count_at_start);
	EXPECT_EQ(nr_expected("probe", ROUNDS), a.result);
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, probe_task, &b, KPF_FOREVER));
	EXPECT_EQ(1U, b.count_at_start);		/* the same copy, reused */
	EXPECT_EQ(0, b.busy_at_start);

	/* stop a task inside the copy, half-way through a parse */
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&t, endless_parse, &c, BUDGET_NS));
	for (;;) {
		kpf_thread_stats(&s);
		if (s.libset_preemptions)
			break;
		ASSERT_LT(++tries, 100000);
		ASSERT_EQ(KPF_PREEMPTED, kpf_resume(t, BUDGET_NS));
	}
	kpf_cancel(t);

	/* the only copy was reloaded: fresh state, not a parse in progress */
	memset(&b, 0, sizeof(b));
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, probe_task, &b, KPF_FOREVER));
	EXPECT_EQ(0, b.busy_at_start);
	EXPECT_EQ(0U, b.count_at_start);
	EXPECT_EQ(nr_expected("probe", ROUNDS), b.result);
	EXPECT_EQ(1, kpf_libset_copies());
}

static void nothing(void *arg)
{
}

struct mover {
	kpf_task *task;
	int ret;
	int resumes;
};

/* another thread finishes the task: the copy goes with it */
static void *resume_elsewhere(void *arg)
{
	struct mover *m = arg;

	do {
		/* the other thread's launcher parses in the base meanwhile */
		m->ret = kpf_resume(m->task, BUDGET_NS);
		m->resumes++;
	} while (m->ret == KPF_PREEMPTED);
	return NULL;
}

/* parses until told to stop */
struct until_stopped {
	const char *text;
	uint64_t want;
	volatile int stop;
	int parses;
	int wrong;
};

static void parse_until_stopped(void *arg)
{
	struct until_stopped *u = arg;

	while (!u->stop) {
		if (nr_parse(u->text, ROUNDS) != u->want)
			u->wrong++;
		u->parses++;
	}
}

TEST(task_moves_threads_with_its_copy)
{
	struct until_stopped u = { .text = "a task that moves between threads" };
	struct mover m = { 0 };
	struct kpf_stats s = { .size = sizeof(s) };
	pthread_t th;
	int tries = 0;

	u.want = nr_expected(u.text, ROUNDS);
	ASSERT_EQ(0, kpf_libset_declare(LIB));
	/* it moves to another thread: it must be launched as migrating */
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch_flags(&m.task, parse_until_stopped,
						  &u, BUDGET_NS,
						  KPF_LAUNCH_MIGRATE));
	/* until it was stopped inside its copy, half-way through a parse */
	for (;;) {
		kpf_thread_stats(&s);
		if (s.libset_preemptions)
			break;
		ASSERT_LT(++tries, 1000000);
		ASSERT_EQ(KPF_PREEMPTED, kpf_resume(m.task, BUDGET_NS));
	}
	u.stop = 1;	/* it finishes the parse it is in, on the other thread */
	ASSERT_EQ(0, pthread_create(&th, NULL, resume_elsewhere, &m));
	EXPECT_EQ(nr_expected("launcher", ROUNDS), nr_parse("launcher", ROUNDS));
	pthread_join(th, NULL);
	EXPECT_EQ(KPF_DONE, m.ret);
	EXPECT_GE(u.parses, 1);
	EXPECT_EQ(0, u.wrong);
	EXPECT_EQ(1U, nr_parse_count());		/* only the launcher's */
}

struct nest {
	struct worker inner;
	int inner_done;
	unsigned long outer_parses;
	unsigned long outer_count, inner_count;
	uint64_t outer_result;
};

static void inner_task(void *arg)
{
	struct nest *n = arg;

	parse_loop(&n->inner);
	n->inner_count = nr_parse_count();
}

/* a task launching a task: each in a copy of its own */
static void outer_task(void *arg)
{
	struct nest *n = arg;
	kpf_task *t;
	int ret;

	n->outer_result = nr_parse("outer", ROUNDS);	/* takes a copy */
	n->outer_parses++;
	ret = kpf_launch(&t, inner_task, &n->inner, BUDGET_NS);
	while (ret == KPF_PREEMPTED) {
		n->outer_result = nr_parse("outer", ROUNDS);
		n->outer_parses++;
		ret = kpf_resume(t, BUDGET_NS);
	}
	n->inner_done = ret == KPF_DONE;
	n->outer_count = nr_parse_count();
}

TEST(nested_tasks_have_their_own_copies)
{
	struct nest n = { .inner = { .text = "the inner task's text",
				     .rounds = 20 * ROUNDS } };
	kpf_task *t;
	int ret;

	n.inner.want = nr_expected(n.inner.text, n.inner.rounds);
	ASSERT_EQ(0, kpf_libset_declare(LIB));
	ret = kpf_launch(&t, outer_task, &n, 10 * BUDGET_NS);
	while (ret == KPF_PREEMPTED) {
		nr_parse("launcher", ROUNDS / 8);
		ret = kpf_resume(t, 10 * BUDGET_NS);
	}
	EXPECT_EQ(KPF_DONE, ret);
	EXPECT_TRUE(n.inner_done);
	EXPECT_EQ(0, n.inner.wrong);
	EXPECT_EQ(PARSES, n.inner.parses);
	EXPECT_EQ(nr_expected("outer", ROUNDS), n.outer_result);
	/* the counts are per copy: each saw only its own parses */
	EXPECT_EQ((unsigned long)PARSES, n.inner_count);
	EXPECT_EQ(n.outer_parses, n.outer_count);
	/* (in a TCG guest the inner task may finish in one slice) */
	TH_LOG("the inner task was resumed %lu times", n.outer_parses - 1);
}

/* takes a copy, then pauses until cancelled */
static void copy_then_pause(void *arg)
{
	nr_parse_count();
	for (;;)
		kpf_pause();
}

struct arg_probe {
	double args, vsum;
	unsigned long count;
};

/* the first call into the libset goes through the first-call path */
static void args_first(void *arg)
{
	struct arg_probe *p = arg;

	p->args = NR_ARGS_CALL;		/* takes the copy */
	p->vsum = NR_VSUM_CALL;		/* straight to the copy */
	p->count = nr_parse_count();
}

static void vsum_first(void *arg)
{
	struct arg_probe *p = arg;

	p->vsum = NR_VSUM_CALL;		/* varargs through the first call */
	p->args = NR_ARGS_CALL;
	p->count = nr_parse_count();
}

/*
 * Stack arguments, floating-point registers and varargs (al) survive the
 * dispatch stub, the first-call path and the fallback stubs.
 */
TEST(arguments_through_every_path)
{
	struct arg_probe a = { 0 }, b = { 0 }, c = { 0 };
	struct kpf_stats s = { .size = sizeof(s) };
	kpf_task *t, *hold1, *hold2;

	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "2", 1));
	ASSERT_EQ(0, kpf_libset_declare(LIB));
	EXPECT_EQ(NR_ARGS_WANT, NR_ARGS_CALL);		/* base table */
	EXPECT_EQ(NR_VSUM_WANT, NR_VSUM_CALL);
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, args_first, &a, KPF_FOREVER));
	EXPECT_EQ(NR_ARGS_WANT, a.args);
	EXPECT_EQ(NR_VSUM_WANT, a.vsum);
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, vsum_first, &b, KPF_FOREVER));
	EXPECT_EQ(NR_ARGS_WANT, b.args);
	EXPECT_EQ(NR_VSUM_WANT, b.vsum);

	/* both copies held by paused tasks: the next task falls back */
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&hold1, copy_then_pause, NULL,
					    KPF_FOREVER));
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&hold2, copy_then_pause, NULL,
					    KPF_FOREVER));
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, vsum_first, &c, KPF_FOREVER));
	EXPECT_EQ(NR_ARGS_WANT, c.args);
	EXPECT_EQ(NR_VSUM_WANT, c.vsum);
	kpf_thread_stats(&s);
	EXPECT_EQ(1U, s.libset_fallbacks);
	EXPECT_EQ(4U, s.libset_copies);
	kpf_cancel(hold1);
	kpf_cancel(hold2);
}

static uint64_t (*plugin_parse)(const char *s, unsigned int rounds);

static void plugin_task(void *arg)
{
	struct probe *p = arg;

	p->result = plugin_parse("probe", ROUNDS);
	p->count_at_start = nr_parse_count();	/* after: in its copy */
}

/*
 * A library dlopen()ed after the declaration (through automatic
 * deferral's dlopen wrapper) calls the task's copy too.
 */
TEST(dlopened_later_is_switched)
{
	char path[4096], *slash;
	struct probe p = { 0 };
	kpf_task *t;
	ssize_t n;
	void *h;

	ASSERT_EQ(0, kpf_libset_declare(LIB));
	ASSERT_EQ(0, kpf_init(NULL));
	n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	ASSERT_GT(n, 0);
	path[n] = 0;
	slash = strrchr(path, '/');
	ASSERT_NE(NULL, slash);
	strcpy(slash + 1, "libnrplugin.so");
	h = dlopen(path, RTLD_NOW);
	ASSERT_NE(NULL, h) TH_LOG("%s", dlerror());
	plugin_parse = (uint64_t (*)(const char *, unsigned int))dlsym(h, "plugin_parse");
	ASSERT_NE(NULL, plugin_parse);
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, plugin_task, &p, KPF_FOREVER));
	EXPECT_EQ(nr_expected("probe", ROUNDS), p.result);
	EXPECT_EQ(1U, p.count_at_start);		/* the parse ran in the copy */
	EXPECT_EQ(0U, nr_parse_count());		/* not in the base */
}

TEST(declare_bad_inputs)
{
	kpf_task *t;

	EXPECT_EQ(-EINVAL, kpf_libset_declare(NULL));
	EXPECT_EQ(-EINVAL, kpf_libset_declare(""));
	EXPECT_EQ(-EINVAL, kpf_libset_declare("libnonreent.so.1:libm.so.6"));
	EXPECT_EQ(-ENOENT, kpf_libset_declare("libkpf-no-such-library.so.9"));
	EXPECT_EQ(0, kpf_libset_copies());

	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "100000", 1));
	EXPECT_EQ(-EINVAL, kpf_libset_declare(LIB));
	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "zero", 1));
	EXPECT_EQ(-EINVAL, kpf_libset_declare(LIB));
	EXPECT_EQ(0, kpf_libset_copies());

	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "2", 1));
	EXPECT_EQ(0, kpf_libset_declare(LIB));
	EXPECT_EQ(2, kpf_libset_copies());
	EXPECT_EQ(0, kpf_libset_declare(LIB));	/* again: no change */
	EXPECT_EQ(2, kpf_libset_copies());

	ASSERT_EQ(KPF_DONE, kpf_launch(&t, nothing, NULL, KPF_FOREVER));
	EXPECT_EQ(-EBUSY, kpf_libset_declare("libm.so.6"));
}

/*
 * More copies than the loader can give (16 namespaces at most, fewer with
 * the default static TLS): refused, nothing declared. (glibc keeps the
 * static TLS the refused copies used, so this process cannot try again.)
 */
TEST(too_many_copies)
{
	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "200", 1));
	EXPECT_EQ(-ENOSPC, kpf_libset_declare(LIB));
	EXPECT_EQ(0, kpf_libset_copies());
	EXPECT_EQ(0U, nr_parse_count());
}

TEST(declare_after_launch)
{
	kpf_task *t;

	ASSERT_EQ(KPF_DONE, kpf_launch(&t, nothing, NULL, KPF_FOREVER));
	EXPECT_EQ(-EBUSY, kpf_libset_declare(LIB));
	EXPECT_EQ(0, kpf_libset_copies());
}

TEST(environment)
{
	struct probe p = { 0 };
	kpf_task *t;

	ASSERT_EQ(0, setenv("KPF_LIBSETS", "libkpf-no-such-library.so.9", 1));
	EXPECT_EQ(-ENOENT, kpf_init(NULL));
	/* two libraries: every copy holds both */
	ASSERT_EQ(0, setenv("KPF_LIBSETS", LIB ":libsqlite3.so.0", 1));
	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "3", 1));
	ASSERT_EQ(0, kpf_init(NULL));
	EXPECT_EQ(3, kpf_libset_copies());
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, probe_task, &p, KPF_FOREVER));
	EXPECT_EQ(nr_expected("probe", ROUNDS), p.result);
	EXPECT_EQ(0U, nr_parse_count());		/* it ran in a copy */
}

TEST_HARNESS_MAIN
