// SPDX-License-Identifier: GPL-2.0
/*
 * Percentiles and number formatting.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int kb_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int kb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted @v */
static uint64_t kb_rank(const uint64_t *v, unsigned long n, double q)
{
	unsigned long i = (unsigned long)(q * n + 0.999999);

	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

/**
 * kb_dist_compute() - sort @v and summarize it
 * @v: samples in ns; sorted on return
 * @n: number of samples (may be 0)
 * @d: filled in
 */
void kb_dist_compute(uint64_t *v, unsigned long n, struct kb_dist *d)
{
	double sum = 0;
	unsigned long i;

	memset(d, 0, sizeof(*d));
	d->n = n;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), kb_cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	d->mean = sum / n;
	d->min = v[0];
	d->p50 = kb_rank(v, n, 0.50);
	d->p90 = kb_rank(v, n, 0.90);
	d->p99 = kb_rank(v, n, 0.99);
	d->p999 = kb_rank(v, n, 0.999);
	d->max = v[n - 1];
}

/**
 * kb_median() - median of @n values (sorts them)
 * @v: the values
 * @n: how many, at least 1
 *
 * Return: the median.
 */
double kb_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), kb_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/**
 * kb_fmt_ns() - a duration with its unit, e.g. "12.3 us"
 * @buf: output buffer
 * @len: its size
 * @ns: the duration in nanoseconds
 *
 * Return: @buf.
 */
const char *kb_fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 10 * 1000.0)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 10 * 1000 * 1000.0)
		snprintf(buf, len, "%.1f us", ns / 1000);
	else
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	return buf;
}
