// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The stack pool: task stacks are mmap'ed once and reused.
 *
 * One mapping per task:
 *
 *   [ guard | canary | stack, grows down ... | struct kpf_task, xsave | canary ]
 *   map     stack_lo                        stack_hi                  map end
 *
 * The task descriptor and its xsave image live above the stack, so a
 * launch allocates nothing but a pooled stack, and only pages a task
 * touches cost memory (MAP_NORESERVE, lazily faulted). Each thread keeps a
 * few free stacks without locking; the rest go to a process-wide list of
 * at most kpf_g.pool_max, beyond which they are unmapped.
 *
 * Overflow: the guard faults (fault.c reports it). A frame larger than the
 * guard can jump it without touching it and write into the mapping below,
 * the top of another task's. The canaries at both ends are checked at
 * every switch of their task and before it is resumed, so such a write is
 * reported instead of silently corrupting the other task; code built with
 * -fstack-clash-protection probes every page of a big frame and always
 * hits the guard.
 *
 * Mappings: the guard is a MADV_GUARD_INSTALL region (Linux 6.13+: one
 * mapping per stack) or else a PROT_NONE part (two). Task stacks may use
 * at most half of vm.max_map_count: beyond that kpf_launch() fails with
 * -ENOMEM while the program still has mappings for malloc, threads, etc.
 */
#include <fcntl.h>
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
#define KPF_CANARY_WORDS	8
#define KPF_CANARY		0x6b70665f63616e61ull	/* "kpf_cana" */

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif

static pthread_mutex_t kpf_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kpf_task *kpf_pool_head;
static unsigned int kpf_pool_count;
/* mappings held by task stacks, and the cap (0 until the first stack) */
static long kpf_stack_maps;
static long kpf_stack_maps_max;
/* 1: MADV_GUARD_INSTALL works, -1: it does not, 0: not tried yet */
static int kpf_guard_madvise;

static size_t kpf_task_head_size(void)
{
	return ((sizeof(struct kpf_task) + 63) & ~(size_t)63) +
	       ((kpf_xsave_size + 63) & ~(size_t)63);
}

static long kpf_read_max_map_count(void)
{
	char buf[32];
	long v = 0;
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			v = strtol(buf, NULL, 10);
		}
		close(fd);
	}
	return v > 0 ? v : 65530;	/* the kernel's default */
}

static uint64_t *kpf_canary_low(const struct kpf_task *t)
{
	return (uint64_t *)t->stack_lo;
}

static uint64_t *kpf_canary_high(const struct kpf_task *t)
{
	return (uint64_t *)((char *)t->map + t->map_size) - KPF_CANARY_WORDS;
}

static void kpf_canary_set(uint64_t *c)
{
	int i;

	for (i = 0; i < KPF_CANARY_WORDS; i++)
		c[i] = KPF_CANARY ^ i;
}

static int kpf_canary_ok(const uint64_t *c)
{
	uint64_t bad = 0;
	int i;

	for (i = 0; i < KPF_CANARY_WORDS; i++)
		bad |= c[i] ^ (KPF_CANARY ^ i);
	return !bad;
}

/*
 * The PROT_NONE guard at @map: one VMA with MADV_GUARD_INSTALL. Adds the
 * system calls it made to *@calls.
 */
static int kpf_guard_install(char *map, int *maps, uint64_t *calls)
{
	if (kpf_guard_madvise >= 0) {
		++*calls;
		if (madvise(map, KPF_STACK_GUARD, MADV_GUARD_INSTALL) == 0) {
			kpf_guard_madvise = 1;
			*maps = 1;
			return 0;
		}
		kpf_guard_madvise = -1;
	}
	*maps = 2;
	++*calls;
	return mprotect(map, KPF_STACK_GUARD, PROT_NONE);
}

/* A new stack mapping; adds the system calls it made to *@calls. */
static struct kpf_task *kpf_stack_create(uint64_t *calls)
{
	size_t page = 4096;
	size_t head = kpf_task_head_size() + KPF_CANARY_WORDS * 8;
	size_t size = KPF_STACK_GUARD + kpf_g.stack_size +
		      ((head + page - 1) & ~(page - 1));
	struct kpf_task *t;
	long limit;
	int maps;
	char *map;

	limit = __atomic_load_n(&kpf_stack_maps_max, __ATOMIC_RELAXED);
	if (!limit) {
		limit = kpf_read_max_map_count() / 2;
		__atomic_store_n(&kpf_stack_maps_max, limit, __ATOMIC_RELAXED);
	}
	/* two per stack until we know better: never above the cap */
	if (__atomic_add_fetch(&kpf_stack_maps, 2, __ATOMIC_RELAXED) > limit) {
		__atomic_sub_fetch(&kpf_stack_maps, 2, __ATOMIC_RELAXED);
		errno = ENOMEM;
		return NULL;
	}
	++*calls;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED)
		goto fail;
	if (kpf_guard_install(map, &maps, calls)) {
		++*calls;
		munmap(map, size);
		goto fail;
	}
	__atomic_sub_fetch(&kpf_stack_maps, 2 - maps, __ATOMIC_RELAXED);
	t = (struct kpf_task *)(map + KPF_STACK_GUARD + kpf_g.stack_size);
	t->map = map;
	t->map_size = size;
	t->guard_maps = maps;
	t->stack_lo = (uintptr_t)map + KPF_STACK_GUARD;
	t->stack_hi = (uintptr_t)t;
	t->ctx.xsave = (char *)t + ((sizeof(*t) + 63) & ~(size_t)63);
	kpf_canary_set(kpf_canary_low(t));
	kpf_canary_set(kpf_canary_high(t));
#ifdef KPF_HAVE_VALGRIND
	t->pad_valgrind_id = VALGRIND_STACK_REGISTER(t->stack_lo, t->stack_hi);
#endif
	return t;
fail:
	__atomic_sub_fetch(&kpf_stack_maps, 2, __ATOMIC_RELAXED);
	errno = ENOMEM;
	return NULL;
}

static void kpf_stack_destroy(struct kpf_task *t)
{
	long maps = t->guard_maps;

#ifdef KPF_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(t->pad_valgrind_id);
#endif
	if (munmap(t->map, t->map_size) == 0)
		__atomic_sub_fetch(&kpf_stack_maps, maps, __ATOMIC_RELAXED);
}

/**
 * kpf_stack_check() - abort if a canary of @t's stack mapping was hit
 * @t: a task that just left the thread, or is about to be resumed
 *
 * The low canary catches a task that used its stack beyond its size
 * without faulting; the high one a frame of the task mapped above that
 * jumped its guard into this mapping.
 */
void kpf_stack_check(const struct kpf_task *t)
{
	if (__builtin_expect(kpf_canary_ok(kpf_canary_low(t)) &&
			     kpf_canary_ok(kpf_canary_high(t)), 1))
		return;
	kpf_die("stack overflow: the canary at the %s end of task %p's stack mapping was overwritten (%s; %zu KiB stacks, %d KiB guard). Build task code with -fstack-clash-protection so that big frames hit the guard",
		kpf_canary_ok(kpf_canary_low(t)) ? "top" : "low", (void *)t,
		kpf_canary_ok(kpf_canary_low(t)) ?
		"a frame of the task mapped above jumped its guard" :
		"the task overran its stack",
		kpf_g.stack_size / 1024, KPF_STACK_GUARD / 1024);
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
	return kpf_stack_create(&self->stats.stack_syscalls);
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
	if (t) {
		kpf_stack_destroy(t);
		if (self)
			self->stats.stack_syscalls++;
	}
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
