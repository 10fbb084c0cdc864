// SPDX-License-Identifier: GPL-2.0
/*
 * kpf-bench-libset: what libsets cost (kpf-bench libset runs it; it is a
 * dynamic program because libsets are: dlmopen and the GOT).
 *
 *  1. a call of a trivial library function: plain PLT call, the same call
 *     through its libset stub outside a task (base table) and inside a
 *     task that holds a copy (copy table);
 *  2. a task switch (kpf_pause + kpf_resume) without libsets and with a
 *     libset whose copy the task holds (the stubs' table pointer is saved
 *     and restored at each switch);
 *  3. time and resident memory per copy: declaring a libset with
 *     KPF_LIBSET_COPIES = 1 and = 4, for libkbset.so.1 and for Debian's
 *     libsqlite3.so.0; per copy = the difference / 3; next to it what 3
 *     plain dlmopen() copies of libsqlite3 cost (the loader's share).
 *
 * Every measurement runs in a child of its own (a libset is declared once
 * per process, before the first launch); the whole series runs 3 times,
 * interleaved, and each number is the best of those (and of 5 runs inside
 * each): the host is shared. Options: --ops N, --where LABEL.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kpf.h>

#include "child.h"
#include "kpf_raw.h"

int kbset_nop(int x);

static unsigned long ops = 2000000;
static const char *where = "native";

/* ns per operation of @fn(@n, @arg), best of 5 */
static double best_of_5(void (*fn)(unsigned long n, void *arg),
			unsigned long n, void *arg)
{
	double best = 1e30, ns;
	uint64_t t0;
	int r;

	for (r = 0; r < 5; r++) {
		t0 = kpf_raw_now_ns();
		fn(n, arg);
		ns = (double)(kpf_raw_now_ns() - t0) / n;
		if (ns < best)
			best = ns;
	}
	return best;
}

/* @n calls of kbset_nop through the GOT */
static void calls(unsigned long n, void *arg)
{
	int x = 0;

	(void)arg;
	while (n--)
		x = kbset_nop(x);
	__asm__ __volatile__("" : : "r"(x));
}

static double task_result;

static void calls_in_task(void *arg)
{
	(void)arg;
	kbset_nop(0);		/* the first call takes a copy */
	task_result = best_of_5(calls, ops, NULL);
}

static void pauser(void *arg)
{
	(void)arg;
	kbset_nop(0);		/* hold a copy when libsets are on */
	for (;;)
		kpf_pause();
}

/* @n switches into the paused task @t and back */
static void switches(unsigned long n, void *t)
{
	while (n--)
		kpf_resume(t, KPF_FOREVER);
}

static double time_switches(void)
{
	kpf_task *t;
	double ns;

	if (kpf_launch(&t, pauser, NULL, KPF_FOREVER) != KPF_PREEMPTED)
		return -1;
	ns = best_of_5(switches, ops / 10, t);
	kpf_cancel(t);
	return ns;
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* declare @lib with @copies copies: 0, writes ns and KiB */
static int time_declare(const char *lib, int copies, double *out)
{
	char n[16];
	long rss0;
	uint64_t t0;
	int err;

	snprintf(n, sizeof(n), "%d", copies);
	setenv("KPF_LIBSET_COPIES", n, 1);
	rss0 = rss_kib();
	t0 = kpf_raw_now_ns();
	err = kpf_libset_declare(lib);
	out[0] = (double)(kpf_raw_now_ns() - t0);
	out[1] = (double)(rss_kib() - rss0);
	return err;
}

/* the loader alone: 3 more dlmopen copies of @lib after a first one */
static int time_dlmopen(const char *lib, double *out)
{
	uint64_t t0;
	long rss0;
	int i;

	if (!dlmopen(LM_ID_NEWLM, lib, RTLD_NOW | RTLD_LOCAL))
		return -ENOENT;
	rss0 = rss_kib();
	t0 = kpf_raw_now_ns();
	for (i = 0; i < 3; i++)
		if (!dlmopen(LM_ID_NEWLM, lib, RTLD_NOW | RTLD_LOCAL))
			return -ENOENT;
	out[0] = (double)(kpf_raw_now_ns() - t0) / 3;
	out[1] = (double)(rss_kib() - rss0) / 3;
	return 0;
}

enum {
	M_PLT, M_STUB_BASE, M_STUB_COPY, M_SWITCH, M_SWITCH_LS,
	M_DECL1_NOP, M_DECL4_NOP, M_DECL1_SQL, M_DECL4_SQL, M_RAW_SQL, M_NR
};

/* measurement *@arg, in a child of its own (kb_in_child) */
static int measure(const void *arg, double *v)
{
	int m = *(const int *)arg, err = 0;
	kpf_task *t;

	switch (m) {
	case M_PLT:
		v[0] = best_of_5(calls, ops, NULL);
		break;
	case M_STUB_BASE:
		err = kpf_libset_declare("libkbset.so.1");
		v[0] = best_of_5(calls, ops, NULL);
		break;
	case M_STUB_COPY:
		err = kpf_libset_declare("libkbset.so.1");
		if (!err && kpf_launch(&t, calls_in_task, NULL,
				       KPF_FOREVER) != KPF_DONE)
			err = -EIO;
		v[0] = task_result;
		break;
	case M_SWITCH:
		v[0] = time_switches();
		break;
	case M_SWITCH_LS:
		err = kpf_libset_declare("libkbset.so.1");
		if (!err)
			v[0] = time_switches();
		break;
	case M_DECL1_NOP:
	case M_DECL4_NOP:
		err = time_declare("libkbset.so.1", m == M_DECL1_NOP ? 1 : 4, v);
		break;
	case M_DECL1_SQL:
	case M_DECL4_SQL:
		err = time_declare("libsqlite3.so.0", m == M_DECL1_SQL ? 1 : 4, v);
		break;
	case M_RAW_SQL:
		err = time_dlmopen("libsqlite3.so.0", v);
		break;
	}
	if (err)
		fprintf(stderr, "kpf-bench-libset: measurement %d: %s\n", m,
			strerror(-err));
	return err;
}

/* whether @arg (a library name) loads at all; in a child, so not loaded here */
static int loadable(const void *arg, double *v)
{
	void *h = dlopen(arg, RTLD_LAZY | RTLD_LOCAL);

	v[0] = 0;
	return h ? 0 : -ENOENT;
}

static void print_row(const char *what, int decimals, double v, double base)
{
	printf("%-52s %10.*f", what, decimals, v);
	if (base)
		printf(" %9.2fx", v / base);
	printf("\n");
}

int main(int argc, char **argv)
{
	double v[M_NR][2], w[2], copy_sql;
	int round, i, bad = 0, sql;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--ops"))
			ops = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--where"))
			where = argv[i + 1];
		else
			break;
	}
	if (i < argc) {
		fprintf(stderr, "usage: kpf-bench-libset [--ops N] [--where LABEL]\n");
		return 2;
	}
	if (!ops)
		ops = 1;
	for (i = 0; i < M_NR; i++) {
		v[i][0] = 1e30;
		v[i][1] = 1e30;
	}
	/* Debian's libsqlite3 may be missing (the guest of make run) */
	sql = !kb_in_child(loadable, "libsqlite3.so.0", w, 1);
	if (!sql)
		fprintf(stderr, "kpf-bench-libset: libsqlite3.so.0 cannot be loaded here: its rows are skipped\n");
	for (round = 0; round < 3; round++) {
		for (i = 0; i < (sql ? M_NR : M_DECL1_SQL); i++) {
			if (kb_in_child(measure, &i, w, 2)) {
				fprintf(stderr, "kpf-bench-libset: measurement %d failed\n",
					i);
				bad = 1;
				continue;
			}
			if (w[0] < v[i][0])
				v[i][0] = w[0];
			if (w[1] < v[i][1])
				v[i][1] = w[1];
		}
	}
	copy_sql = (v[M_DECL4_SQL][0] - v[M_DECL1_SQL][0]) / 3;
	printf("\n== libsets (%s backend, %s): best of 3 x 5 ==\n", kpf_backend(), where);
	printf("%-52s %10s %10s\n", "what", "ns", "vs plain");
	print_row("call through the PLT (no libset)", 2, v[M_PLT][0], v[M_PLT][0]);
	print_row("call through a libset stub, base table", 2,
		  v[M_STUB_BASE][0], v[M_PLT][0]);
	print_row("call through a libset stub, in a task's copy", 2,
		  v[M_STUB_COPY][0], v[M_PLT][0]);
	print_row("kpf_pause + kpf_resume, no libsets", 2, v[M_SWITCH][0],
		  v[M_SWITCH][0]);
	print_row("kpf_pause + kpf_resume, task holds a copy", 2,
		  v[M_SWITCH_LS][0], v[M_SWITCH][0]);
	print_row("per copy of libkbset.so.1: time (ns)", 0,
		  (v[M_DECL4_NOP][0] - v[M_DECL1_NOP][0]) / 3, 0);
	print_row("per copy of libkbset.so.1: resident KiB", 0,
		  (v[M_DECL4_NOP][1] - v[M_DECL1_NOP][1]) / 3, 0);
	if (!sql)
		return bad;
	print_row("per copy of libsqlite3.so.0: time (ns)", 0, copy_sql, 0);
	print_row("per copy of libsqlite3.so.0: resident KiB", 0,
		  (v[M_DECL4_SQL][1] - v[M_DECL1_SQL][1]) / 3, 0);
	/* the ratio: how much of a libset copy is the loader's */
	printf("%-52s %10.0f %9.2fx\n", "  dlmopen alone, per copy of it: time (ns)",
	       v[M_RAW_SQL][0], v[M_RAW_SQL][0] ? copy_sql / v[M_RAW_SQL][0] : 0);
	print_row("  dlmopen alone, per copy of it: resident KiB", 0,
		  v[M_RAW_SQL][1], 0);
	return bad;
}
