// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A library the libset test dlopen()s after the declaration: its calls
 * into libnonreent.so.1 must be switched like the program's.
 */
#include "libnonreent.h"

uint64_t plugin_parse(const char *s, unsigned int rounds)
{
	return nr_parse(s, rounds);
}
