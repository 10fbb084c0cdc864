// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-thread state: created on a thread's first use of the library and
 * destroyed by a pthread key destructor when the thread exits.
 *
 * Everything a thread owns is mmap'ed rather than malloc'ed: the upcall
 * path must never depend on the allocator (the code it interrupts may be
 * inside it), and mappings do not show up as leaks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define KPF_UPCALL_STACK	(64 * 1024)
#define KPF_ALT_STACK		(64 * 1024)
#define KPF_GUARD		4096

__thread struct kpf_thread *kpf_tls_self
	__attribute__((tls_model("initial-exec"))) KPF_HIDDEN;

static pthread_key_t kpf_thread_key;
static uint64_t kpf_thread_ids;

static size_t kpf_round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* A stack with a PROT_NONE guard page below it; returns the mapping. */
static void *kpf_map_stack(size_t size)
{
	char *map = mmap(NULL, size + KPF_GUARD, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_STACK, -1, 0);

	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, KPF_GUARD, PROT_NONE)) {
		munmap(map, size + KPF_GUARD);
		return NULL;
	}
	return map;
}

static void kpf_thread_free(struct kpf_thread *self)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (self->own_altstack)
		sigaltstack(&ss, NULL);
	if (self->altstack_map)
		munmap(self->altstack_map, self->altstack_map_size);
	if (self->upcall_map)
		munmap(self->upcall_map, self->upcall_map_size);
	munmap(self, self->map_size);
}

/*
 * Key destructor: the thread is exiting. If pthread_exit() was called in
 * a task, the unwinder has left its stack (glibc jumps back to the
 * thread's start) and the task, with any task it was nested in, is dead.
 * That task is still self->current until kpf_task_discard_running(), and
 * its timer may still be armed: an expiry before busy is set must find
 * critical code, not "the launcher runs again" (kpf_upcall()). Seen in
 * the stock QEMU (TCG) guest, which takes interrupts at translation-block
 * starts such as a function's entry: test_defer-nopie-lazy@signal's
 * pthread_exit_in_a_task died with the expiry at this function's first
 * instruction (twice, in about 20 runs).
 */
KPF_CRITICAL static void kpf_thread_destroy(void *arg)
{
	struct kpf_thread *self = arg;

	self->busy = 1;
	kpf_disarm(self);
	kpf_task_discard_running(self);
	if (kpf_g.backend == KPF_BACKEND_KMOD)
		kpf_kmod_thread_exit(self);
	else
		kpf_signal_thread_exit(self);
	kpf_stack_pool_thread_exit(self);
	kpf_tls_self = NULL;
	kpf_thread_free(self);
}

static struct kpf_thread *kpf_thread_create(void)
{
	size_t head = kpf_round_up(sizeof(struct kpf_thread), 64);
	size_t size = kpf_round_up(head + kpf_xsave_size, 4096);
	struct kpf_thread *self;
	stack_t ss, old = { .ss_flags = SS_DISABLE };
	uint64_t top;
	int err;

	err = kpf_ensure_init();
	if (err) {
		errno = -err;
		return NULL;
	}
	self = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (self == MAP_FAILED)
		return NULL;
	self->map_size = size;
	self->area.size = sizeof(self->area);
	self->xsave_scratch = (char *)self + head;
	self->kmod_fd = -1;
	self->tid = gettid();
	self->id = __atomic_add_fetch(&kpf_thread_ids, 1, __ATOMIC_RELAXED);

	self->upcall_map_size = KPF_UPCALL_STACK + KPF_GUARD;
	self->upcall_guard = KPF_GUARD;
	self->upcall_map = kpf_map_stack(KPF_UPCALL_STACK);
	if (!self->upcall_map)
		goto fail;
	/* the kernel's rule for the entry rsp (struct kpf_register) */
	top = (uint64_t)(uintptr_t)self->upcall_map + self->upcall_map_size;
	self->upcall_top = (top & ~15ull) - 8;

	/*
	 * Signal handlers of this library (the timer, and the stack overflow
	 * report, which must run when the task stack is exhausted) need an
	 * alternate stack. Keep the thread's own if it has one.
	 */
	if (sigaltstack(NULL, &old) == 0 && (old.ss_flags & SS_DISABLE)) {
		self->altstack_map_size = KPF_ALT_STACK + KPF_GUARD;
		self->altstack_map = kpf_map_stack(KPF_ALT_STACK);
		if (!self->altstack_map)
			goto fail;
		ss.ss_sp = (char *)self->altstack_map + KPF_GUARD;
		ss.ss_size = KPF_ALT_STACK;
		ss.ss_flags = 0;
		if (sigaltstack(&ss, NULL))
			goto fail;
		self->own_altstack = 1;
		old = ss;
	}
	self->altstack_lo = (uintptr_t)old.ss_sp;
	self->altstack_hi = (uintptr_t)old.ss_sp + old.ss_size;

	if (kpf_g.backend == KPF_BACKEND_KMOD)
		err = kpf_kmod_thread_init(self);
	else
		err = kpf_signal_thread_init(self);
	if (err) {
		errno = -err;
		goto fail;
	}
	self->backend_ready = 1;
	pthread_setspecific(kpf_thread_key, self);
	kpf_tls_self = self;
	return self;
fail:
	err = errno;
	kpf_thread_free(self);
	errno = err;
	return NULL;
}

/**
 * kpf_thread_peek() - the calling thread's state, or NULL if it has none
 *
 * Not inlined and opaque to the optimizer on purpose: code that runs
 * inside a task may continue on another thread after a switch, so the
 * thread pointer must be read again rather than reused from before.
 */
KPF_CRITICAL __attribute__((noinline, noipa))
struct kpf_thread *kpf_thread_peek(void)
{
	return kpf_tls_self;
}

/**
 * kpf_thread_self() - the calling thread's state, created on first use
 *
 * Return: the state, or NULL with errno set.
 */
KPF_CRITICAL __attribute__((noinline, noipa))
struct kpf_thread *kpf_thread_self(void)
{
	struct kpf_thread *self = kpf_tls_self;

	if (__builtin_expect(self != NULL, 1))
		return self;
	return kpf_thread_create();
}

/*
 * fork() child: the kernel context (kmod) and POSIX timers (signal) are
 * not inherited, so the calling thread registers again. Other threads do
 * not exist in the child.
 */
static void kpf_thread_after_fork(void)
{
	struct kpf_thread *self = kpf_tls_self;
	uint32_t busy;
	int err;

	if (!self)
		return;
	/* fork() in a task: no preemption inside fork() itself */
	busy = self->busy;
	self->busy = 1;
	self->tid = gettid();
	__atomic_store_n(&self->area.deadline_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&self->area.armed_ns, 0, __ATOMIC_RELAXED);
	if (kpf_g.backend == KPF_BACKEND_KMOD) {
		if (self->kmod_fd >= 0)
			close(self->kmod_fd);
		self->kmod_fd = -1;
		err = kpf_kmod_thread_init(self);
	} else {
		err = kpf_signal_thread_init(self);
	}
	if (err) {
		self->backend_ready = 0;
		/* only a task in progress needs it now; a launch reports it */
		if (self->current)
			kpf_die("fork() in a task: cannot set up the timer again in the child: %s",
				strerror(-err));
		self->busy = busy;
		return;
	}
	/* fork() in a task: the child's task keeps what remains of its budget */
	if (self->current)
		kpf_arm_deadline(self, self->current->deadline_ns);
	self->busy = busy;
}

/**
 * kpf_thread_init_process() - process-wide setup of the per-thread state
 *
 * Return: 0 or -errno.
 */
int kpf_thread_init_process(void)
{
	int err = pthread_key_create(&kpf_thread_key, kpf_thread_destroy);

	if (err)
		return -err;
	err = pthread_atfork(NULL, NULL, kpf_thread_after_fork);
	if (err) {
		pthread_key_delete(kpf_thread_key);
		return -err;
	}
	return 0;
}
