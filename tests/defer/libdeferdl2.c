// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Loaded by test_defer's fork test in the parent while the child loads
 * libdeferdl.so: both need stubs for libc functions not used before.
 */
#include <stdlib.h>
#include <string.h>

double deferdl2_parse(const char *s)
{
	return strtod(s + strcspn(s, "0123456789"), NULL);
}
