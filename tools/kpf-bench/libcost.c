// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 4, library costs: what libkpf's operations cost (launch and
 * return, pause and resume, launch + preempt + resume, cancel), per
 * backend, next to what users would reach for otherwise:
 * pthread_create+join, fork+wait and a swapcontext round trip.
 *
 * libkpf runs in a child process per backend (kb_in_child(): its backend
 * is chosen once per process). Without libkpf at build time (no
 * build/ulib/libkpf.a: KB_HAVE_LIBKPF is 0) the kpf rows say so. Writes
 * results.csv.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <kpf.h>

#include "bench.h"
#include "child.h"

#ifndef KB_HAVE_LIBKPF
#define KB_HAVE_LIBKPF	0
#endif

/* what kb_libcost_kpf() measures, in this order */
enum {
	KB_LC_LAUNCH_RETURN,
	KB_LC_LAUNCH_BUDGET,
	KB_LC_PAUSE_RESUME,
	KB_LC_PREEMPT_RESUME,
	KB_LC_CANCEL,
	KB_LC_KPF_NR
};

static const char *const kb_lc_kpf_ops[KB_LC_KPF_NR] = {
	"kpf_launch of an empty function (DONE)",
	"same with a 1 ms budget (arm; disarm on return)",
	"kpf_pause + kpf_resume round trip",
	"launch + preempt + resume (budget excluded)",
	"launch + pause + kpf_cancel",
};

#if KB_HAVE_LIBKPF
#define KB_LC_BUDGET_NS	(50 * NSEC_PER_USEC)

/* say which step failed, with its return value */
#define KB_LC_CHECK(expr, want) do {					\
	int __r = (expr);						\
	if (__r != (want)) {						\
		fprintf(stderr, "kpf-bench: libkpf %s: %s returned %d%s%s\n", \
			backend, #expr, __r, __r < 0 ? ": " : "",	\
			__r < 0 ? strerror(-__r) : "");			\
		return __r < 0 ? __r : -EIO;				\
	}								\
} while (0)

static volatile int kb_lc_release;

static void kb_lc_empty(void *arg)
{
	(void)arg;
}

static void kb_lc_pauser(void *arg)
{
	(void)arg;
	for (;;)
		kpf_pause();
}

static void kb_lc_spinner(void *arg)
{
	(void)arg;
	while (!kb_lc_release)
		__builtin_ia32_pause();
}

/**
 * kb_libcost_kpf() - time libkpf's operations with one backend
 * @arg: the backend, "kmod" or "signal"
 * @ns: receives KB_LC_KPF_NR times per operation, in ns
 *
 * Return: 0 or -errno.
 */
static int kb_libcost_kpf(const void *arg, double *ns)
{
	const char *backend = arg;
	struct kpf_config cfg = { .size = sizeof(cfg) };
	unsigned long n = kb_opt.ops, few = n / 10 ? n / 10 : 1, i;
	struct kpf_stats st0 = { .size = sizeof(st0) };
	struct kpf_stats st1 = { .size = sizeof(st1) };
	kpf_task *t;
	uint64_t t0, spent;

	setenv("KPF_BACKEND", backend, 1);
	cfg.backend = strcmp(backend, "kmod") ? KPF_BACKEND_SIGNAL : KPF_BACKEND_KMOD;
	KB_LC_CHECK(kpf_init(&cfg), 0);
	if (strcmp(kpf_backend(), backend)) {
		fprintf(stderr, "kpf-bench: libkpf: backend is %s, not %s\n",
			kpf_backend(), backend);
		return -ENODEV;
	}

	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		KB_LC_CHECK(kpf_launch(&t, kb_lc_empty, NULL, KPF_FOREVER), KPF_DONE);
	ns[KB_LC_LAUNCH_RETURN] = (double)(kb_now_ns() - t0) / n;

	/*
	 * A finite budget: the timer is armed at launch and, on the signal
	 * backend, really disarmed on return (no signal may reach a thread
	 * outside tasks); kmod only stores deadlines (arm_syscalls says).
	 */
	KB_LC_CHECK(kpf_thread_stats(&st0), 0);
	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		KB_LC_CHECK(kpf_launch(&t, kb_lc_empty, NULL, NSEC_PER_MSEC),
			    KPF_DONE);
	ns[KB_LC_LAUNCH_BUDGET] = (double)(kb_now_ns() - t0) / n;
	KB_LC_CHECK(kpf_thread_stats(&st1), 0);
	fprintf(stderr, "kpf-bench: libkpf %s: %.2f arming system calls per budgeted launch + return\n",
		backend, (double)(st1.arm_syscalls - st0.arm_syscalls) / n);

	KB_LC_CHECK(kpf_launch(&t, kb_lc_pauser, NULL, KPF_FOREVER), KPF_PREEMPTED);
	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		KB_LC_CHECK(kpf_resume(t, KPF_FOREVER), KPF_PREEMPTED);
	ns[KB_LC_PAUSE_RESUME] = (double)(kb_now_ns() - t0) / n;
	kpf_cancel(t);

	spent = 0;
	for (i = 0; i < few; i++) {
		kb_lc_release = 0;
		t0 = kb_now_ns();
		KB_LC_CHECK(kpf_launch(&t, kb_lc_spinner, NULL, KB_LC_BUDGET_NS),
			    KPF_PREEMPTED);
		kb_lc_release = 1;
		KB_LC_CHECK(kpf_resume(t, KPF_FOREVER), KPF_DONE);
		spent += kb_now_ns() - t0 - KB_LC_BUDGET_NS;
	}
	ns[KB_LC_PREEMPT_RESUME] = (double)spent / few;

	t0 = kb_now_ns();
	for (i = 0; i < n; i++) {
		KB_LC_CHECK(kpf_launch(&t, kb_lc_pauser, NULL, KPF_FOREVER),
			    KPF_PREEMPTED);
		kpf_cancel(t);
	}
	ns[KB_LC_CANCEL] = (double)(kb_now_ns() - t0) / n;
	return 0;
}
#else
/* built without libkpf: its rows say "libkpf not built" */
static int kb_libcost_kpf(const void *backend, double *ns)
{
	(void)backend;
	(void)ns;
	return -EOPNOTSUPP;
}
#endif

static void *kb_lc_thread(void *arg)
{
	return arg;
}

static double kb_lc_pthread(unsigned long n)
{
	uint64_t t0 = kb_now_ns();
	pthread_t t;
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (pthread_create(&t, NULL, kb_lc_thread, NULL))
			return -1;
		pthread_join(t, NULL);
	}
	return (double)(kb_now_ns() - t0) / n;
}

static double kb_lc_fork(unsigned long n)
{
	uint64_t t0 = kb_now_ns();
	unsigned long i;
	pid_t pid;

	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			return -1;
		if (!pid)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	return (double)(kb_now_ns() - t0) / n;
}

static ucontext_t kb_lc_main_ctx, kb_lc_co_ctx;

static void kb_lc_co(void)
{
	for (;;)
		swapcontext(&kb_lc_co_ctx, &kb_lc_main_ctx);
}

static double kb_lc_swapcontext(unsigned long n)
{
	static char stack[64 * 1024];
	unsigned long i;
	uint64_t t0;

	getcontext(&kb_lc_co_ctx);
	kb_lc_co_ctx.uc_stack.ss_sp = stack;
	kb_lc_co_ctx.uc_stack.ss_size = sizeof(stack);
	kb_lc_co_ctx.uc_link = NULL;
	makecontext(&kb_lc_co_ctx, kb_lc_co, 0);
	swapcontext(&kb_lc_main_ctx, &kb_lc_co_ctx);
	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		swapcontext(&kb_lc_main_ctx, &kb_lc_co_ctx);
	return (double)(kb_now_ns() - t0) / n;
}

static void kb_lc_row(const char *backend, const char *op, double ns,
		      double ref)
{
	char buf[32];

	printf("%-8s %-44s %12s", backend, op, kb_fmt_ns(buf, sizeof(buf), ns));
	if (ref > 0)
		printf("   %8.3fx", ns / ref);
	printf("\n");
	kb_result("libcost", backend, op, "time_per_op", ns, "ns");
}

/**
 * kb_bench_libcost() - benchmark 4: library costs against the alternatives
 *
 * Return: 0, or 1 on failure.
 */
int kb_bench_libcost(void)
{
	unsigned long n = kb_opt.ops, heavy = n / 20 ? n / 20 : 1;
	double base[3], kpf[2][KB_LC_KPF_NR];
	const char *const *kpf_backend = kb_backend_name;
	bool kpf_ok[2] = { false, false };
	unsigned int b, i;

	if (heavy > 500)
		heavy = 500;
	kb_progress("libcost: %lu x pthread_create+join, %lu x fork+wait, %lu x swapcontext round trip",
		    heavy, heavy, n);
	base[0] = kb_lc_pthread(heavy);
	base[1] = kb_lc_fork(heavy);
	base[2] = kb_lc_swapcontext(n);
	if (base[0] < 0 || base[1] < 0) {
		fprintf(stderr, "kpf-bench: libcost: pthread_create or fork failed\n");
		return 1;
	}
	for (b = 0; KB_HAVE_LIBKPF && b < KB_NR_BACKENDS; b++) {
		if (!kb_backend_on(b))
			continue;
		kb_progress("libcost libkpf %s: %lu x each operation", kpf_backend[b], n);
		if (kb_in_child(kb_libcost_kpf, kpf_backend[b], kpf[b],
				KB_LC_KPF_NR)) {
			fprintf(stderr, "kpf-bench: libcost: libkpf %s backend failed\n",
				kpf_backend[b]);
			continue;
		}
		kpf_ok[b] = true;
	}

	kb_section("4. library costs: time per operation%s",
		   KB_HAVE_LIBKPF ? "" : " (libkpf not built: baselines only)");
	printf("%-8s %-44s %12s   %s\n", "backend", "operation", "time/op",
	       "vs pthread_create+join");
	kb_lc_row("pthread", "pthread_create+join", base[0], base[0]);
	kb_lc_row("fork", "fork+waitpid", base[1], base[0]);
	kb_lc_row("ucontext", "swapcontext round trip (2 switches)", base[2],
		  base[0]);
	for (b = 0; b < KB_NR_BACKENDS; b++) {
		if (!kb_backend_on(b))
			continue;
		if (!kpf_ok[b]) {
			printf("%-8s %-44s %12s\n", kpf_backend[b],
			       "kpf_launch/resume/cancel",
			       KB_HAVE_LIBKPF ? "failed" : "libkpf not built");
			continue;
		}
		for (i = 0; i < KB_LC_KPF_NR; i++)
			kb_lc_row(kpf_backend[b], kb_lc_kpf_ops[i], kpf[b][i],
				  base[0]);
	}
	return 0;
}
