// SPDX-License-Identifier: GPL-2.0
/*
 * Result files and progress lines.
 *
 * Every number also goes to <out>/results.csv, one per line:
 *	bench,where,backend,variant,metric,value,unit
 * Benchmarks add files of their own (distributions, plot data) with
 * kb_csv_open(). Progress lines go to stderr, tables to stdout.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static FILE *kb_results;

/**
 * kb_csv_open() - create <out>/@name with a header line
 * @name: file name
 * @header: first line (without newline), or NULL
 *
 * Return: the file, or NULL without --out (or on error, with a message).
 */
FILE *kb_csv_open(const char *name, const char *header)
{
	char path[4096];
	FILE *f;

	if (!kb_opt.out_dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", kb_opt.out_dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return NULL;
	}
	if (header)
		fprintf(f, "%s\n", header);
	return f;
}

/**
 * kb_result() - record one number in results.csv
 * @bench: benchmark (latency, overhead, ...)
 * @backend: kmod, signal, none, or the baseline's name
 * @variant: what exactly was measured
 * @metric: p50, ns_per_op, ...
 * @value: the number
 * @unit: its unit
 */
void kb_result(const char *bench, const char *backend, const char *variant,
	       const char *metric, double value, const char *unit)
{
	if (!kb_results) {
		kb_results = kb_csv_open("results.csv",
					 "bench,where,backend,variant,metric,value,unit");
		if (!kb_results)
			return;
	}
	fprintf(kb_results, "%s,%s,%s,%s,%s,%.6g,%s\n", bench, kb_opt.where,
		backend, variant, metric, value, unit);
}

/**
 * kb_results_close() - flush results.csv
 */
void kb_results_close(void)
{
	if (kb_results)
		fclose(kb_results);
	kb_results = NULL;
}

/**
 * kb_progress() - one progress line on stderr, tagged with where it runs
 * @fmt: printf format
 */
void kb_progress(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "kpf-bench [%s]: ", kb_opt.where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/**
 * kb_section() - a table title on stdout
 * @fmt: printf format
 */
void kb_section(const char *fmt, ...)
{
	va_list ap;

	printf("\n== ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" [%s] ==\n", kb_opt.where);
	fflush(stdout);
}
