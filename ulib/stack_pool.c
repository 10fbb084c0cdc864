// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The stack pool: task stacks are mmap'ed once and reused.
 *
 * One mapping per task:
 *
 *   [ guard (PROT_NONE) | stack, grows down ...... | struct kpf_task, xsave ]
 *   map                 stack_lo                   stack_hi
 *
 * The task descriptor and its xsave image live at the top of the mapping,
 * so a launch allocates nothing but a pooled stack, and only pages a task
 * touches cost memory (MAP_NORESERVE, lazily faulted). Each thread keeps a
 * few free stacks without locking; the rest go to a process-wide list of
 * at most kpf_g.pool_max, beyond which they are unmapped.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define KPF_HAVE_VALGRIND 1
#endif
#endif

#include "internal.h"

/* Guard below each stack: large enough that big frames do not jump it. */
#define KPF_STACK_GUARD		(64 * 1024)
#define KPF_THREAD_CACHE	4

static pthread_mutex_t kpf_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kpf_task *kpf_pool_head;
static unsigned int kpf_pool_count;

static size_t kpf_task_head_size(void)
{
	return ((sizeof(struct kpf_task) + 63) & ~(size_t)63) +
	       ((kpf_xsave_size + 63) & ~(size_t)63);
}

static struct kpf_task *kpf_stack_create(void)
{
	size_t page = 4096;
	size_t head = kpf_task_head_size();
	size_t size = KPF_STACK_GUARD + kpf_g.stack_size +
		      ((head + page - 1) & ~(page - 1));
	struct kpf_task *t;
	char *map;

	map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, KPF_STACK_GUARD, PROT_NONE)) {
		munmap(map, size);
		return NULL;
	}
	t = (struct kpf_task *)(map + size - head);
	t->map = map;
	t->map_size = size;
	t->stack_lo = (uintptr_t)map + KPF_STACK_GUARD;
	t->stack_hi = (uintptr_t)t;
	t->ctx.xsave = (char *)t + ((sizeof(*t) + 63) & ~(size_t)63);
#ifdef KPF_HAVE_VALGRIND
	t->pad_valgrind_id = VALGRIND_STACK_REGISTER(t->stack_lo, t->stack_hi);
#endif
	return t;
}

static void kpf_stack_destroy(struct kpf_task *t)
{
#ifdef KPF_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(t->pad_valgrind_id);
#endif
	munmap(t->map, t->map_size);
}

/**
 * kpf_stack_pool_get() - a task descriptor with a free stack
 * @self: calling thread
 *
 * Return: the task (fields other than the stack layout are stale), or
 * NULL if no memory could be mapped.
 */
struct kpf_task *kpf_stack_pool_get(struct kpf_thread *self)
{
	struct kpf_task *t = self->cache;

	if (__builtin_expect(t != NULL, 1)) {
		self->cache = t->pool_next;
		self->cache_count--;
		return t;
	}
	pthread_mutex_lock(&kpf_pool_lock);
	t = kpf_pool_head;
	if (t) {
		kpf_pool_head = t->pool_next;
		kpf_pool_count--;
	}
	pthread_mutex_unlock(&kpf_pool_lock);
	if (t)
		return t;
	return kpf_stack_create();
}

/**
 * kpf_stack_pool_put() - give a finished or cancelled task's stack back
 * @self: calling thread, or NULL to bypass the per-thread cache
 * @t: the task; it must not be used afterwards
 */
void kpf_stack_pool_put(struct kpf_thread *self, struct kpf_task *t)
{
	if (self && self->cache_count < KPF_THREAD_CACHE) {
		t->pool_next = self->cache;
		self->cache = t;
		self->cache_count++;
		return;
	}
	pthread_mutex_lock(&kpf_pool_lock);
	if (kpf_pool_count < kpf_g.pool_max) {
		t->pool_next = kpf_pool_head;
		kpf_pool_head = t;
		kpf_pool_count++;
		t = NULL;
	}
	pthread_mutex_unlock(&kpf_pool_lock);
	if (t)
		kpf_stack_destroy(t);
}

/**
 * kpf_stack_pool_thread_exit() - hand an exiting thread's cache back
 * @self: the exiting thread
 */
void kpf_stack_pool_thread_exit(struct kpf_thread *self)
{
	struct kpf_task *t;

	while ((t = self->cache)) {
		self->cache = t->pool_next;
		self->cache_count--;
		kpf_stack_pool_put(NULL, t);
	}
}
