// SPDX-License-Identifier: GPL-2.0
/*
 * kb_log: the per-event records that upcall and signal handlers fill in.
 * Allocated and touched up front, so handlers never fault or allocate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct kb_log kb_log;

static uint64_t *kb_log_array(uint64_t cap)
{
	uint64_t *a = malloc(cap * sizeof(*a));

	if (a)
		memset(a, 0, cap * sizeof(*a));
	return a;
}

/**
 * kb_log_alloc() - make room for @cap events and reset the count
 * @cap: events to record (more are counted, not recorded)
 *
 * Return: 0 or -ENOMEM.
 */
int kb_log_alloc(uint64_t cap)
{
	kb_log_free();
	kb_log.handler_ns = kb_log_array(cap);
	kb_log.expiry_ns = kb_log_array(cap);
	kb_log.irq_ns = kb_log_array(cap);
	kb_log.deliver_ns = kb_log_array(cap);
	if (!kb_log.handler_ns || !kb_log.expiry_ns || !kb_log.irq_ns ||
	    !kb_log.deliver_ns) {
		kb_log_free();
		return -ENOMEM;
	}
	kb_log.cap = cap;
	return 0;
}

/**
 * kb_log_reset() - forget the recorded events, keep the arrays
 */
void kb_log_reset(void)
{
	__atomic_store_n(&kb_log.count, 0, __ATOMIC_SEQ_CST);
	kb_log.eintr_probe = 0;
}

/**
 * kb_log_free() - release the arrays; handlers then only count
 */
void kb_log_free(void)
{
	kb_log.cap = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	free(kb_log.handler_ns);
	free(kb_log.expiry_ns);
	free(kb_log.irq_ns);
	free(kb_log.deliver_ns);
	kb_log.handler_ns = NULL;
	kb_log.expiry_ns = NULL;
	kb_log.irq_ns = NULL;
	kb_log.deliver_ns = NULL;
	kb_log_reset();
}

/**
 * kb_log_count() - events handled since the last reset
 *
 * Return: the count.
 */
uint64_t kb_log_count(void)
{
	return __atomic_load_n(&kb_log.count, __ATOMIC_ACQUIRE);
}
