// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Automatic deferral (issue 7, section 1): tasks preempted every 20 us
 * while they call libc, and the launcher calling the same libc state
 * between slices. Without deferral (KPF_DEFER_AUTO=0) the first four
 * corrupt the heap, deadlock or hang; each test has an alarm so a hang is
 * a failure. The rest are the hard cases of the stub: varargs, stack
 * arguments, callbacks, longjmp, exit/pthread_exit/fork, dlopen.
 *
 * Built several ways (tests/Makefile): PIE with full RELRO, non-PIE with
 * lazy binding, -fno-plt (GLOB_DAT calls); all must pass.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "defer_test.h"

#define BUDGET_NS	20000
#define ALARM_S		60
/* the allocation tests: CPU-bound, 10-40 s on a loaded 2-CPU host */
#define HEAVY_S		280

FIXTURE(heavy) {
	int unused;
};

FIXTURE_SETUP(heavy)
{
}

FIXTURE_TEARDOWN(heavy)
{
}

static struct kpf_stats stats_now(void)
{
	struct kpf_stats s = { .size = sizeof(s) };

	kpf_thread_stats(&s);
	return s;
}

/* ---- the heap: a task allocating ~3% of its time ---- */

struct alloc_arg {
	unsigned int iters;
	unsigned int done;	/* iterations run (defer_test_more) */
	unsigned long check;
};

static void alloc_task(void *p)
{
	struct alloc_arg *a = p;
	unsigned char *live[64] = { 0 };
	unsigned int i, j;

	for (i = 0; defer_test_more(i, a->iters); i++) {
		defer_test_compute(1500);
		j = i % 64;
		if (live[j])
			a->check += live[j][0] + live[j][15];
		free(live[j]);
		live[j] = malloc(16 + (i * 37) % 2000);
		if (!live[j])
			abort();
		memset(live[j], (int)(i & 0xff), 16);
	}
	a->done = i;
	for (j = 0; j < 64; j++)
		free(live[j]);
}

static void alloc_between(void *p)
{
	static void *keep[16];
	static unsigned int k;

	free(keep[k % 16]);
	keep[k % 16] = malloc(24 + (k * 91) % 3000);
	if (!keep[k % 16])
		abort();
	memset(keep[k % 16], 1, 24);
	k++;
}

/* the check sum the task computes when nothing goes wrong */
static unsigned long alloc_expected(unsigned int iters)
{
	unsigned long sum = 0;
	unsigned int i;

	for (i = 64; i < iters; i++)
		sum += 2 * ((i - 64) & 0xff);
	return sum;
}

TEST_F_TIMEOUT(heavy, malloc_task_and_launcher, HEAVY_S + 10)
{
	struct alloc_arg a = { .iters = defer_test_n(60000) };
	unsigned long resumes;

	alarm(HEAVY_S);
	defer_test_want(20);
	ASSERT_EQ(KPF_DONE, defer_test_drive(alloc_task, &a, BUDGET_NS,
					     alloc_between, NULL, &resumes));
	ASSERT_GT(a.done, 64U);
	ASSERT_EQ(alloc_expected(a.done), a.check);
	TH_LOG("%lu resumes, %llu expiries deferred in a library", resumes,
	       (unsigned long long)stats_now().deferred_in_library);
	ASSERT_GT(resumes, 10UL);
}

static volatile int other_stop;

static void *other_thread_allocs(void *unused)
{
	void *p;

	while (!__atomic_load_n(&other_stop, __ATOMIC_RELAXED)) {
		p = malloc(200);
		free(p);
		usleep(50);
	}
	return NULL;
}

TEST_F_TIMEOUT(heavy, malloc_with_a_second_thread, HEAVY_S + 10)
{
	struct alloc_arg a = { .iters = defer_test_n(60000) };
	unsigned long resumes;
	pthread_t th;

	alarm(HEAVY_S);
	ASSERT_EQ(0, pthread_create(&th, NULL, other_thread_allocs, NULL));
	defer_test_want(20);
	ASSERT_EQ(KPF_DONE, defer_test_drive(alloc_task, &a, BUDGET_NS,
					     alloc_between, NULL, &resumes));
	other_stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_GT(a.done, 64U);
	ASSERT_EQ(alloc_expected(a.done), a.check);
	ASSERT_GT(resumes, 10UL);
}

/* ---- stdio: one FILE written by the task and the launcher ---- */

static FILE *shared_file;
static unsigned int fprintf_lines, fprintf_done;

static void fprintf_task(void *p)
{
	unsigned int i;

	for (i = 0; defer_test_more(i, fprintf_lines); i++) {
		defer_test_compute(500);
		fprintf(shared_file, "task %u %s\n", i,
			"0123456789abcdefghijklmnopqrstuvwxyz");
	}
	fprintf_done = i;
}

static void fprintf_between(void *p)
{
	unsigned int *n = p;

	fprintf(shared_file, "launcher %u\n", (*n)++);
}

TEST(fprintf_shared_file)
{
	unsigned int nl = 0, tasks = 0, launcher = 0, v;
	unsigned long resumes;
	char line[256], tail[64];

	alarm(ALARM_S);
	fprintf_lines = defer_test_n(20000);
	shared_file = tmpfile();
	ASSERT_NE(NULL, shared_file);
	ASSERT_EQ(KPF_DONE, defer_test_drive(fprintf_task, NULL, BUDGET_NS,
					     fprintf_between, &nl, &resumes));
	rewind(shared_file);
	while (fgets(line, sizeof(line), shared_file)) {
		if (sscanf(line, "task %u %63s", &v, tail) == 2 &&
		    v == tasks &&
		    !strcmp(tail, "0123456789abcdefghijklmnopqrstuvwxyz")) {
			tasks++;
		} else if (sscanf(line, "launcher %u", &v) == 1 &&
			   v == launcher) {
			launcher++;
		} else {
			TH_LOG("bad line: %s", line);
			ASSERT_TRUE(0);
		}
	}
	fclose(shared_file);
	ASSERT_GT(fprintf_done, 0U);
	ASSERT_EQ(fprintf_done, tasks);
	ASSERT_EQ(nl, launcher);
	ASSERT_EQ(resumes, launcher);
}

/* ---- rand(): a lock inside libc ---- */

static void rand_task(void *p)
{
	unsigned long *sum = p;
	unsigned int i;

	for (i = 0; defer_test_more(i, defer_test_n(200000)); i++) {
		defer_test_compute(100);
		*sum += (unsigned long)rand();
	}
}

static void rand_between(void *p)
{
	unsigned long *sum = p;

	*sum += (unsigned long)rand();
}

TEST(rand_task_and_launcher)
{
	unsigned long sum = 0, lsum = 0, resumes;
	struct kpf_stats st;

	alarm(ALARM_S);
	srand(1);
	defer_test_want(20);
	ASSERT_EQ(KPF_DONE, defer_test_drive(rand_task, &sum, BUDGET_NS,
					     rand_between, &lsum, &resumes));
	st = stats_now();
	TH_LOG("%lu resumes; thread: %llu upcalls, %llu retries, %llu in a library, %llu arming calls",
	       resumes, (unsigned long long)st.upcalls,
	       (unsigned long long)st.retries,
	       (unsigned long long)st.deferred_in_library,
	       (unsigned long long)st.arm_syscalls);
	ASSERT_GT(resumes, 10UL);
	/* the sequence is still one sequence: nothing lost or repeated */
	ASSERT_GT(sum, 0UL);
}

/* ---- varargs with vector registers ---- */

static void printf_task(void *p)
{
	int *bad = p;
	char buf[256];
	unsigned int i;

	for (i = 0; defer_test_more(i, defer_test_n(30000)); i++) {
		snprintf(buf, sizeof(buf),
			 "%d %.3f %d %.3f %d %.3f %d %.3f %d %.3f",
			 1, 1.5, -2, 2.25, 3, -3.125, 4, 4.0625, (int)i % 7,
			 0.5 * (i % 3));
		if (strncmp(buf, "1 1.500 -2 2.250 3 -3.125 4 4.062 ", 34) ||
		    buf[34] != '0' + (int)(i % 7) ||
		    strcmp(buf + 35, i % 3 == 0 ? " 0.000" :
				     i % 3 == 1 ? " 0.500" : " 1.000"))
			(*bad)++;
		defer_test_compute(300);
	}
}

TEST(printf_ten_mixed_varargs)
{
	unsigned long resumes;
	int bad = 0;

	alarm(ALARM_S);
	defer_test_want(5);
	ASSERT_EQ(KPF_DONE, defer_test_drive(printf_task, &bad, BUDGET_NS,
					     NULL, NULL, &resumes));
	ASSERT_EQ(0, bad);
	ASSERT_GT(resumes, 0UL);
}

/* ---- stack arguments into a library declared deferred ---- */

long defertest_sum10(long a, long b, long c, long d, long e, long f,
		     long g, long h, long i, long j);
struct defertest_big {
	long v[6];
};

double defertest_mixed(int a, double x, struct defertest_big big, long b,
		       double y, int c, int d, int e, int f, int g);
long defertest_spin(unsigned long n, long (*cb)(long), long v);

static void stackargs_task(void *p)
{
	int *bad = p;
	struct defertest_big big = { { 1, 2, 3, 4, 5, 6 } };
	long i;

	for (i = 0; defer_test_more(i, defer_test_n(50000)); i++) {
		if (defertest_sum10(i, 1, 2, 3, 4, 5, 6, 7, 8, i) !=
		    i + 2 + 6 + 12 + 20 + 30 + 42 + 56 + 72 + 10 * i)
			(*bad)++;
		if (defertest_mixed(1, 0.5, big, 2, 0.25, 3, 4, 5, 6, i % 5) !=
		    1 + 1 + 91 + 6 + 1 + 3 + 20 + 30 + 42 + 8 * (i % 5))
			(*bad)++;
		defer_test_compute(200);
	}
}

/*
 * Called by the library at the start (v < 0) and at the end of its long
 * call: both reads are inside the call, so no preemption may come
 * between them, whatever happens before or after the call.
 */
static uint64_t spin_preempt0, spin_deferred0;

static long spin_cb(long v)
{
	struct kpf_stats s = stats_now();

	if (v < 0) {
		spin_preempt0 = s.preemptions;
		spin_deferred0 = s.deferred_in_library;
		return 0;
	}
	/* runs inside the deferred library's call: must not be preempted */
	defer_test_compute(200000);
	s = stats_now();
	spin_preempt0 = s.preemptions - spin_preempt0;
	spin_deferred0 = s.deferred_in_library - spin_deferred0;
	return v + 1;
}

static void spin_task(void *p)
{
	long *out = p;

	out[0] = defertest_spin(20000000, spin_cb, 41);
	out[1] = (long)spin_preempt0;
	out[2] = (long)spin_deferred0;
}

TEST(stack_args_and_kpf_defer_library)
{
	unsigned long resumes;
	long out[3] = { 0 };
	int bad = 0;

	alarm(ALARM_S);
	ASSERT_EQ(0, kpf_defer_library("libdefertest.so"));
	ASSERT_EQ(0, kpf_defer_library("libdefertest.so"));
	ASSERT_EQ(KPF_DONE, defer_test_drive(stackargs_task, &bad, BUDGET_NS,
					     NULL, NULL, &resumes));
	ASSERT_EQ(0, bad);
	/* ~20 ms in the library and its callback: deferred, not stopped */
	ASSERT_EQ(KPF_DONE, defer_test_drive(spin_task, out, BUDGET_NS,
					     NULL, NULL, &resumes));
	ASSERT_EQ(42, out[0]);
	ASSERT_EQ(0, out[1]);
	ASSERT_GT(out[2], 0);
}

/* ---- a callback of libc: qsort's comparator ---- */

#define NSORT 200000
static int *sort_v;
static unsigned long cmp_calls;
static uint64_t cmp_preemptions0;
static int cmp_preempted_inside;

static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	/* from the first call on, qsort must not be preempted */
	if (!cmp_calls)
		cmp_preemptions0 = stats_now().preemptions;
	else if (!(cmp_calls & 1023) &&
		 stats_now().preemptions != cmp_preemptions0)
		cmp_preempted_inside = 1;
	cmp_calls++;
	return (x > y) - (x < y);
}

static void qsort_task(void *p)
{
	long *deferred = p;
	struct kpf_stats before = stats_now();
	int i;

	cmp_calls = 0;
	for (i = 0; i < NSORT; i++)
		sort_v[i] = (int)((i * 2654435761u) % 1000003);
	qsort(sort_v, NSORT, sizeof(int), int_cmp);
	*deferred = (long)(stats_now().deferred_in_library -
			   before.deferred_in_library);
}

TEST(qsort_comparator_runs_deferred)
{
	unsigned long resumes;
	long deferred = 0;
	int i;

	alarm(ALARM_S);
	sort_v = malloc(NSORT * sizeof(int));
	ASSERT_NE(NULL, sort_v);
	ASSERT_EQ(KPF_DONE, defer_test_drive(qsort_task, &deferred,
					     BUDGET_NS, NULL, NULL,
					     &resumes));
	for (i = 1; i < NSORT; i++)
		ASSERT_LE(sort_v[i - 1], sort_v[i]);
	ASSERT_EQ(0, cmp_preempted_inside);
	ASSERT_GT(deferred, 0);
	free(sort_v);
}

/* ---- longjmp out of the comparator: the mark becomes stale ---- */

static jmp_buf jump_out;

static int jumping_cmp(const void *a, const void *b)
{
	if (++cmp_calls == 5000)
		longjmp(jump_out, 1);
	return *(const int *)a - *(const int *)b;
}

static void longjmp_task(void *p)
{
	long *preempted_after = p;
	uint64_t before;
	unsigned int i;
	int *v = malloc(100000 * sizeof(int));

	if (!v)
		abort();
	for (i = 0; i < 100000; i++)
		v[i] = (int)(i * 7919 % 100003);
	cmp_calls = 0;
	if (!setjmp(jump_out))
		qsort(v, 100000, sizeof(int), jumping_cmp);
	free(v);
	/* outside the library again: compute until preempted (or 5 s) */
	before = stats_now().preemptions;
	for (i = 0; i < 5000 && stats_now().preemptions == before; i++)
		defer_test_compute(1000000);
	*preempted_after = stats_now().preemptions != before;
}

TEST(longjmp_out_of_a_comparator)
{
	unsigned long resumes;
	long preempted_after = 0;

	alarm(ALARM_S);
	ASSERT_EQ(KPF_DONE, defer_test_drive(longjmp_task, &preempted_after,
					     BUDGET_NS, NULL, NULL,
					     &resumes));
	ASSERT_EQ(5000UL, cmp_calls);
	ASSERT_EQ(1, preempted_after);
}

/* ---- exit(), pthread_exit() and fork() inside a task ---- */

static void atexit_handler(void)
{
	char *p = malloc(100);

	snprintf(p, 100, "atexit ran\n");
	fputs(p, stderr);
	free(p);
}

static void exit_task(void *p)
{
	unsigned int i;

	atexit(atexit_handler);
	for (i = 0; i < 2000; i++) {
		free(malloc(64));
		defer_test_compute(2000);
	}
	exit(7);
}

TEST(exit_in_a_task)
{
	unsigned long resumes;
	int status;
	pid_t pid;

	alarm(ALARM_S);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		defer_test_drive(exit_task, NULL, BUDGET_NS, alloc_between,
				 NULL, &resumes);
		_exit(99);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(7, WEXITSTATUS(status));
}

static void pthread_exit_task(void *p)
{
	unsigned int i;

	for (i = 0; i < 2000; i++) {
		free(malloc(64));
		defer_test_compute(2000);
	}
	pthread_exit((void *)42);
}

static void *pthread_exit_thread(void *p)
{
	unsigned long resumes;

	defer_test_drive(pthread_exit_task, NULL, BUDGET_NS, alloc_between,
			 NULL, &resumes);
	return (void *)1;
}

TEST(pthread_exit_in_a_task)
{
	struct timespec until;
	void *ret = NULL;
	pthread_t th;

	alarm(ALARM_S);
	ASSERT_EQ(0, pthread_create(&th, NULL, pthread_exit_thread, NULL));
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	ASSERT_EQ(0, pthread_timedjoin_np(th, &ret, &until));
	ASSERT_EQ((void *)42, ret);
	/* the process is still healthy: a task runs on this thread */
	ASSERT_EQ(KPF_DONE, defer_test_drive(rand_task, &(unsigned long){ 0 },
					     BUDGET_NS, NULL, NULL,
					     &(unsigned long){ 0 }));
}

static void fork_task(void *p)
{
	int *status = p;
	unsigned int i;
	pid_t pid;

	for (i = 0; i < 500; i++) {
		free(malloc(100));
		defer_test_compute(2000);
	}
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < 500; i++) {
			free(malloc(100));
			defer_test_compute(2000);
		}
		exit(3);
	}
	if (pid < 0 || waitpid(pid, status, 0) != pid)
		*status = -1;
	for (i = 0; i < 500; i++)
		defer_test_compute(2000);
}

TEST(fork_in_a_task)
{
	unsigned long resumes;
	int status = 0;

	alarm(ALARM_S);
	ASSERT_EQ(KPF_DONE, defer_test_drive(fork_task, &status, BUDGET_NS,
					     alloc_between, NULL, &resumes));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(3, WEXITSTATUS(status));
}

/* ---- a library dlopen()ed by the task ---- */

struct dl_arg {
	unsigned long slots_before, slots_after, sum;
	int err;
};

static void dlopen_task(void *p)
{
	struct dl_arg *a = p;
	unsigned long (*work)(unsigned int);
	unsigned int i;
	void *h;

	a->slots_before = kpf_defer_auto_slots();
	/* a bare name: found through this program's $ORIGIN run path */
	h = dlopen("libdeferdl.so", RTLD_NOW);
	if (!h) {
		a->err = 1;
		return;
	}
	a->slots_after = kpf_defer_auto_slots();
	work = (unsigned long (*)(unsigned int))dlsym(h, "deferdl_work");
	if (!work) {
		a->err = 2;
		return;
	}
	for (i = 0; defer_test_more(i, defer_test_n(3000)); i++) {
		a->sum += work(20);
		defer_test_compute(1000);
	}
}

TEST(dlopen_in_a_task)
{
	struct dl_arg a = { 0 };
	unsigned long resumes, lsum = 0;

	alarm(ALARM_S);
	defer_test_want(5);
	ASSERT_EQ(KPF_DONE, defer_test_drive(dlopen_task, &a, BUDGET_NS,
					     rand_between, &lsum, &resumes));
	ASSERT_EQ(0, a.err);
	ASSERT_GT(a.sum, 0UL);
	/*
	 * The work is many budgets long on any machine: it was stopped and
	 * the launcher ran between (how often depends on the host's speed).
	 */
	ASSERT_GT(resumes, 0UL);
	/* its rand/malloc/free slots now go through stubs */
	if (kpf_defer_auto_slots())
		ASSERT_GE(a.slots_after, a.slots_before + 3);
}

/* ---- fork: parent and child add stubs independently ---- */

static void nothing(void *p)
{
}

TEST(fork_child_and_parent_add_stubs)
{
	int to_parent[2], to_child[2], status;
	unsigned long (*parse)(const char *);
	double (*parse2)(const char *);
	unsigned long resumes;
	char c = 0;
	void *h;
	pid_t pid;

	alarm(ALARM_S);
	/* initialized, stub region in place, before the fork */
	ASSERT_EQ(KPF_DONE, defer_test_drive(nothing, NULL, BUDGET_NS, NULL,
					     NULL, &resumes));
	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		h = dlopen("libdeferdl.so", RTLD_NOW);
		parse = h ? (unsigned long (*)(const char *))
			    dlsym(h, "deferdl_parse") : NULL;
		if (!parse || parse("  1234") != 1234)
			_exit(10);
		/* now the parent makes stubs of its own */
		if (write(to_parent[1], &c, 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(11);
		_exit(parse("  4321") == 4321 ? 0 : 12);
	}
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	h = dlopen("libdeferdl2.so", RTLD_NOW);
	ASSERT_NE(NULL, h);
	parse2 = (double (*)(const char *))dlsym(h, "deferdl2_parse");
	ASSERT_NE(NULL, (void *)parse2);
	ASSERT_EQ(2.5, parse2("x 2.5"));
	ASSERT_EQ(1, write(to_child[1], &c, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/* ---- bad input ---- */

TEST(defer_library_bad_input)
{
	char longname[300];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	ASSERT_EQ(-EINVAL, kpf_defer_library(NULL));
	ASSERT_EQ(-EINVAL, kpf_defer_library(""));
	ASSERT_EQ(-EINVAL, kpf_defer_library("/lib/libc.so.6"));
	ASSERT_EQ(-EINVAL, kpf_defer_library(longname));
	ASSERT_EQ(0, kpf_defer_library("libc.so.6"));
}

TEST_HARNESS_MAIN
