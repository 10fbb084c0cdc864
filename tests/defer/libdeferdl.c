// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Loaded by the task with dlopen() in test_defer: it calls rand() and
 * malloc(), which the launcher calls too between slices, so its GOT must
 * be rewritten before its first call.
 */
#include <stdlib.h>
#include <string.h>

unsigned long deferdl_work(unsigned int rounds)
{
	unsigned long sum = 0;
	unsigned int i;
	char *p;

	for (i = 0; i < rounds; i++) {
		p = malloc(32 + (i * 53) % 1500);
		if (!p)
			abort();
		memset(p, (int)i, 32);
		sum += (unsigned long)rand() + (unsigned char)p[5];
		free(p);
	}
	return sum;
}

/* libc functions nothing else in test_defer calls: new stubs */
unsigned long deferdl_parse(const char *s)
{
	return strtoul(s + strspn(s, " "), NULL, 10);
}
