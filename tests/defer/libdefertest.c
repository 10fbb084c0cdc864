// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A library the deferral tests declare deferred (kpf_defer_library):
 * functions with stack-passed arguments, and a long call that calls back.
 */
#include <stdint.h>

long defertest_sum10(long a, long b, long c, long d, long e, long f,
		     long g, long h, long i, long j)
{
	return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h +
	       9 * i + 10 * j;
}

struct defertest_big {
	long v[6];
};

/* a struct passed by value lives on the stack */
double defertest_mixed(int a, double x, struct defertest_big big, long b,
		       double y, int c, int d, int e, int f, int g)
{
	long s = 0;
	int k;

	for (k = 0; k < 6; k++)
		s += big.v[k] * (k + 1);
	return a + x * 2 + s + b * 3 + y * 4 + c + d * 5 + e * 6 + f * 7 +
	       g * 8;
}

/*
 * A long call into this library that calls back into the program at its
 * start, cb(-1), and at its end, cb(v).
 */
long defertest_spin(unsigned long n, long (*cb)(long), long v)
{
	volatile uint64_t x = 1;
	long r;

	if (cb)
		cb(-1);
	while (n--)
		x = x * 6364136223846793005ull + 1;
	if (!cb)
		return (long)x;
	/*
	 * A real call, not a tail call: a callback that the library
	 * tail-calls has no return address into it below the mark, and
	 * whether it is inside then rests on decoding the caller's call
	 * site (defer_auto.c), which is not guaranteed.
	 */
	r = cb(v);
	__asm__ __volatile__("" : "+r"(r));
	return r;
}
