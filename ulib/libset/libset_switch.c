// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libset state that task switching needs, kept apart from libset.c so
 * that statically linked programs (no dlmopen, no libsets) link none of
 * the loader code: the per-thread current table, the base table and the
 * hook pointer task.c tests.
 */
#include "../internal.h"
#include "libset.h"
#include "libset_internal.h"

/* base table: function id -> the base namespace's function */
void *kpf_libset_base_table[KPF_LIBSET_MAX_FUNCS];

/*
 * Every thread starts on the base table, also threads created before the
 * libsets were declared (the TLS initializer is copied at thread start).
 */
__thread void **kpf_libset_cur
	__attribute__((tls_model("initial-exec"))) = kpf_libset_base_table;

const struct kpf_libset_ops *kpf_libset_ops;
int kpf_libset_launched;
