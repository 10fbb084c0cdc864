/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkpf: preemptible functions for C.
 *
 * kpf_launch() calls a function with a time budget. If it has not returned
 * when the budget runs out it is stopped wherever it is, and the caller gets
 * back a handle that can be resumed later (on any thread) or cancelled.
 * Preemptible functions nest: a task may launch tasks of its own.
 *
 * The kernel module kpf.ko (/dev/kpf) makes preemption cheap and free of
 * signals ("kmod" backend); without it a per-thread POSIX timer signal is
 * used ("signal" backend). Documentation/libkpf.md is the full reference.
 */
#ifndef KPF_H
#define KPF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return values of kpf_launch() and kpf_resume() (errors are -errno). */
#define KPF_DONE	0	/* the function returned; the task is freed */
#define KPF_PREEMPTED	1	/* out of budget or paused: resumable */

/* A budget that never runs out (the task may still kpf_pause()). */
#define KPF_FOREVER	UINT64_MAX

/* Opaque handle of a started, not yet finished preemptible function. */
typedef struct kpf_task kpf_task;

/* struct kpf_config backends */
#define KPF_BACKEND_AUTO	0	/* kmod if /dev/kpf works */
#define KPF_BACKEND_KMOD	1
#define KPF_BACKEND_SIGNAL	2

/* struct kpf_config flags */
/* Do not rewrite GOTs for automatic deferral (KPF_DEFER_AUTO=1 overrides). */
#define KPF_CONFIG_NO_DEFER_AUTO	0x1u

/**
 * struct kpf_config - library configuration for kpf_init()
 * @size:	sizeof(struct kpf_config), so the structure can grow; 0 is
 *		taken as the size this header declares.
 * @backend:	KPF_BACKEND_*; the KPF_BACKEND environment variable
 *		(kmod, signal or auto) overrides it.
 * @stack_size:	usable stack of each task in bytes, rounded up to pages;
 *		0 = 2 MiB. Only touched pages cost memory.
 * @signal:	real-time signal of the signal backend; 0 = the first one
 *		from SIGRTMIN + 4 up that has no handler and is not blocked
 *		in the calling thread. A named signal that has a handler is
 *		refused (-EBUSY). KPF_SIGNAL in the environment overrides it.
 *		Tasks cannot block it; signals of it that libkpf's timers did
 *		not send go to the previous disposition.
 * @retry_ns:	when an expiry hits library code (a context switch in
 *		progress), preemption is retried this much later; 0 = 20 us.
 * @pool_max:	task stacks kept for reuse process-wide; 0 = 64.
 * @flags:	KPF_CONFIG_* flags, or 0.
 */
struct kpf_config {
	size_t size;
	int backend;
	int signal;
	size_t stack_size;
	uint64_t retry_ns;
	unsigned int pool_max;
	unsigned int flags;
};

/**
 * kpf_init() - choose the backend and set the configuration
 * @cfg: configuration, or NULL for the defaults.
 *
 * Optional: the first kpf_launch() initializes with the defaults. Only the
 * first successful call takes effect; later calls return 0.
 *
 * Return: 0, -ENODEV if the kmod backend was forced and /dev/kpf is not
 * usable, -EINVAL for a bad configuration, or another -errno.
 */
int kpf_init(const struct kpf_config *cfg);

/**
 * kpf_launch() - run @fn(@arg) as a preemptible function
 * @task: receives the handle while the task is not finished
 * @fn: function to run on a stack of its own
 * @arg: its argument
 * @budget_ns: how long it may run now, in ns of CLOCK_MONOTONIC (wall)
 *	time from this call - not CPU time: time the thread spends
 *	descheduled or blocked counts too. Clamped to what remains of the
 *	enclosing task's budget; KPF_FOREVER (or any budget ending more
 *	than 2^63 ns after boot) for no limit.
 *
 * The task runs on the calling thread and may only be resumed there (see
 * kpf_launch_flags() for tasks that may move). Its errno, uselocale()
 * locale and signal mask stay with it when it is preempted or pauses, and
 * its signal mask never reaches the caller; the caller's errno, locale
 * and mask are the ones it had at this call (see libkpf.md). A task must be left by returning (or
 * pthread_exit(), exit()): longjmp() out of it aborts with a message.
 *
 * Return: KPF_DONE (@fn returned, *@task is NULL), KPF_PREEMPTED (*@task
 * can be resumed or cancelled) or -errno: -EINVAL for a zero budget or a
 * NULL argument; -ENOMEM when no stack can be mapped or task stacks
 * already use half of vm.max_map_count; -EBUSY on the signal backend when
 * its signal was taken over by another handler or is blocked in this
 * thread (with a message). On error nothing is left allocated.
 */
int kpf_launch(kpf_task **task, void (*fn)(void *), void *arg,
	       uint64_t budget_ns);

/* kpf_launch_flags() flags */
#define KPF_LAUNCH_MIGRATE	(1U << 0)	/* may resume on any thread */
#define KPF_LAUNCH_FLAGS	KPF_LAUNCH_MIGRATE

/**
 * kpf_launch_flags() - kpf_launch() with flags
 * @task, @fn, @arg, @budget_ns: as for kpf_launch()
 * @flags: KPF_LAUNCH_MIGRATE: the task may be resumed on any thread.
 *	Without it a task is pinned to the thread that launched it, because
 *	compiled code keeps thread-local addresses (&errno, other TLS,
 *	pthread_self()) in registers across the points where it may be
 *	preempted, and would use the first thread's after a move. A
 *	migrating task must not keep such addresses or values across code
 *	that can be preempted. Tasks launched inside a migrating task
 *	migrate too.
 *
 * Return: as kpf_launch(); -EINVAL for unknown flags.
 */
int kpf_launch_flags(kpf_task **task, void (*fn)(void *), void *arg,
		     uint64_t budget_ns, unsigned int flags);

/**
 * kpf_resume() - continue a preempted task with a new budget
 * @task: a task for which kpf_launch()/kpf_resume() returned KPF_PREEMPTED
 * @budget_ns: as for kpf_launch()
 *
 * Only on the thread that launched the task, unless it was launched with
 * KPF_LAUNCH_MIGRATE. Return: KPF_DONE (the task is freed; the handle must
 * not be used again), KPF_PREEMPTED, -EINVAL (NULL, zero budget, or a
 * handle of a finished or cancelled task that the library can still
 * recognise), -EBUSY (the task is running), -EXDEV (a pinned task on
 * another thread).
 */
int kpf_resume(kpf_task *task, uint64_t budget_ns);

/**
 * kpf_cancel() - discard a preempted task
 * @task: a preempted task, or NULL (nothing happens)
 *
 * Runs the task's kpf_on_cancel() handlers, most recent first, on the
 * calling thread (any thread, also for a pinned task), then frees the task
 * and returns its stack to the pool.
 * Cancelling a running task aborts the program with a message.
 */
void kpf_cancel(kpf_task *task);

/**
 * kpf_pause() - inside a task: return KPF_PREEMPTED to the launcher now
 *
 * Calling it outside a preemptible function aborts with a message.
 */
void kpf_pause(void);

/**
 * kpf_defer_begin() - start a section in which preemption is deferred
 *
 * Sections nest. A preemption due inside happens at the outermost
 * kpf_defer_end().
 */
void kpf_defer_begin(void);

/**
 * kpf_defer_end() - end a deferral section; a deferred preemption happens here
 *
 * An unbalanced call aborts the program with a message.
 */
void kpf_defer_end(void);

/**
 * kpf_defer_library() - defer preemption in calls into another library
 * @soname: the library's DT_SONAME or file name, e.g. "libsqlite3.so.0"
 *
 * By default (automatic deferral) a task is never preempted while a call
 * into libc.so.6, ld-linux-x86-64.so.2, libstdc++.so.6 or libgcc_s.so.1
 * runs, nor in a callback such a call makes; KPF_DEFER_LIBS=a:b in the
 * environment and this call add libraries. May be called before or after
 * kpf_init(); a library loaded later is covered when it is loaded.
 * Dynamically linked programs only (a static program has no GOT: use
 * kpf_defer_begin/end there).
 *
 * Return: 0 (also if already deferred), -EINVAL (NULL, empty, a path or
 * longer than 255 bytes), -ENOSPC (more than 32 libraries), -ENOMEM.
 */
int kpf_defer_library(const char *soname);

/**
 * kpf_defer_auto_slots() - GOT slots rewritten by automatic deferral
 *
 * Return: how many GOT slots point at deferral stubs (0 when automatic
 * deferral is off, or in a static program).
 */
unsigned long kpf_defer_auto_slots(void);

/**
 * kpf_on_cancel() - register a cleanup for the running task
 * @fn: function run by kpf_cancel() (not when the task returns)
 * @arg: its argument
 *
 * Return: 0, -EPERM outside a preemptible function, -ENOMEM.
 */
int kpf_on_cancel(void (*fn)(void *), void *arg);

/**
 * kpf_backend() - name of the backend in use
 *
 * Return: "kmod" or "signal"; initializes the library if needed, and
 * returns "none" if that fails.
 */
const char *kpf_backend(void);

/**
 * kpf_in_task() - whether the caller runs inside a preemptible function
 *
 * Return: nesting depth of the running task, 0 outside any task.
 */
int kpf_in_task(void);

/**
 * struct kpf_stats - per-thread counters, for tests and benchmarks
 * @size:	the caller sets sizeof(struct kpf_stats) (0 is taken as the
 *		size this header declares); kpf_thread_stats() sets it to the
 *		number of bytes it filled in. Fields are only ever appended,
 *		so a program built against an older header gets the fields it
 *		knows, and one built against a newer header finds in @size
 *		which fields the library filled (the rest is left untouched).
 * @launches:	kpf_launch() calls that started a task.
 * @preemptions: tasks stopped by their budget.
 * @retries:	expiries that hit library code and were retried later.
 * @upcalls:	upcalls (kmod) or delivered timer signals (signal).
 * @arm_syscalls: system calls made to arm or disarm the timer.
 * @deferred_in_library: expiries that found the task inside a call into a
 *		deferred library (automatic deferral) and were retried.
 * @libset_copies: libset copies handed to tasks of this thread (at their
 *		first call into a libset library).
 * @libset_fallbacks: tasks that found no free libset copy at their first
 *		call into a libset library: their calls into it run in the
 *		base copy with preemption deferred until each returns.
 * @libset_preemptions: preemptions that stopped a task inside its libset
 *		copy (the point of having copies).
 * @linger_expiries: kmod: timer interrupts that found no task to preempt
 *		and kept the timer queued, the price of kpf_thread_linger()
 *		(0 without it, and on the signal backend).
 * @stack_syscalls: system calls made for task stacks: mapping and
 *		guarding one for a launch that found none pooled (mmap, then
 *		madvise or mprotect), unmapping one given back beyond the
 *		pool's limit (munmap). A kpf_cancel() counts on the thread
 *		that calls it, whoever launched the task; stacks handed back
 *		at thread exit or by a thread that never used libkpf are not
 *		counted.
 *
 * Fields are only ever appended.
 */
struct kpf_stats {
	uint64_t size;
	uint64_t launches;
	uint64_t preemptions;
	uint64_t retries;
	uint64_t upcalls;
	uint64_t arm_syscalls;
	uint64_t deferred_in_library;
	uint64_t libset_copies;
	uint64_t libset_fallbacks;
	uint64_t libset_preemptions;
	uint64_t linger_expiries;
	uint64_t stack_syscalls;
};

/**
 * kpf_thread_stats() - counters of the calling thread
 * @stats: filled in up to @stats->size bytes; see struct kpf_stats
 *
 * Return: 0, or -EINVAL if @stats is NULL or its size is smaller than the
 * size field itself.
 */
int kpf_thread_stats(struct kpf_stats *stats);

/**
 * kpf_thread_linger() - keep the calling thread's timer queued while idle
 * @linger_ns: the shortest budget this thread launches or resumes tasks
 *	with (a pool's quantum, a little less to absorb clock skew); 0 turns
 *	lingering off
 * @count: most timer interrupts an idle period may cost (1 to 1024; 0
 *	with @linger_ns 0)
 *
 * kmod backend. Arming is a store into the thread's area while the
 * module's timer is queued for an earlier time; once it has found no task
 * to preempt (the thread went idle) or has preempted one, it stops, and
 * the next launch or resume makes a system call (KPF_IOC_ARM). Lingering,
 * the timer instead stays queued @linger_ns ahead, up to @count times in a
 * row, so that a launch or resume with a budget of at least @linger_ns
 * within @count * @linger_ns of going idle only stores its deadline. Each
 * expiry that finds the thread idle is an interrupt that does nothing
 * (kpf_stats.linger_expiries counts them); after @count of them the timer
 * stops until the next arming system call. Takes effect at the next
 * system call that arms the timer (normally the next launch or resume).
 *
 * Return: 0, -EINVAL (@count above 1024, only one of the two zero,
 * @linger_ns above one hour or below the module's minimum distance),
 * -EOPNOTSUPP on the signal backend or with a module without
 * KPF_FEAT_LINGER, or the -errno of kpf_init() or of setting up the
 * thread.
 */
int kpf_thread_linger(uint64_t linger_ns, unsigned int count);

/**
 * kpf_libset_declare() - make a non-reentrant library preemptible
 * @soname: the library as dlopen() would be given it, e.g.
 *	"libsqlite3.so.0" (the KPF_LIBSETS environment variable, a
 *	colon-separated list, declares libraries the same way at kpf_init()).
 *
 * Loads copies of the library (and of its dependencies other than libc,
 * ld.so, libstdc++ and libgcc_s) with dlmopen(), as many as the loader
 * allows or KPF_LIBSET_COPIES. From then on each task that calls into the
 * library gets a copy of its own, holds it until it finishes, and may be
 * preempted inside it while the launcher and other tasks use theirs.
 * Only dynamically linked programs can have libsets. See
 * Documentation/libkpf.md for the contract (globals are per copy).
 *
 * Return: 0 (also for a library declared already), -EBUSY after the first
 * kpf_launch(), -EINVAL for a NULL, empty, too long or ':'-containing
 * name, -ENOENT if the library cannot be loaded, -ENOSPC if
 * KPF_LIBSET_COPIES copies cannot be loaded or 16 libraries are declared
 * already, -ENOMEM if no copy at all could be loaded, -EOPNOTSUPP in a
 * statically linked program.
 */
int kpf_libset_declare(const char *soname);

/**
 * kpf_libset_copies() - number of libset copies loaded
 *
 * Return: copies that tasks can be given (0 when no libset is declared).
 */
int kpf_libset_copies(void);

#ifdef __cplusplus
}
#endif

#endif /* KPF_H */
