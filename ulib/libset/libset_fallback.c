// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libset calls that run in the base namespace with preemption deferred:
 * a task's calls when no copy was free for it (the fallback table), and
 * every copy's calls into the base libc & co (libset_bind.c).
 *
 * Both go through automatic deferral's stubs (defer_auto.c): the stub
 * records the deferral mark of the outermost such call, and while the
 * task's stack is below a live mark an expiry is not taken. So the base
 * copy is never left half-way through a call by a preempted task, and a
 * copy is never stopped inside the base allocator.
 */
#include "../internal.h"
#include "defer_auto.h"
#include "libset.h"
#include "libset_internal.h"

/**
 * kpf_libset_deferred_target() - a deferral stub that calls @fn
 * @fn: a function in the base namespace
 *
 * Return: what a GOT slot or table entry should hold to call @fn with
 * preemption deferred, or NULL if out of memory.
 */
void *kpf_libset_deferred_target(void *fn)
{
	return kpf_defer_stub(fn);
}

/**
 * kpf_libset_fill_fallback() - fallback table entries of ids @first to
 *	@first + @n - 1: the base functions, deferred
 * @first: first id
 * @n: number of ids
 *
 * Return: 0 or -ENOMEM.
 */
int kpf_libset_fill_fallback(unsigned int first, unsigned int n)
{
	unsigned int id;

	for (id = first; id < first + n; id++) {
		kpf_ls.fallback_table[id] =
			kpf_libset_deferred_target(kpf_libset_base_table[id]);
		if (!kpf_ls.fallback_table[id])
			return -ENOMEM;
	}
	return 0;
}
