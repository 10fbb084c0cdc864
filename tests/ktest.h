/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Minimal KTAP-style reporting for the libkpf tests.
 *
 * Each program prints "KTAP version 1", a plan, one "ok N name" /
 * "not ok N name" per check ("# SKIP reason" for a skipped one) and
 * exits 0 only if nothing failed.
 */
#ifndef KPF_KTEST_H
#define KPF_KTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ktest_num;
static int ktest_failed;

static inline void ktest_plan(int n)
{
	printf("KTAP version 1\n1..%d\n", n);
	fflush(stdout);
}

static inline void ktest_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Report one check; returns cond so callers can stop on failure. */
static inline int ktest_result(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", cond ? "" : "not ", ++ktest_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		ktest_failed++;
	return cond;
}

static inline void ktest_skip(const char *name, const char *why)
{
	printf("ok %d %s # SKIP %s\n", ++ktest_num, name, why);
	fflush(stdout);
}

/* Print the totals and exit with the verdict. */
static inline int ktest_finish(void)
{
	printf("# totals: %d checks, %d failed\n", ktest_num, ktest_failed);
	fflush(stdout);
	return ktest_failed ? 1 : 0;
}

#define KTEST_EXPECT(cond, ...)	ktest_result(!!(cond), __VA_ARGS__)

#endif /* KPF_KTEST_H */
