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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile int nr_busy;		/* a parse is in progress */
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
	if (nr_busy)
		nr_die("nr_begin while a parse is in progress");
	nr_busy = 1;
	nr_acc = 1469598103934665603ull;
}

void nr_feed(unsigned char c, unsigned int rounds)
{
	unsigned int i;

	if (!nr_busy)
		nr_die("nr_feed without nr_begin");
	for (i = 0; i < rounds; i++) {
		nr_acc ^= c + i;
		nr_acc *= 1099511628211ull;
		__asm__ __volatile__("" : "+r"(nr_acc));
	}
}

uint64_t nr_end(void)
{
	if (!nr_busy)
		nr_die("nr_end without nr_begin");
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
