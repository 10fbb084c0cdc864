// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_lib: what libkpf's operations cost, next to what a program would
 * otherwise use (pthread_create+join, fork+waitpid, swapcontext).
 *
 * Usage: bench_lib [-c] [-n ITERATIONS]
 *   -c  CSV output (name,ns_per_op,iterations) for tools/kpf-bench.
 * Each figure is the best of 5 runs of ITERATIONS (default scaled per
 * benchmark) divided by the iteration count; wall clock, CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <kpf.h>
#include "clock.h"

static int csv;
static long scale = 1;

static void report(const char *name, double ns, long n)
{
	if (csv)
		printf("%s,%.1f,%ld\n", name, ns, n);
	else
		printf("%-40s %12.1f ns/op  (%ld ops)\n", name, ns, n);
	fflush(stdout);
}

typedef double (*bench_fn)(long n);

static void run(const char *name, bench_fn fn, long n)
{
	double best = 1e30, v;
	int i;

	n *= scale;
	for (i = 0; i < 5; i++) {
		v = fn(n);
		if (v < best)
			best = v;
	}
	report(name, best, n);
}

static void empty(void *arg)
{
	(void)arg;
}

/*
 * A slow or loaded machine (an emulator) can preempt even an empty
 * function now and then: finish it rather than give up.
 */
static void finish(kpf_task *t, int r)
{
	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, KPF_FOREVER);
	if (r != KPF_DONE)
		abort();
}

static double b_launch_return(long n)
{
	kpf_task *t;
	uint64_t t0 = now_ns();
	long i;

	for (i = 0; i < n; i++)
		finish(t, kpf_launch(&t, empty, NULL, 1000000));
	return (double)(now_ns() - t0) / n;
}

static void pauser(void *arg)
{
	for (;;)
		kpf_pause();
}

static double b_pause_resume(long n)
{
	kpf_task *t;
	uint64_t t0;
	long i;

	if (kpf_launch(&t, pauser, NULL, 1000000) != KPF_PREEMPTED)
		abort();
	t0 = now_ns();
	for (i = 0; i < n; i++)
		kpf_resume(t, 1000000);
	t0 = now_ns() - t0;
	kpf_cancel(t);
	return (double)t0 / n;
}

static void pause_once(void *arg)
{
	kpf_pause();
}

static double b_pause_resume_forever(long n)
{
	kpf_task *t;
	uint64_t t0;
	long i;

	if (kpf_launch(&t, pauser, NULL, KPF_FOREVER) != KPF_PREEMPTED)
		abort();
	t0 = now_ns();
	for (i = 0; i < n; i++)
		kpf_resume(t, KPF_FOREVER);
	t0 = now_ns() - t0;
	kpf_cancel(t);
	return (double)t0 / n;
}

static double b_launch_return_forever(long n)
{
	kpf_task *t;
	uint64_t t0 = now_ns();
	long i;

	for (i = 0; i < n; i++)
		finish(t, kpf_launch(&t, empty, NULL, KPF_FOREVER));
	return (double)(now_ns() - t0) / n;
}

static double b_launch_cancel(long n)
{
	kpf_task *t;
	uint64_t t0 = now_ns();
	long i;

	for (i = 0; i < n; i++) {
		kpf_launch(&t, pause_once, NULL, 1000000);
		kpf_cancel(t);
	}
	return (double)(now_ns() - t0) / n;
}

static volatile int spin_stop;

static void spinner(void *arg)
{
	while (!spin_stop)
		;
}

/*
 * Preemption: each resume gets a budget of B; the cycle time minus B is
 * what a preemption plus resume costs (timer latency included).
 */
#define PREEMPT_BUDGET	50000

static double b_preempt_resume(long n)
{
	kpf_task *t;
	uint64_t t0;
	long i;

	spin_stop = 0;
	if (kpf_launch(&t, spinner, NULL, PREEMPT_BUDGET) != KPF_PREEMPTED)
		abort();
	t0 = now_ns();
	for (i = 0; i < n; i++)
		if (kpf_resume(t, PREEMPT_BUDGET) != KPF_PREEMPTED)
			abort();	/* the spinner never returns by itself */
	t0 = now_ns() - t0;
	spin_stop = 1;
	while (kpf_resume(t, KPF_FOREVER) == KPF_PREEMPTED)
		;
	return (double)t0 / n - PREEMPT_BUDGET;
}

/* Overshoot: how late after its deadline a spinning task is stopped. */
static double b_preempt_latency(long n)
{
	kpf_task *t;
	uint64_t t0, sum = 0;
	long i;

	spin_stop = 0;
	if (kpf_launch(&t, spinner, NULL, PREEMPT_BUDGET) != KPF_PREEMPTED)
		abort();
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		if (kpf_resume(t, PREEMPT_BUDGET) != KPF_PREEMPTED)
			abort();
		sum += now_ns() - t0 - PREEMPT_BUDGET;
	}
	spin_stop = 1;
	while (kpf_resume(t, KPF_FOREVER) == KPF_PREEMPTED)
		;
	return (double)sum / n;
}

static void *thread_empty(void *arg)
{
	return arg;
}

static double b_pthread(long n)
{
	pthread_t th;
	uint64_t t0 = now_ns();
	long i;

	for (i = 0; i < n; i++) {
		pthread_create(&th, NULL, thread_empty, NULL);
		pthread_join(th, NULL);
	}
	return (double)(now_ns() - t0) / n;
}

static double b_fork(long n)
{
	uint64_t t0 = now_ns();
	pid_t pid;
	long i;

	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	return (double)(now_ns() - t0) / n;
}

static ucontext_t uc_main, uc_co;

static void co_body(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

static double b_swapcontext(long n)
{
	static char stack[65536];
	uint64_t t0;
	long i;

	getcontext(&uc_co);
	uc_co.uc_stack.ss_sp = stack;
	uc_co.uc_stack.ss_size = sizeof(stack);
	uc_co.uc_link = NULL;
	makecontext(&uc_co, co_body, 0);
	t0 = now_ns();
	for (i = 0; i < n; i++)
		swapcontext(&uc_main, &uc_co);
	return (double)(now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "cn:")) != -1) {
		if (opt == 'c')
			csv = 1;
		else if (opt == 'n')
			scale = atol(optarg) > 0 ? atol(optarg) : 1;
		else {
			fprintf(stderr, "usage: %s [-c] [-n SCALE]\n", argv[0]);
			return 2;
		}
	}
	if (csv)
		printf("name,ns_per_op,ops\n");
	else
		printf("# libkpf benchmarks, backend %s\n", kpf_backend());
	run("kpf_launch+return (empty, 1 ms budget)", b_launch_return, 1000000);
	run("kpf_pause+kpf_resume (1 ms budget)", b_pause_resume, 1000000);
	run("kpf_launch+return (empty, KPF_FOREVER)", b_launch_return_forever,
	    1000000);
	run("kpf_pause+kpf_resume (KPF_FOREVER)", b_pause_resume_forever,
	    1000000);
	run("kpf_launch+kpf_pause+kpf_cancel", b_launch_cancel, 1000000);
	run("preempt+resume overhead (50us budget)", b_preempt_resume, 2000);
	run("preemption latency past deadline", b_preempt_latency, 2000);
	run("swapcontext round trip", b_swapcontext, 1000000);
	run("pthread_create+join", b_pthread, 2000);
	run("fork+waitpid", b_fork, 200);
	return 0;
}
