// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 4, library costs: what libkpf's operations cost (launch and
 * return, pause and resume, launch + preempt + resume, cancel), per
 * backend, next to what users would reach for otherwise:
 * pthread_create+join, fork+wait and a swapcontext round trip.
 *
 * libkpf runs in a child process per backend (kb_in_child(): its backend
 * is chosen once per process). Without
 * libkpf at build time the kpf rows say so. Writes results.csv.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "bench.h"
#include "child.h"
#include "libcost.h"

#if !KB_HAVE_LIBKPF
/* built without libkpf: its rows say "libkpf not built" */
int kb_libcost_kpf(const void *backend, double *ns)
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
	static const char *const kpf_backend[2] = { "kmod", "signal" };
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
	for (b = 0; KB_HAVE_LIBKPF && b < 2; b++) {
		if (!(kb_opt.backends & (b ? KB_BACKEND_SIGNAL : KB_BACKEND_KMOD)))
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
	for (b = 0; b < 2; b++) {
		if (!(kb_opt.backends & (b ? KB_BACKEND_SIGNAL : KB_BACKEND_KMOD)))
			continue;
		if (!KB_HAVE_LIBKPF) {
			printf("%-8s %-44s %12s\n", kpf_backend[b],
			       "kpf_launch/resume/cancel", "libkpf not built");
			continue;
		}
		if (!kpf_ok[b]) {
			printf("%-8s %-44s %12s\n", kpf_backend[b],
			       "kpf_launch/resume/cancel", "failed");
			continue;
		}
		for (i = 0; i < KB_LC_KPF_NR; i++)
			kb_lc_row(kpf_backend[b], kb_lc_kpf_ops[i], kpf[b][i],
				  base[0]);
	}
	return 0;
}
