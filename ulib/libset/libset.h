/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Libsets: copies of non-reentrant libraries, switched per task through
 * the GOT (see libset.c for the design). This header is what the rest of
 * libkpf sees: the per-thread table pointer and the task switch hooks.
 *
 * The hooks cost one predictable branch while no libset is declared, and
 * reference nothing that needs the dynamic loader, so statically linked
 * programs (which cannot have libsets: dlmopen needs a dynamic program)
 * do not pull libset.c in.
 */
#ifndef KPF_LIBSET_H
#define KPF_LIBSET_H

#include <stdint.h>

struct kpf_task;
struct kpf_thread;

/*
 * The current function table of this thread: the dispatch stubs jump to
 * kpf_libset_cur[id]. Points at the base table outside tasks (also in
 * threads created before the declaration: the TLS initializer), at the
 * copy table of the task that runs, at the first-call table of a task that
 * holds no copy yet, or at the fallback table. Initial-exec, so the stubs
 * can address it as %fs:offset.
 */
extern __thread void **kpf_libset_cur
	__attribute__((tls_model("initial-exec"))) __attribute__((visibility("hidden")));

/**
 * struct kpf_libset_ops - what task.c calls once libsets are active
 * @task_done:	the task finished normally: release its copy as is.
 * @task_cancelled: the task was cancelled: its copy is reloaded before
 *		anyone uses it again (its state may be half-updated).
 * @preempted:	the task was preempted at @rip: count it if that is inside
 *		a copy.
 * @first_table: the table a new task starts with.
 */
struct kpf_libset_ops {
	void (*task_done)(struct kpf_thread *self, struct kpf_task *t);
	void (*task_cancelled)(struct kpf_task *t);
	void (*preempted)(struct kpf_thread *self, uint64_t rip);
	void **first_table;
};

/* non-NULL once a libset is loaded (before the first launch) */
extern const struct kpf_libset_ops *kpf_libset_ops
	__attribute__((visibility("hidden")));

/* set when kpf_launch() ran: declarations are refused from then on */
extern int kpf_libset_launched __attribute__((visibility("hidden")));

/* libset.c (through weak references: only dynamic programs have it) */
__attribute__((visibility("hidden"))) int kpf_libset_env_init(void);
__attribute__((visibility("hidden"))) void kpf_libset_after_load(void);

#endif /* KPF_LIBSET_H */
