/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpf: internal interfaces shared by the files of the module.
 *
 * One struct kpf_ctx per open file of /dev/kpf. Its life:
 *
 *   open --> UNBOUND --REGISTER--> REGISTERED --UNREGISTER--> UNBOUND
 *                                   |  ARM/DISARM change the timer
 *   close (last fput) --------------+--> released (timer cancelled)
 *
 * Three things run against a registered context and are ordered thus:
 *  - ioctls, always from the owning thread, serialised by @ioctl_lock
 *    (ARM, ARM_AT and DISARM by the owner do without it: nothing else can
 *    change a registration while its owner is in an ioctl, see
 *    kpf_ctx_mine(); what they share with close is under @timer_lock);
 *  - the hrtimer callback, in hardirq on whichever CPU armed the timer;
 *  - the delivery task_work, on the owning thread on its way to user mode.
 * @timer_lock (a raw spinlock, taken in hardirq) covers the state the
 * callback shares with the other two. A queued task_work holds a
 * reference on the context (@ref), never on the file, so close and
 * release are never held up by a thread that does not reach user mode;
 * release cancels the timer, so the context outlives every callback too.
 * The context holds the module through @anchor (see kpf_ctx_put()).
 */
#ifndef KPF_INTERNAL_H
#define KPF_INTERNAL_H

#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/refcount.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <uapi/linux/kpf.h>

struct kpf_user;

/**
 * struct kpf_ctx - one open file of /dev/kpf
 * @ref:	one for the file until release, one for a queued delivery.
 * @anchor:	an anonymous file whose f_op->owner is this module: the
 *		context's reference on the module, dropped by fput().
 * @ioctl_lock:	serialises REGISTER, UNREGISTER, close, and ARM/DISARM by
 *		a thread that is not the owner (which then get EPERM).
 * @timer_lock:	protects everything below @timer against the callback.
 * @timer:	the per-thread hrtimer, HRTIMER_MODE_ABS_PINNED_HARD.
 * @work:	the delivery task_work.
 * @task:	owning thread (a reference is held), NULL while unbound.
 * @mm:		the owner's mm at registration (mmgrab'ed); exec changes it.
 * @user:	per-user accounting entry.
 * @page:	the pinned page that holds the area.
 * @area:	kernel mapping of the area inside @page.
 * @uarea:	user address of the area, passed to the entry in rdi.
 * @entry:	user address of the upcall entry.
 * @stack_top:	user rsp for the entry: 16-byte aligned top minus 8.
 * @sys_nice:	the owner had CAP_SYS_NICE at registration.
 * @armed:	set by ARM, cleared by stop: a callback that waited for
 *		timer_lock while the timer was stopped does nothing.
 * @periodic:	the timer is periodic; otherwise the area deadline rules.
 * @period_ns:	period when @periodic.
 * @paused:	periodic timer stopped until the queued delivery runs.
 * @gone:	the owner exited or exec'd: the timer stays stopped for good.
 * @closed:	the owner closed its last descriptor (kpf_flush()): ARM
 *		fails with EBADF while the owner has none in its table, so
 *		an ARM that was in flight across that close cannot start the
 *		timer again; cleared by an ARM through one, or UNREGISTER.
 * @retry:	a delivery found no final frame; the timer retries it.
 * @retries:	consecutive retries, for the backoff.
 * @retry_expiry: intended expiry of the delivery being retried (ns).
 * @busy_expiries: consecutive periodic expiries that found in_upcall set.
 * @min_distance_ns: shortest distance from now the callback may re-arm to.
 * @linger_ns:	KPF_ARM_LINGER: distance the timer lingers ahead while no
 *		deadline is stored; 0 when not lingering.
 * @linger_max:	lingering expiries allowed in a row.
 * @lingered:	lingering expiries in a row so far.
 * @gen:	bumped by DISARM/UNREGISTER to drop queued deliveries.
 * @work_queued: @work is on the owner's task_work list.
 * @work_gen:	@gen when @work was queued.
 * @work_expiry: intended expiry of the queued delivery (ns).
 * @work_irq:	time the callback queued it (ns).
 */
struct kpf_ctx {
	refcount_t ref;
	struct file *anchor;
	struct mutex ioctl_lock;	/* see above */
	raw_spinlock_t timer_lock;
	struct hrtimer timer;
	struct callback_head work;

	struct task_struct *task;
	struct mm_struct *mm;
	struct kpf_user *user;
	struct page *page;
	struct kpf_area *area;
	u64 uarea;
	u64 entry;
	u64 stack_top;
	bool sys_nice;

	bool armed;
	bool periodic;
	u64 period_ns;
	bool paused;
	bool gone;
	bool closed;
	bool retry;
	unsigned int retries;
	u64 retry_expiry;
	unsigned int busy_expiries;
	u64 min_distance_ns;
	u64 linger_ns;
	u32 linger_max;
	u32 lingered;
	u32 gen;
	bool work_queued;
	u32 work_gen;
	u64 work_expiry;
	u64 work_irq;
};

/* Global counters, per CPU, summed for sysfs. */
enum kpf_stat {
	KPF_STAT_FIRES,
	KPF_STAT_DELIVERED,
	KPF_STAT_DELIVERED_IRQ,
	KPF_STAT_DEFERRED,
	KPF_STAT_OVERRUNS,
	KPF_STAT_REARMS,
	KPF_STAT_DROPPED,
	KPF_STAT_LINGERS,
	KPF_STAT_NR,
};

/**
 * struct kpf_stats - one CPU's counters
 * @count:	indexed by enum kpf_stat.
 */
struct kpf_stats {
	u64 count[KPF_STAT_NR];
};

DECLARE_PER_CPU(struct kpf_stats, kpf_stats);

/*
 * Inline, not a call into kpf_stats.c: the hardirq path bumps up to three
 * of them per expiry, and each is a single per-CPU add.
 */
static inline void kpf_stat_add(enum kpf_stat stat, u64 n)
{
	this_cpu_add(kpf_stats.count[stat], n);
}

static inline void kpf_stat_inc(enum kpf_stat stat)
{
	this_cpu_inc(kpf_stats.count[stat]);
}

extern const struct attribute_group *kpf_stat_groups[];

/* kpf_limits.c */
bool kpf_sys_nice(void);

extern u64 kpf_min_period_param_ns;
extern u64 kpf_min_period_cap_param_ns;

/**
 * kpf_min_period_ns() - shortest period and one-shot distance
 * @sys_nice:	the caller had CAP_SYS_NICE (kpf_sys_nice()).
 *
 * Inline: ARM asks on every call.
 *
 * Return: min_period_cap_ns with @sys_nice, else the larger of the two
 * parameters (so lowering only the privileged one never helps the
 * unprivileged).
 */
static inline u64 kpf_min_period_ns(bool sys_nice)
{
	u64 cap = READ_ONCE(kpf_min_period_cap_param_ns);

	if (sys_nice)
		return cap;
	return max(READ_ONCE(kpf_min_period_param_ns), cap);
}

unsigned int kpf_max_contexts(void);
int kpf_user_charge(struct kpf_user **user);
void kpf_user_uncharge(struct kpf_user *user);
int kpf_registered_contexts(void);

/* kpf_register.c */
int kpf_ioctl_register(struct kpf_ctx *ctx, const void __user *uarg,
		       u32 usize);
int kpf_ioctl_unregister(struct kpf_ctx *ctx);
void kpf_unbind(struct kpf_ctx *ctx);

/* kpf_timer.c */
void kpf_timer_init(struct kpf_ctx *ctx);
int kpf_ioctl_arm(struct kpf_ctx *ctx, const void __user *uarg, u32 usize);
long kpf_ioctl_arm_at(struct kpf_ctx *ctx, u64 when);
int kpf_ioctl_disarm(struct kpf_ctx *ctx);
void kpf_timer_stop(struct kpf_ctx *ctx);
void kpf_timer_close(struct kpf_ctx *ctx);
void kpf_timer_resume(struct kpf_ctx *ctx);
void kpf_timer_retry(struct kpf_ctx *ctx, u64 expiry);

/* kpf_deliver.c */
void kpf_deliver_work(struct callback_head *head);
bool kpf_deliver_irq(struct kpf_ctx *ctx, u64 expiry, u64 irq);

/* kpf_main.c */
void kpf_ctx_put(struct kpf_ctx *ctx);
bool kpf_ctx_in_my_table(struct kpf_ctx *ctx);
int kpf_copy_arg(void *dst, size_t ksize, size_t ver0,
		 const void __user *uarg, u32 usize);

/**
 * kpf_area_add() - add to a kernel-written counter of the shared area
 * @counter:	a __u64 counter field of the struct kpf_area of a context
 *		whose timer_lock is held.
 * @n:		amount.
 *
 * The hardirq callback and the delivery task_work both write counters;
 * timer_lock makes the read-modify-write atomic between them. User space
 * only reads, and a single aligned store never tears.
 */
static inline void kpf_area_add(__u64 *counter, u64 n)
{
	WRITE_ONCE(*counter, *counter + n);
}

#endif /* KPF_INTERNAL_H */
