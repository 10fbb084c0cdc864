// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Futures: the result of a submitted task.
 *
 * The state word doubles as a futex. A waiter outside the pool marks it
 * "waited" and sleeps on it; the worker that completes the task wakes it
 * only then, so a completion nobody waits for costs no system call. A
 * waiter inside a pool task yields to its worker instead of sleeping, so
 * the worker can run the very task it waits for.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pool_internal.h"

/**
 * kpf_future_new() - a pending future with two references
 *
 * Return: the future, or NULL (out of memory).
 */
struct kpf_future *kpf_future_new(void)
{
	struct kpf_future *f = calloc(1, sizeof(*f));

	if (f)
		f->refs = 2;
	return f;
}

/**
 * kpf_future_complete() - publish a task's result and drop the job's reference
 * @f: the future
 * @result: what the task returned
 * @how: KPF_FUTURE_DONE, KPF_FUTURE_CANCELLED or KPF_FUTURE_FAILED
 */
void kpf_future_complete(struct kpf_future *f, void *result, uint32_t how)
{
	f->result = result;
	if (__atomic_exchange_n(&f->state, how, __ATOMIC_ACQ_REL) ==
	    KPF_FUTURE_PENDING_WAITED)
		syscall(SYS_futex, &f->state, FUTEX_WAKE_PRIVATE, INT_MAX,
			NULL, NULL, 0);
	kpf_future_free(f);
}

static int kpf_future_status(uint32_t state)
{
	switch (state) {
	case KPF_FUTURE_DONE:
		return 0;
	case KPF_FUTURE_CANCELLED:
		return -ECANCELED;
	case KPF_FUTURE_FAILED:
		return -ENOMEM;
	default:
		return -EAGAIN;
	}
}

/**
 * kpf_future_try() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_future_try(kpf_future *f)
{
	if (!f)
		return -EINVAL;
	return kpf_future_status(__atomic_load_n(&f->state, __ATOMIC_ACQUIRE));
}

/**
 * kpf_future_wait() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_future_wait(kpf_future *f)
{
	uint32_t s;

	if (!f)
		return -EINVAL;
	if (kpf_pool_current_job()) {
		while (kpf_future_try(f) == -EAGAIN)
			kpf_pause();
		return kpf_future_try(f);
	}
	for (;;) {
		s = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
		if (s >= KPF_FUTURE_DONE)
			return kpf_future_status(s);
		if (s == KPF_FUTURE_PENDING &&
		    !__atomic_compare_exchange_n(&f->state, &s,
						 KPF_FUTURE_PENDING_WAITED, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue;
		syscall(SYS_futex, &f->state, FUTEX_WAIT_PRIVATE,
			KPF_FUTURE_PENDING_WAITED, NULL, NULL, 0);
	}
}

/**
 * kpf_future_result() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_future_result(kpf_future *f, void **result)
{
	int ret;

	if (!f || !result)
		return -EINVAL;
	ret = kpf_future_try(f);
	if (!ret)
		*result = f->result;
	return ret;
}

/**
 * kpf_future_free() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT void kpf_future_free(kpf_future *f)
{
	if (f && !__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL))
		free(f);
}
