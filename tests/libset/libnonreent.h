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
double nr_args(long a1, long a2, long a3, long a4, long a5, long a6,
	       long a7, long a8, double d1, double d2, double d3, double d4,
	       double d5, double d6, double d7, double d8, double d9,
	       double d10);
double nr_vsum(const char *fmt, ...);

#define NR_ARGS_WANT (1 + 2 * 2 + 3 * 3 + 4 * 4 + 5 * 5 + 6 * 6 + 7 * 7 + \
		      8 * 8 + 0.5 + 2 * 1.5 + 3 * 2.5 + 4 * 3.5 + 5 * 4.5 + \
		      6 * 5.5 + 7 * 6.5 + 8 * 7.5 + 9 * 8.5 + 10 * 9.5)
#define NR_ARGS_CALL nr_args(1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5, \
			     4.5, 5.5, 6.5, 7.5, 8.5, 9.5)
/* "ldldldldld": 1*1 + 2*0.25 + 3*3 + ... */
#define NR_VSUM_CALL nr_vsum("ldldldldld", 1L, 0.25, 3L, 1.25, 5L, 2.25, \
			     7L, 3.25, 9L, 4.25)
#define NR_VSUM_WANT (1 * 1 + 2 * 0.25 + 3 * 3 + 4 * 1.25 + 5 * 5 + \
		      6 * 2.25 + 7 * 7 + 8 * 3.25 + 9 * 9 + 10 * 4.25)

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
