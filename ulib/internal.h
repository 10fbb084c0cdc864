/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkpf internals: the task, the per-thread state and the contract
 * between the C code, the assembly and the two backends.
 *
 * The life of a preemption, on both backends:
 *  1. the timer expires; the kernel (kmod) or our signal handler (signal,
 *     backend_signal.c, which mimics the kernel) writes the interrupted
 *     registers into self->area.frame and makes the thread continue at
 *     kpf_upcall_entry on its upcall stack with rdi = &self->area;
 *  2. kpf_upcall_entry saves the extended state (xsave) into the thread's
 *     scratch buffer and calls kpf_upcall() (task.c);
 *  3. kpf_upcall() either stores frame + xstate into the running task and
 *     switches to the task's launcher, or - when the expiry hit library
 *     code or came early - resumes the interrupted code as it was.
 */
#ifndef KPF_INTERNAL_H
#define KPF_INTERNAL_H

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <linux/kpf.h>
#include "../include/kpf.h"
#include "kpf_offsets.h"
#include "libset/libset.h"

#define KPF_HIDDEN	__attribute__((visibility("hidden")))
#define KPF_EXPORT	__attribute__((visibility("default")))

/*
 * Library functions that read the thread pointer and use it before they
 * set self->busy: an expiry whose rip is in this section is retried, so
 * such a function is never stopped and resumed on another thread with a
 * stale pointer.
 */
#define KPF_CRITICAL	__attribute__((section("kpf_critical_text")))
extern const char __start_kpf_critical_text[] KPF_HIDDEN;
extern const char __stop_kpf_critical_text[] KPF_HIDDEN;

#define KPF_NO_DEADLINE	UINT64_MAX
/*
 * Latest deadline that can be armed: the kernel's KTIME_MAX. A budget
 * that would end later is the same as KPF_FOREVER (292 years).
 */
#define KPF_MAX_DEADLINE	((uint64_t)INT64_MAX)

#define KPF_TASK_MAGIC		0x6b706674u	/* "kpft" */
#define KPF_TASK_DEAD_MAGIC	0x64656164u	/* "dead" */

/* kpf_task.state */
enum kpf_task_state {
	KPF_TASK_RUNNING,	/* on some thread right now */
	KPF_TASK_STOPPED,	/* preempted or paused: resumable */
	KPF_TASK_DONE,		/* fn returned */
};

/**
 * struct kpf_exec_ctx - a suspended execution context
 * @rsp:	KPF_CTX_VOLUNTARY: stack pointer of the block kpf_switch
 *		pushed (MXCSR/FCW, r15..rbp, return address);
 *		KPF_CTX_FULL: address of the resume frame built below the
 *		interrupted red zone.
 * @kind:	KPF_CTX_VOLUNTARY or KPF_CTX_FULL.
 * @xsave:	KPF_CTX_FULL: 64-byte aligned xsave image.
 * @frame:	KPF_CTX_FULL: the interrupted registers.
 */
struct kpf_exec_ctx {
	uint64_t rsp;
	uint32_t kind;
	uint32_t pad;
	void *xsave;
	struct kpf_frame frame;
};

struct kpf_cleanup {
	void (*fn)(void *);
	void *arg;
};

#define KPF_INLINE_CLEANUPS	4

/**
 * struct kpf_task - a preemptible function, stored at the top of its stack
 *
 * Keeping the task inside its own stack mapping makes a launch allocate
 * nothing but a pooled stack.
 */
struct kpf_task {
	uint32_t magic;
	uint32_t state;			/* enum kpf_task_state, atomic */
	struct kpf_exec_ctx ctx;		/* the task while not running */
	struct kpf_exec_ctx caller_ctx;	/* its launcher while it runs */
	struct kpf_task *parent;	/* enclosing task while it runs */
	uint64_t deadline_ns;		/* absolute; KPF_NO_DEADLINE */
	uint32_t defer;			/* its defer count, stopped */
	uint32_t caller_defer;		/* launcher's defer count */
	uint64_t mark;			/* its deferral mark, stopped */
	uint64_t mark_ret;
	uint64_t caller_mark;		/* launcher's deferral mark */
	uint64_t caller_mark_ret;
	int depth;			/* 1 = outermost */
	void (*fn)(void *);
	void *arg;
	/* mapping: [guard][canary|stack ... lo..hi][task + xsave][canary] */
	void *map;
	size_t map_size;
	uintptr_t stack_lo;
	uintptr_t stack_hi;
	struct kpf_task *pool_next;
	unsigned int pad_valgrind_id;	/* VALGRIND_STACK_REGISTER id */
	unsigned int guard_maps;	/* VMAs the mapping costs: 1 or 2 */
	uint32_t exit_state;		/* set by the task as it leaves */
	unsigned int ncleanups;
	unsigned int cleanup_cap;
	struct kpf_cleanup *cleanups;	/* inline_cleanups or malloc'd */
	struct kpf_cleanup inline_cleanups[KPF_INLINE_CLEANUPS];
	/* libsets (libset/libset.h): its kpf_libset_cur, the launcher's */
	void **libset_table;
	void **libset_caller;
	int libset_copy;		/* copy it holds, -1 = none */
	/* task_state.c: the task's errno, locale and signal mask */
	int task_errno;
	int caller_errno;
	locale_t locale;		/* NULL: not run yet */
	locale_t caller_locale;
	int mask_own;			/* @mask: its own, set when it runs */
	int mask_live;			/* the thread has its own mask now */
	sigset_t mask;			/* (_NSIG bits valid) */
	sigset_t caller_mask;		/* its launcher's while mask_live */
	/* pinning: the thread that launched it, unless it may migrate */
	uint64_t home;			/* struct kpf_thread.id */
	unsigned int flags;		/* KPF_LAUNCH_* */
	int paused;			/* stopped by kpf_pause() */
};

/**
 * struct kpf_thread - per-thread state, in a page-aligned mapping
 * @area:	the kpf_area; for kmod it is registered with the kernel, the
 *		signal backend fills it in the same way. Must stay first:
 *		the upcall passes &area and the code converts it back.
 * @xsave_scratch: where kpf_upcall_entry saves the extended state.
 * @upcall_top:	initial rsp of the upcall entry.
 * @busy:	non-zero while library code runs; an expiry that hits it is
 *		retried later instead of preempting.
 */
struct kpf_thread {
	struct kpf_area area;
	void *xsave_scratch;
	uint64_t upcall_top;
	uint32_t busy;
	uint32_t backend_ready;
	uint32_t defer_expired;		/* preemption waits: defer end */
	uint64_t retry_ns;		/* next retry distance (backs off) */
	uint64_t defer_mark;		/* libset/defer_auto.h: rsp at the */
	uint64_t defer_mark_ret;	/* outermost deferred call, [rsp] */
	uint32_t defer_want;		/* an expiry found it inside one */
	uint32_t defer_pad;
	uint64_t run_stack_lo;		/* the running task's stack, where */
	uint64_t run_stack_hi;		/* a stub may record its mark */
	uint64_t clk_tsc;		/* clock.c: anchor TSC ... */
	uint64_t clk_ns;		/* ... and CLOCK_MONOTONIC there */
	uint64_t clk_mult;		/* ns per tick, 32.32 fixed point */
	uint64_t clk_window;		/* ticks before re-anchoring */
	struct kpf_task *current;
	uint64_t id;			/* unique per thread, for pinning */
	int depth;
	int kmod_fd;
	timer_t timer;
	pid_t tid;
	void *upcall_map;
	size_t upcall_map_size;
	size_t upcall_guard;		/* PROT_NONE bytes at upcall_map */
	void *altstack_map;
	size_t altstack_map_size;
	int own_altstack;
	uintptr_t altstack_lo;		/* the thread's sigaltstack ... */
	uintptr_t altstack_hi;		/* ... at its first use */
	unsigned int cache_count;
	struct kpf_task *cache;		/* per-thread free stacks */
	size_t map_size;
	uint64_t signal_check_ns;	/* backend_signal.c: next check */
	int signal_bad;			/* ... and its last finding */
	uint64_t linger_ns;		/* kpf_thread_linger(), kmod only */
	uint32_t linger_max;
	struct kpf_stats stats;
};

_Static_assert(offsetof(struct kpf_exec_ctx, rsp) == KPF_CTX_RSP, "asm");
_Static_assert(offsetof(struct kpf_exec_ctx, kind) == KPF_CTX_KIND, "asm");
_Static_assert(offsetof(struct kpf_exec_ctx, xsave) == KPF_CTX_XSAVE, "asm");
_Static_assert(offsetof(struct kpf_area, pending) == KPF_AREA_PENDING, "asm");
_Static_assert(offsetof(struct kpf_area, in_upcall) == KPF_AREA_IN_UPCALL,
	       "asm");
_Static_assert(offsetof(struct kpf_thread, area) == 0, "asm");
_Static_assert(offsetof(struct kpf_thread, xsave_scratch) == KPF_THREAD_XSAVE,
	       "asm");
_Static_assert(offsetof(struct kpf_thread, upcall_top) ==
	       KPF_THREAD_UPCALL_TOP, "asm");
_Static_assert(offsetof(struct kpf_thread, busy) == KPF_THREAD_BUSY, "asm");
_Static_assert(offsetof(struct kpf_thread, defer_mark) == KPF_THREAD_MARK,
	       "asm");
_Static_assert(offsetof(struct kpf_thread, defer_mark_ret) ==
	       KPF_THREAD_MARK_RET, "asm");
_Static_assert(offsetof(struct kpf_thread, defer_want) ==
	       KPF_THREAD_DEFER_WANT, "asm");
_Static_assert(offsetof(struct kpf_thread, run_stack_lo) ==
	       KPF_THREAD_RUN_LO, "asm");
_Static_assert(offsetof(struct kpf_thread, run_stack_hi) ==
	       KPF_THREAD_RUN_HI, "asm");
_Static_assert(sizeof(struct kpf_frame) == 18 * 8, "frame layout");

/**
 * struct kpf_globals - process-wide configuration, fixed by kpf_init()
 */
struct kpf_globals {
	int initialized;
	int backend;			/* KPF_BACKEND_KMOD or _SIGNAL */
	int signo;
	size_t stack_size;
	uint64_t retry_ns;
	unsigned int pool_max;
	uint64_t kmod_min_ns;
	int kmod_linger;		/* the module has KPF_ARM_LINGER */
	int kmod_arm_at;		/* the module has KPF_IOC_ARM_AT */
	int tsc_clock;			/* clock.c may use the TSC */
};

extern struct kpf_globals kpf_g KPF_HIDDEN;

/* xstate.c */
extern uint32_t kpf_xsave_mask_lo KPF_HIDDEN;
extern uint32_t kpf_xsave_mask_hi KPF_HIDDEN;
extern uint32_t kpf_xsave_mode KPF_HIDDEN;	/* 1 = xsave, 0 = fxsave */
extern uint32_t kpf_xsave_size KPF_HIDDEN;
KPF_HIDDEN void kpf_xstate_init(void);

/* switch_x86_64.S */
KPF_HIDDEN void kpf_switch(struct kpf_exec_ctx *save, const struct kpf_exec_ctx *load,
			   struct kpf_thread *self);
KPF_HIDDEN __attribute__((noreturn))
void kpf_ctx_load(const struct kpf_exec_ctx *load, struct kpf_thread *self);
KPF_HIDDEN __attribute__((noreturn))
void kpf_frame_return(struct kpf_thread *self, const void *xsave,
		      uint64_t frame_sp);
KPF_HIDDEN void kpf_upcall_entry(void);
/* kpf_frame_return(): in_upcall released, rsp at the frame to resume */
extern const char kpf_frame_return_window[] KPF_HIDDEN;
extern const char kpf_frame_return_window_end[] KPF_HIDDEN;
/* the pops of a resume frame: in kpf_frame_return(), in kpf_ctx_load() */
extern const char kpf_frame_return_pops[] KPF_HIDDEN;
extern const char kpf_ctx_load_pops[] KPF_HIDDEN;
/* offset of each pop from the first, the same in both */
#define KPF_FRAME_POPS		(KPF_RESUME_FRAME / 8)
extern const int32_t kpf_frame_pop_offsets[KPF_FRAME_POPS] KPF_HIDDEN;
KPF_HIDDEN void kpf_task_trampoline(void);

/* thread.c; signal handlers read the TLS pointer directly */
extern __thread struct kpf_thread *kpf_tls_self
	__attribute__((tls_model("initial-exec"))) KPF_HIDDEN;
KPF_HIDDEN struct kpf_thread *kpf_thread_self(void);
KPF_HIDDEN struct kpf_thread *kpf_thread_peek(void);
KPF_HIDDEN int kpf_thread_init_process(void);

/* stack_pool.c */
KPF_HIDDEN struct kpf_task *kpf_stack_pool_get(struct kpf_thread *self);
KPF_HIDDEN void kpf_stack_pool_put(struct kpf_thread *self,
				   struct kpf_task *task);
KPF_HIDDEN void kpf_stack_pool_thread_exit(struct kpf_thread *self);
KPF_HIDDEN void kpf_stack_check(const struct kpf_task *t);

/* backend_signal.c */
KPF_HIDDEN int kpf_signal_process_init(void);
KPF_HIDDEN int kpf_signal_thread_init(struct kpf_thread *self);
KPF_HIDDEN void kpf_signal_thread_exit(struct kpf_thread *self);
KPF_HIDDEN void kpf_signal_arm(struct kpf_thread *self, uint64_t deadline);
KPF_HIDDEN void kpf_signal_disarm(struct kpf_thread *self);
KPF_HIDDEN int kpf_signal_check(struct kpf_thread *self);

/* backend_kmod.c */
KPF_HIDDEN int kpf_kmod_process_init(int forced);
KPF_HIDDEN int kpf_kmod_thread_init(struct kpf_thread *self);
KPF_HIDDEN void kpf_kmod_thread_exit(struct kpf_thread *self);
KPF_HIDDEN void kpf_kmod_arm(struct kpf_thread *self, uint64_t deadline);

/* task.c */
KPF_HIDDEN __attribute__((noreturn)) void kpf_upcall(struct kpf_area *area);
KPF_HIDDEN __attribute__((noreturn)) void kpf_task_main(struct kpf_task *t);
KPF_HIDDEN void kpf_yield_preempted(struct kpf_thread *self);
KPF_HIDDEN void kpf_task_discard_running(struct kpf_thread *self);

/* task_state.c */
KPF_HIDDEN void kpf_task_state_init(struct kpf_task *t, int caller_errno);
KPF_HIDDEN void kpf_task_state_enter(struct kpf_thread *self,
				     struct kpf_task *t, int caller_errno);
KPF_HIDDEN void kpf_task_state_leave(struct kpf_thread *self,
				     struct kpf_task *t, int preempted);
KPF_HIDDEN void kpf_task_state_signal(struct kpf_thread *self,
				      const sigset_t *interrupted);

/* sigaction.c */
KPF_HIDDEN void kpf_signal_own(int sig, const struct sigaction *prev);
KPF_HIDDEN void kpf_signal_prev_take(struct sigaction *out);

/* sigmask.c */
KPF_HIDDEN int kpf_sigmask_raw(int how, const sigset_t *set, sigset_t *old);

/* fault.c */
KPF_HIDDEN int kpf_fault_init(void);
KPF_HIDDEN __attribute__((noreturn, format(printf, 1, 2)))
void kpf_die(const char *fmt, ...);

/* config.c */
KPF_HIDDEN int kpf_ensure_init(void);

/**
 * kpf_now_ns() - CLOCK_MONOTONIC in nanoseconds (vDSO, no system call)
 */
static inline uint64_t kpf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* clock.c */
KPF_HIDDEN void kpf_clock_init(void);
KPF_HIDDEN uint64_t kpf_clock_slow(struct kpf_thread *self);

/**
 * kpf_clock_ns() - CLOCK_MONOTONIC for a deadline, cheaply
 * @self: calling thread
 *
 * Within a few hundred ns of kpf_now_ns(); see clock.c.
 */
static inline uint64_t kpf_clock_ns(struct kpf_thread *self)
{
	uint64_t d;

	if (!kpf_g.tsc_clock)
		return kpf_now_ns();
	d = __builtin_ia32_rdtsc() - self->clk_tsc;
	if (__builtin_expect(d < self->clk_window, 1))
		return self->clk_ns + (uint64_t)
		       (((unsigned __int128)d * self->clk_mult) >> 32);
	return kpf_clock_slow(self);
}

#define kpf_barrier()	__asm__ __volatile__("" ::: "memory")

/**
 * kpf_arm_deadline() - ask for an upcall at @deadline (0 = none)
 * @self: calling thread
 * @deadline: absolute CLOCK_MONOTONIC ns, 0 to disarm
 *
 * The common case is a plain store: the timer already queued for an
 * earlier time finds the new deadline in the area and moves itself
 * (kernel) or is moved by the signal handler. Only a deadline earlier
 * than the queued expiry, or no queued expiry, costs a system call.
 */
static inline void kpf_arm_deadline(struct kpf_thread *self, uint64_t deadline)
{
	uint64_t armed;

	if (deadline == KPF_NO_DEADLINE)
		deadline = 0;
	if (!deadline) {
		__atomic_store_n(&self->area.deadline_ns, 0, __ATOMIC_RELEASE);
		return;
	}
	if (kpf_g.backend == KPF_BACKEND_KMOD) {
		/* Dekker with the timer callback, maybe on another CPU */
		__atomic_exchange_n(&self->area.deadline_ns, deadline,
				    __ATOMIC_SEQ_CST);
	} else {
		/* the signal handler interrupts this very thread */
		__atomic_store_n(&self->area.deadline_ns, deadline,
				 __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	armed = __atomic_load_n(&self->area.armed_ns, __ATOMIC_RELAXED);
	if (armed && armed <= deadline)
		return;
	if (kpf_g.backend == KPF_BACKEND_KMOD)
		kpf_kmod_arm(self, deadline);
	else
		kpf_signal_arm(self, deadline);
}

/**
 * kpf_disarm() - no upcall any more: the thread leaves its outermost task
 * @self: calling thread
 *
 * kmod: a store; an expiry still queued finds deadline 0 and does
 * nothing, without any effect on the thread. signal: the queued timer is
 * really stopped (one system call), because its signal would interrupt
 * the launcher's own blocking calls with EINTR. A signal already sent is
 * delivered (to our handler, which ignores it) as timer_settime()
 * returns, before any code of the launcher runs.
 */
static inline void kpf_disarm(struct kpf_thread *self)
{
	__atomic_store_n(&self->area.deadline_ns, 0, __ATOMIC_RELEASE);
	if (kpf_g.backend == KPF_BACKEND_SIGNAL &&
	    __atomic_load_n(&self->area.armed_ns, __ATOMIC_RELAXED))
		kpf_signal_disarm(self);
}

#endif /* KPF_INTERNAL_H */
