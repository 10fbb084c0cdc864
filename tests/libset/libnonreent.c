// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A deliberately non-reentrant library for the libset tests: a "parser"
 * with global state. nr_parse() runs begin/feed/end over its input on one
 * global context; a second parse that starts while one is in progress (a
 * task preempted inside nr_parse() and someone else calling it) aborts,
 * as a real non-reentrant library would corrupt its state.
 *
 * The work per input byte is made slow on purpose so that nearly all of
 * a caller's time is spent inside the library: a preemption lands there.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int nr_busy;			/* a parse is in progress */
static uint64_t nr_acc;			/* its accumulated result */
static unsigned long nr_parses;		/* completed parses in this copy */

static void nr_die(const char *what)
{
	static const char msg[] = "libnonreent: reentered: ";
	ssize_t r;

	r = write(2, msg, sizeof(msg) - 1);
	r = write(2, what, __builtin_strlen(what));
	r = write(2, "\n", 1);
	(void)r;
	abort();
}

void nr_begin(void)
{
	if (__atomic_load_n(&nr_busy, __ATOMIC_RELAXED))
		nr_die("a parse began while another was in progress");
	nr_busy = 1;
	nr_acc = 1469598103934665603ull;
}

void nr_feed(unsigned char c, unsigned int rounds)
{
	unsigned int i;

	if (!nr_busy)
		nr_die("fed without a parse in progress");
	for (i = 0; i < rounds; i++) {
		nr_acc ^= c + i;
		nr_acc *= 1099511628211ull;
		__asm__ __volatile__("" : "+r"(nr_acc));
	}
}

uint64_t nr_end(void)
{
	if (!nr_busy)
		nr_die("ended without a parse in progress");
	nr_busy = 0;
	nr_parses++;
	return nr_acc;
}

/**
 * nr_parse() - begin, feed every byte of @s @rounds times, end
 * @s: input
 * @rounds: work per byte
 *
 * Return: the FNV-style hash the three steps computed.
 */
uint64_t nr_parse(const char *s, unsigned int rounds)
{
	nr_begin();
	while (*s)
		nr_feed((unsigned char)*s++, rounds);
	return nr_end();
}

/* Parses completed in this copy of the library (each copy counts its own). */
unsigned long nr_parse_count(void)
{
	return nr_parses;
}

/* Whether a parse is in progress in this copy. */
int nr_in_progress(void)
{
	return nr_busy;
}

/*
 * Argument passing through the libset stubs and the first-call path:
 * 8 integer and 10 floating-point arguments (the last of each on the
 * stack), and a varargs sum ('l' long, 'd' double in @fmt).
 */
double nr_args(long a1, long a2, long a3, long a4, long a5, long a6,
	       long a7, long a8, double d1, double d2, double d3, double d4,
	       double d5, double d6, double d7, double d8, double d9,
	       double d10)
{
	return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 +
	       8 * a8 + d1 + 2 * d2 + 3 * d3 + 4 * d4 + 5 * d5 + 6 * d6 +
	       7 * d7 + 8 * d8 + 9 * d9 + 10 * d10;
}

double nr_vsum(const char *fmt, ...)
{
	double sum = 0;
	va_list ap;
	int k = 1;

	va_start(ap, fmt);
	for (; *fmt; fmt++, k++) {
		if (*fmt == 'l')
			sum += k * (double)va_arg(ap, long);
		else
			sum += k * va_arg(ap, double);
	}
	va_end(ap);
	return sum;
}
