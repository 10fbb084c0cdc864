/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/libnonreent.so: a non-reentrant library (global parse state). */
#ifndef LIBNONREENT_H
#define LIBNONREENT_H

#include <stdint.h>

void nr_begin(void);
void nr_feed(unsigned char c, unsigned int rounds);
uint64_t nr_end(void);
uint64_t nr_parse(const char *s, unsigned int rounds);
unsigned long nr_parse_count(void);
int nr_in_progress(void);

/* The result nr_parse() must give, computed without the library. */
static inline uint64_t nr_expected(const char *s, unsigned int rounds)
{
	uint64_t acc = 1469598103934665603ull;
	unsigned int i;

	for (; *s; s++) {
		for (i = 0; i < rounds; i++) {
			acc ^= (unsigned char)*s + i;
			acc *= 1099511628211ull;
		}
	}
	return acc;
}

#endif /* LIBNONREENT_H */
