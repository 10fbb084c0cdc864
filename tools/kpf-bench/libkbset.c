// SPDX-License-Identifier: GPL-2.0
/*
 * The library kpf-bench-libset declares as a libset: one trivial function,
 * so that a call measures the dispatch and nothing else.
 */
int kbset_nop(int x)
{
	return x + 1;
}
