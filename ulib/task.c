// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tasks: launch, resume, pause, cancel, and what a preemption does.
 *
 * A thread runs a stack of nested tasks: self->current is the innermost,
 * each task's parent the one that launched or resumed it. A task's
 * deadline is clamped to its parent's, so the timer only ever needs the
 * innermost deadline. When a task stops, its launcher continues inside
 * kpf_launch()/kpf_resume(); if the launcher is itself a task whose budget
 * is also used up, it stops right there too (a voluntary switch inside the
 * library), and so on outwards. Resuming the outer task later returns
 * KPF_PREEMPTED for the inner one, which can then be resumed in turn.
 *
 * self->busy marks library code: an expiry that hits it is retried a
 * little later instead of preempting half-updated state. Task code runs
 * with busy clear on the task's own stack; an expiry preempts only then
 * (and with the defer count at zero).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "libset/defer_auto.h"

/* Longest distance between retries of an expiry that hit library code. */
#define KPF_MAX_RETRY_NS	2000000
/*
 * An expiry outside the task, on the launcher's stack above where it
 * waits in kpf_switch() (and this close to it), means the launcher runs
 * again: the task was left without the library.
 */
#define KPF_LAUNCHER_REACH	(1ull << 20)
/* A task finishing this late past its deadline is suspicious (signal). */
#define KPF_OVERRUN_NS		(5 * KPF_MAX_RETRY_NS)

static void kpf_retry_later(struct kpf_thread *self, uint64_t first);

static inline void kpf_busy(struct kpf_thread *self, uint32_t v)
{
	kpf_barrier();
	__atomic_store_n(&self->busy, v, __ATOMIC_RELAXED);
	kpf_barrier();
}

/* Build the resume frame of a full context below the red zone at @rsp. */
static uint64_t kpf_resume_frame(const struct kpf_frame *f)
{
	uint64_t *p = (uint64_t *)(uintptr_t)(f->rsp - KPF_RED_ZONE -
					       KPF_RESUME_FRAME);

	p[0] = f->r15;
	p[1] = f->r14;
	p[2] = f->r13;
	p[3] = f->r12;
	p[4] = f->rbp;
	p[5] = f->rbx;
	p[6] = f->r11;
	p[7] = f->r10;
	p[8] = f->r9;
	p[9] = f->r8;
	p[10] = f->rax;
	p[11] = f->rcx;
	p[12] = f->rdx;
	p[13] = f->rsi;
	p[14] = f->rdi;
	p[15] = f->rflags;
	p[16] = f->rip;
	return (uint64_t)(uintptr_t)p;
}

/* A new task starts in kpf_task_trampoline with r12 = task. */
static void kpf_task_prepare(struct kpf_task *t)
{
	uint64_t *sp = (uint64_t *)(t->stack_hi - 80);
	uint32_t mxcsr;
	uint16_t fcw;

	/* inherit the launcher's rounding/exception modes, like a call */
	__asm__ __volatile__("stmxcsr %0; fnstcw %1" : "=m"(mxcsr), "=m"(fcw));
	sp[0] = mxcsr | ((uint64_t)fcw << 32);
	sp[1] = 0;			/* r15 */
	sp[2] = 0;			/* r14 */
	sp[3] = 0;			/* r13 */
	sp[4] = (uintptr_t)t;		/* r12 */
	sp[5] = 0;			/* rbx */
	sp[6] = 0;			/* rbp */
	sp[7] = (uintptr_t)kpf_task_trampoline;
	t->ctx.rsp = (uintptr_t)sp;
	t->ctx.kind = KPF_CTX_VOLUNTARY;
}

/*
 * The task @t leaves the thread (it returned, paused, or was preempted):
 * make its parent current again. Called in library code (busy set) just
 * before switching to t->caller_ctx.
 */
static void kpf_task_leave(struct kpf_thread *self, struct kpf_task *t,
			   uint32_t how)
{
	t->exit_state = how;
	if (kpf_libset_ops) {
		t->libset_table = kpf_libset_cur;
		kpf_libset_cur = t->libset_caller;
	}
	t->defer = self->area.defer;
	self->area.defer = t->caller_defer;
	kpf_defer_mark_leave(self, t);
	self->current = t->parent;
	self->depth = t->depth - 1;
}

/* After a switch back from a task: leave the upcall state, if any. */
static void kpf_upcall_release(struct kpf_thread *self)
{
	if (self->area.in_upcall != KPF_UPCALL_IDLE)
		__atomic_exchange_n(&self->area.in_upcall, KPF_UPCALL_IDLE,
				    __ATOMIC_SEQ_CST);
	/* deadlines are re-evaluated against the clock by the caller */
	self->area.pending = 0;
}

/*
 * Stop the running task @t (== self->current) at this point in library
 * code, as a preemption; returns when it is resumed, possibly on another
 * thread, still with busy set.
 */
static void kpf_task_stop_here(struct kpf_thread *self, struct kpf_task *t)
{
	kpf_task_leave(self, t, KPF_TASK_STOPPED);
	kpf_switch(&t->ctx, &t->caller_ctx, self);
}

/*
 * Run @t (already claimed as RUNNING) on @self with @budget; the common
 * half of kpf_launch() and kpf_resume(). Called and returns with busy
 * cleared... set on entry by the caller, cleared on return.
 */
static int kpf_task_run(struct kpf_thread *self, struct kpf_task *t,
			uint64_t budget, int caller_errno)
{
	struct kpf_task *parent = self->current;
	uint64_t deadline = KPF_NO_DEADLINE;
	uint64_t now;
	int ret;

	/* KPF_FOREVER needs no clock read */
	if (budget != KPF_FOREVER) {
		now = kpf_clock_ns(self);
		if (budget <= KPF_MAX_DEADLINE - now)
			deadline = now + budget;
	}
	if (parent && parent->deadline_ns < deadline)
		deadline = parent->deadline_ns;
	t->deadline_ns = deadline;
	t->parent = parent;
	t->depth = self->depth + 1;
	t->caller_defer = self->area.defer;
	self->area.defer = t->defer;
	kpf_defer_mark_enter(self, t);
	/* a new budget: retries start short again */
	self->retry_ns = 0;
	if (t->ctx.kind == KPF_CTX_FULL)
		t->ctx.rsp = kpf_resume_frame(&t->ctx.frame);
	self->current = t;
	self->depth = t->depth;
	if (kpf_libset_ops) {
		t->libset_caller = kpf_libset_cur;
		kpf_libset_cur = t->libset_table;
	}
	t->paused = 0;
	kpf_task_state_enter(self, t, caller_errno);
	kpf_arm_deadline(self, deadline);

	kpf_switch(&t->caller_ctx, &t->ctx, self);

	/* back on the launcher's stack and thread, busy set */
	kpf_upcall_release(self);
	kpf_stack_check(t);
	kpf_task_state_leave(self, t, t->exit_state != KPF_TASK_DONE &&
				      !t->paused);
	if (t->exit_state == KPF_TASK_DONE) {
		ret = KPF_DONE;
		if (kpf_libset_ops && t->libset_copy >= 0)
			kpf_libset_ops->task_done(self, t);
		t->magic = KPF_TASK_DEAD_MAGIC;
		if (t->cleanups != t->inline_cleanups)
			free(t->cleanups);
		__atomic_store_n(&t->state, KPF_TASK_DONE, __ATOMIC_RELEASE);
		kpf_stack_pool_put(self, t);
	} else {
		ret = KPF_PREEMPTED;
		/* only now is its context saved: let other threads resume it */
		__atomic_store_n(&t->state, KPF_TASK_STOPPED, __ATOMIC_RELEASE);
	}

	/* the launcher is running again: its deadline applies */
	if (parent) {
		kpf_arm_deadline(self, parent->deadline_ns);
		if (parent->deadline_ns != KPF_NO_DEADLINE &&
		    kpf_now_ns() >= parent->deadline_ns) {
			if (self->area.defer) {
				self->defer_expired = 1;
			} else if (kpf_defer_mark_here(self, parent)) {
				/* in a deferred library's callback */
				self->stats.deferred_in_library++;
				self->defer_want = 1;
				kpf_retry_later(self, kpf_g.retry_ns);
			} else {
				self->stats.preemptions++;
				kpf_task_stop_here(self, parent);
				self = kpf_thread_peek();
			}
		}
	} else {
		kpf_disarm(self);
		/*
		 * signal backend: a task that overran its deadline by far
		 * without being stopped suggests the signal no longer
		 * reaches us: check at the next launch.
		 */
		if (kpf_g.backend == KPF_BACKEND_SIGNAL && ret == KPF_DONE &&
		    deadline != KPF_NO_DEADLINE &&
		    kpf_now_ns() > deadline + KPF_OVERRUN_NS)
			self->signal_check_ns = 0;
	}
	kpf_busy(self, 0);
	return ret;
}

/*
 * Library calls that act on the running task must come from its stack.
 * Anything else means the task was left without the library knowing -
 * longjmp() (or a swapcontext()) out of it, which is not supported: its
 * stack would be reused while the launcher still counts it as running.
 * A signal handler on this thread's alternate stack is fine.
 */
static inline void kpf_check_stack(struct kpf_thread *self, const char *fn)
{
	struct kpf_task *t = self->current;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	if (!t || (sp > t->stack_lo && sp <= t->stack_hi) ||
	    (sp >= self->altstack_lo && sp < self->altstack_hi))
		return;
	kpf_die("%s() called outside the stack of the running task %p: it was left by longjmp() or a stack switch, which is not supported (a preemptible function must return, pause or be preempted)",
		fn, (void *)t);
}

/*
 * Before a task starts or resumes on @self: can the library keep its
 * contract here? (signal backend: is the signal still ours, unblocked)
 */
static int kpf_launch_check(struct kpf_thread *self)
{
	if (kpf_g.backend == KPF_BACKEND_SIGNAL && !self->current)
		return kpf_signal_check(self);
	return 0;
}

/**
 * kpf_launch() - run a function as a preemptible task; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT int kpf_launch(kpf_task **task,
				       void (*fn)(void *), void *arg,
				       uint64_t budget_ns)
{
	return kpf_launch_flags(task, fn, arg, budget_ns, 0);
}

/**
 * kpf_launch_flags() - kpf_launch() with KPF_LAUNCH_* flags; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT int kpf_launch_flags(kpf_task **task,
					     void (*fn)(void *), void *arg,
					     uint64_t budget_ns,
					     unsigned int flags)
{
	/* the caller's errno, before our own calls can change it */
	int caller_errno = errno;
	struct kpf_thread *self;
	struct kpf_task *t;
	int ret;

	if (!task || !fn || !budget_ns || (flags & ~KPF_LAUNCH_FLAGS))
		return -EINVAL;
	self = kpf_thread_self();
	if (!self)
		return errno ? -errno : -ENOMEM;
	/* libsets are declared before this: their tables are fixed now */
	if (!kpf_libset_launched)
		__atomic_store_n(&kpf_libset_launched, 1, __ATOMIC_RELEASE);
	kpf_check_stack(self, "kpf_launch");
	ret = kpf_launch_check(self);
	if (ret)
		return ret;
	kpf_busy(self, 1);
	t = kpf_stack_pool_get(self);
	if (!t) {
		kpf_busy(self, 0);
		return -ENOMEM;
	}
	t->magic = KPF_TASK_MAGIC;
	t->state = KPF_TASK_RUNNING;
	t->fn = fn;
	t->arg = arg;
	t->defer = 0;
	t->mark = 0;
	t->ncleanups = 0;
	t->cleanup_cap = KPF_INLINE_CLEANUPS;
	t->cleanups = t->inline_cleanups;
	t->libset_copy = -1;
	t->libset_table = kpf_libset_ops ? kpf_libset_ops->first_table : NULL;
	t->home = self->id;
	/* a task inside a migrating task moves with it */
	t->flags = flags | (self->current ? self->current->flags &
					    KPF_LAUNCH_MIGRATE : 0);
	kpf_task_state_init(t, caller_errno);
	kpf_task_prepare(t);
	self->stats.launches++;
	ret = kpf_task_run(self, t, budget_ns, caller_errno);
	*task = ret == KPF_DONE ? NULL : t;
	return ret;
}

/**
 * kpf_resume() - continue a stopped task; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT int kpf_resume(kpf_task *t, uint64_t budget_ns)
{
	int caller_errno = errno;
	struct kpf_thread *self;
	uint32_t expected = KPF_TASK_STOPPED;
	int err;

	if (!t || !budget_ns)
		return -EINVAL;
	if (__atomic_load_n(&t->magic, __ATOMIC_RELAXED) != KPF_TASK_MAGIC)
		return -EINVAL;
	self = kpf_thread_self();
	if (!self)
		return errno ? -errno : -ENOMEM;
	kpf_check_stack(self, "kpf_resume");
	err = kpf_launch_check(self);
	if (err)
		return err;
	if (!(t->flags & KPF_LAUNCH_MIGRATE) && t->home != self->id)
		return -EXDEV;
	if (!__atomic_compare_exchange_n(&t->state, &expected,
					 KPF_TASK_RUNNING, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return expected == KPF_TASK_RUNNING ? -EBUSY : -EINVAL;
	kpf_stack_check(t);
	kpf_busy(self, 1);
	return kpf_task_run(self, t, budget_ns, caller_errno);
}

/**
 * kpf_task_main() - body of every task, called by kpf_task_trampoline
 * @t: the task
 */
KPF_CRITICAL void kpf_task_main(struct kpf_task *t)
{
	struct kpf_thread *self = kpf_thread_peek();

	kpf_busy(self, 0);
	t->fn(t->arg);
	/* fn may have been preempted and resumed on another thread */
	self = kpf_thread_peek();
	kpf_busy(self, 1);
	kpf_task_leave(self, t, KPF_TASK_DONE);
	kpf_ctx_load(&t->caller_ctx, self);
}

/**
 * kpf_pause() - give control back to the launcher; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT void kpf_pause(void)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_task *t = self ? self->current : NULL;

	if (!t)
		kpf_die("kpf_pause() called outside a preemptible function");
	kpf_check_stack(self, "kpf_pause");
	kpf_busy(self, 1);
	t->paused = 1;
	kpf_task_stop_here(self, t);
	kpf_busy(kpf_thread_peek(), 0);
}

/**
 * kpf_yield_preempted() - stop the running task as a (deferred) preemption
 * @self: calling thread, busy set; its current task is the caller
 *
 * Used by kpf_defer_end(). Returns once the task is resumed, with busy
 * cleared.
 */
KPF_CRITICAL void kpf_yield_preempted(struct kpf_thread *self)
{
	self->stats.preemptions++;
	self->retry_ns = 0;
	kpf_task_stop_here(self, self->current);
	kpf_busy(kpf_thread_peek(), 0);
}

/**
 * kpf_cancel() - run the cleanups of a stopped task and free it
 */
KPF_CRITICAL KPF_EXPORT void kpf_cancel(kpf_task *t)
{
	struct kpf_thread *self;
	uint32_t expected = KPF_TASK_STOPPED;
	struct kpf_cleanup c;

	if (!t)
		return;
	if (__atomic_load_n(&t->magic, __ATOMIC_RELAXED) != KPF_TASK_MAGIC)
		kpf_die("kpf_cancel(%p): not a live task (finished or already cancelled?)",
			(void *)t);
	if (!__atomic_compare_exchange_n(&t->state, &expected, KPF_TASK_DONE,
					 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		kpf_die("kpf_cancel(%p): the task is running", (void *)t);
	/* handlers are user code: they run preemptible, most recent first */
	while (t->ncleanups) {
		c = t->cleanups[--t->ncleanups];
		c.fn(c.arg);
	}
	/* its copy may be half-way through a call: reloaded before reuse */
	if (kpf_libset_ops && t->libset_copy >= 0)
		kpf_libset_ops->task_cancelled(t);
	t->magic = KPF_TASK_DEAD_MAGIC;
	self = kpf_thread_peek();
	if (self)
		kpf_busy(self, 1);
	if (t->cleanups != t->inline_cleanups)
		free(t->cleanups);
	kpf_stack_pool_put(self, t);
	if (self)
		kpf_busy(self, 0);
}

/**
 * kpf_task_discard_running() - free the tasks a dying thread was running
 * @self: the exiting thread (pthread_exit() or a cancellation inside a
 *	task unwound through them); no code of theirs runs any more
 *
 * Their kpf_on_cancel() handlers do not run: the thread's own exit
 * (cleanup handlers, destructors) already unwound them.
 */
void kpf_task_discard_running(struct kpf_thread *self)
{
	struct kpf_task *t;

	while ((t = self->current)) {
		self->current = t->parent;
		t->magic = KPF_TASK_DEAD_MAGIC;
		if (t->cleanups != t->inline_cleanups)
			free(t->cleanups);
		__atomic_store_n(&t->state, KPF_TASK_DONE, __ATOMIC_RELEASE);
		kpf_stack_pool_put(NULL, t);
	}
	self->depth = 0;
}

/**
 * kpf_on_cancel() - register a cleanup for the running task; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT int kpf_on_cancel(void (*fn)(void *), void *arg)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_task *t = self ? self->current : NULL;
	struct kpf_cleanup *grown;
	int ret = 0;

	if (!t)
		return -EPERM;
	kpf_check_stack(self, "kpf_on_cancel");
	if (!fn)
		return -EINVAL;
	/* no preemption (and so no migration) while the list changes */
	kpf_busy(self, 1);
	if (t->ncleanups == t->cleanup_cap) {
		grown = malloc(2 * t->cleanup_cap * sizeof(*grown));
		if (!grown) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(grown, t->cleanups, t->ncleanups * sizeof(*grown));
		if (t->cleanups != t->inline_cleanups)
			free(t->cleanups);
		t->cleanups = grown;
		t->cleanup_cap *= 2;
	}
	t->cleanups[t->ncleanups].fn = fn;
	t->cleanups[t->ncleanups].arg = arg;
	t->ncleanups++;
out:
	kpf_busy(self, 0);
	return ret;
}

/**
 * kpf_in_task() - nesting depth of the running task; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT int kpf_in_task(void)
{
	struct kpf_thread *self = kpf_thread_peek();

	if (!self)
		return 0;
	kpf_check_stack(self, "kpf_in_task");
	return self->depth;
}

/**
 * kpf_thread_stats() - the calling thread's counters; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT int kpf_thread_stats(struct kpf_stats *stats)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_stats mine;
	size_t n;

	if (!stats)
		return -EINVAL;
	n = stats->size ? stats->size : sizeof(mine);
	if (n < sizeof(stats->size))
		return -EINVAL;
	if (self) {
		mine = self->stats;
		mine.linger_expiries = __atomic_load_n(&self->area.lingers,
						       __ATOMIC_RELAXED);
	} else {
		memset(&mine, 0, sizeof(mine));
	}
	/* never write past either struct: size may come from a newer header */
	mine.size = n < sizeof(mine) ? n : sizeof(mine);
	memcpy(stats, &mine, mine.size);
	return 0;
}

/*
 * Re-arm an expiry that could not preempt. The distance starts at @first
 * and doubles while we keep missing, so a slow machine (an emulator, an
 * overloaded host) where one upcall takes longer than the distance cannot
 * livelock in retries; it starts short again at every launch, resume and
 * preemption (self->retry_ns = 0).
 */
static void kpf_retry_later(struct kpf_thread *self, uint64_t first)
{
	if (self->retry_ns < first)
		self->retry_ns = first;
	kpf_arm_deadline(self, kpf_now_ns() + self->retry_ns);
	if (self->retry_ns < KPF_MAX_RETRY_NS)
		self->retry_ns *= 2;
}

/* k if @rip is pop k of the resume frame pops at @pops, else -1 */
static int kpf_frame_pop_at(uint64_t rip, const char *pops)
{
	uint64_t off = rip - (uintptr_t)pops;
	int k;

	/* below @pops, off wraps around */
	if (off > (uint64_t)kpf_frame_pop_offsets[KPF_FRAME_POPS - 1])
		return -1;
	for (k = 0; k < KPF_FRAME_POPS; k++)
		if (off == (uint64_t)kpf_frame_pop_offsets[k])
			return k;
	return -1;
}

/*
 * How much of a resume frame at rsp the code this expiry interrupted had
 * popped (see switch_x86_64.S): 0 in kpf_frame_return()'s window before
 * the pending branch's re-entry, k at the k-th pop of kpf_frame_return()
 * (in_upcall released) or of kpf_ctx_load() (busy cleared); -1 anywhere
 * else.
 */
static int kpf_frame_popped(uint64_t rip)
{
	int k;

	if (rip >= (uintptr_t)kpf_frame_return_window &&
	    rip < (uintptr_t)kpf_frame_return_window_end)
		return 0;
	k = kpf_frame_pop_at(rip, kpf_frame_return_pops);
	return k >= 0 ? k : kpf_frame_pop_at(rip, kpf_ctx_load_pops);
}

/*
 * The expiry interrupted the pops of a resume frame at rsp, built by
 * kpf_resume_frame(), with @popped of its entries popped: live in @f
 * already. Take the code that frame resumes as the interrupted one: a
 * retry then builds its resume frame where that one is rather than below
 * it, and a preemption saves the task as it was before kpf_ctx_load()
 * resumed it. The extended state saved by this upcall is the one
 * restored for that code.
 */
static void kpf_frame_unwind(struct kpf_frame *f, int popped)
{
	__u64 *const slot[KPF_FRAME_POPS] = {
		&f->r15, &f->r14, &f->r13, &f->r12, &f->rbp, &f->rbx,
		&f->r11, &f->r10, &f->r9, &f->r8, &f->rax, &f->rcx,
		&f->rdx, &f->rsi, &f->rdi, &f->rflags, &f->rip,
	};
	const uint64_t *p = (const uint64_t *)(uintptr_t)f->rsp;
	int k;

	for (k = popped; k < KPF_FRAME_POPS; k++)
		*slot[k] = p[k - popped];
	f->rsp += 8 * (KPF_FRAME_POPS - popped) + KPF_RED_ZONE;
}

/**
 * kpf_upcall() - decide what an expiry does; called by kpf_upcall_entry
 * @area: the calling thread's area; self->area.frame holds the interrupted
 *	GPRs and self->xsave_scratch its extended state.
 *
 * Preempts the current task if the expiry hit its own code with its
 * deadline passed and no deferral; otherwise re-arms as needed and resumes
 * the interrupted code exactly as it was.
 */
void kpf_upcall(struct kpf_area *area)
{
	struct kpf_thread *self = (struct kpf_thread *)area;
	struct kpf_task *t = self->current;
	uint64_t now = kpf_now_ns();
	uint64_t rsp;
	int in_task, in_library, popped;

	self->stats.upcalls++;
	popped = kpf_frame_popped(area->frame.rip);
	if (popped >= 0)
		kpf_frame_unwind(&area->frame, popped);
	rsp = area->frame.rsp;
	if (!t) {
		kpf_disarm(self);
		goto resume;
	}
	if (now < t->deadline_ns) {
		/* early: an older expiry, or a parent's deadline */
		kpf_arm_deadline(self, t->deadline_ns);
		goto resume;
	}
	in_task = !self->busy && rsp > t->stack_lo && rsp <= t->stack_hi &&
		  !(area->frame.rip >= (uintptr_t)__start_kpf_critical_text &&
		    area->frame.rip < (uintptr_t)__stop_kpf_critical_text) &&
		  !kpf_defer_in_stub(area->frame.rip);
	/*
	 * In a deferred library: its code itself (even when reached without
	 * a stub, through a dlsym() pointer), or user code below a live mark
	 * (a callback).
	 */
	in_library = in_task && (kpf_defer_rip_in_library(area->frame.rip) ||
				 kpf_defer_mark_inside(self, t, rsp,
						       area->frame.rip));
	if (in_task && !in_library && !area->defer) {
		memcpy(t->ctx.xsave, self->xsave_scratch, kpf_xsave_size);
		t->ctx.frame = area->frame;
		t->ctx.kind = KPF_CTX_FULL;
		self->busy = 1;
		self->retry_ns = 0;
		self->stats.preemptions++;
		if (kpf_libset_ops && t->libset_copy >= 0)
			kpf_libset_ops->preempted(self, area->frame.rip);
		kpf_task_leave(self, t, KPF_TASK_STOPPED);
		kpf_ctx_load(&t->caller_ctx, self);
	}
	/*
	 * Off the task's stack, just above where its launcher waits: the
	 * launcher runs again. Not while the thread is in a deferred
	 * library, though: pthread_exit() in a task unwinds to the thread's
	 * start in libc on that stack, and the thread then exits there (its
	 * key destructor frees the task); an expiry in that window is
	 * retried like any other in library code. Nor in libkpf's own
	 * critical code: that key destructor is some (its first
	 * instructions run before it sets busy).
	 */
	if (!in_task && !self->busy && rsp > t->caller_ctx.rsp &&
	    rsp - t->caller_ctx.rsp < KPF_LAUNCHER_REACH &&
	    !(rsp >= self->altstack_lo && rsp <= self->altstack_hi) &&
	    !kpf_defer_in_text(area->frame.rip) &&
	    !(area->frame.rip >= (uintptr_t)__start_kpf_critical_text &&
	      area->frame.rip < (uintptr_t)__stop_kpf_critical_text))
		kpf_die("the running task %p was left by longjmp() or a stack switch: its launcher runs again (at rip %#llx) while the library counts the task as running; not supported",
			(void *)t, (unsigned long long)area->frame.rip);
	if (in_task && !in_library) {
		/* kpf_defer_end() acts on it */
		self->defer_expired = 1;
	} else if (in_library) {
		/*
		 * Inside a deferred library call: the next outermost call's
		 * stub preempts (kpf_defer_stub_preempt()), and a retry
		 * catches a task that stays in this call or only computes
		 * after it. Not much sooner than retry_ns: a retry that
		 * expires before this upcall has even returned to the task
		 * (2 us was measured to) re-runs the upcall on the same frame
		 * and keeps the stub from acting.
		 */
		self->stats.deferred_in_library++;
		self->defer_want = 1;
		kpf_retry_later(self, kpf_g.retry_ns);
	} else {
		/* library code, or a stack that is not the task's */
		self->stats.retries++;
		kpf_retry_later(self, kpf_g.retry_ns);
	}
resume:
	kpf_frame_return(self, self->xsave_scratch,
			 kpf_resume_frame(&area->frame));
}
