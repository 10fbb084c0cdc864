// SPDX-License-Identifier: GPL-2.0
/*
 * kpf timer: when to preempt.
 *
 * Each context has one hrtimer, armed on the CPU that calls KPF_IOC_ARM
 * and run in hardirq. It works in one of two modes.
 *
 * Deadline mode (one-shot). The area's deadline_ns is the truth, written
 * by user space with plain stores. ARM writes it too and queues the timer.
 * At expiry the callback reads it:
 *   0          - nothing is wanted: stop (or linger, below);
 *   in future  - user space postponed it without a system call: move the
 *                timer there and restart;
 *   due        - clear it to 0 with cmpxchg (a concurrent user store wins
 *                and is re-read) and fire.
 * The callback publishes armed_ns = 0 and only then reads the deadline;
 * user space stores the deadline with a full barrier and only then reads
 * armed_ns. Whichever way the two race, either the callback sees the new
 * deadline or user space sees armed_ns == 0 and calls ARM (Dekker).
 *
 * Lingering (KPF_ARM_LINGER, one-shot only). A pool worker stores 0 when
 * its task returns and a new deadline when the next one starts, maybe
 * after an idle wait. Without lingering the expiry that finds 0 stops the
 * timer (armed_ns = 0), and so does one that fires, so the next store
 * needs KPF_IOC_ARM. Lingering, such an expiry queues the timer again
 * linger_ns ahead instead: any deadline stored at least linger_ns ahead
 * is later than armed_ns and needs no system call. Each lingering expiry
 * (one that found no deadline) is an interrupt that preempts nothing; at
 * most linger_max come in a row (an expiry that finds a deadline starts
 * the count again), so a thread that stays idle costs linger_max
 * interrupts, then none.
 *
 * Periodic mode. Fire every period; missed periods are overruns. While a
 * delivery waits as task_work (the owner is in the kernel or on another
 * CPU) the timer pauses instead of interrupting for nothing, and the
 * delivery restarts it on the owner's CPU.
 *
 * Firing checks the area's defer count and in_upcall flag: if either is
 * set the expiry becomes the pending flag, which user space acts on when
 * it drops the count or leaves the upcall. A periodic expiry deferred by
 * the defer count stops the timer until the owner's next KPF_IOC_ARM: a
 * thread that keeps deferring gets no interrupts for nothing. One that
 * finds in_upcall set keeps the period, since the owner's upcall entry
 * is running and will clear it, but backs off exponentially (up to one
 * expiry per KPF_BUSY_MAX_NS) while in_upcall stays set. Otherwise a
 * task_work is queued on the owner (TWA_RESUME: it never interrupts a
 * blocking system call), holding a reference on the context (and so on
 * the module), and kpf_deliver.c takes over.
 * When it finds no final frame it hands the expiry back (@retry) and the
 * timer tries again after a backoff that doubles up to KPF_RETRY_MAX_NS.
 *
 * No timer outlives its owner: every callback first checks that the owner
 * is neither exiting nor running another image (exec), and otherwise stops
 * for good. Every loop in hardirq is bounded.
 *
 * Every expiry, however short the requested distance, is at least
 * min_distance_ns after the callback that re-arms it, so user space cannot
 * make the timer interrupt faster than the limits in kpf_limits.c allow.
 */
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "kpf_internal.h"
#include "kpf_trace.h"

/* Longest pause between two retries of a delivery without a final frame. */
#define KPF_RETRY_MAX_NS	(1000 * NSEC_PER_USEC)
/* cmpxchg attempts on the user-written deadline before trying later. */
#define KPF_DEADLINE_TRIES	4
/* Longest gap a periodic timer backs off to while in_upcall stays set. */
#define KPF_BUSY_MAX_NS		NSEC_PER_SEC

static void kpf_defer(struct kpf_ctx *ctx, u32 defer, u32 in_upcall)
{
	WRITE_ONCE(ctx->area->pending, 1);
	kpf_area_add(&ctx->area->deferred, 1);
	kpf_stat_inc(KPF_STAT_DEFERRED);
	trace_kpf_defer(ctx->task->pid, defer, in_upcall);
}

/* What became of a due expiry. */
enum kpf_fired {
	KPF_FIRED_DONE,		/* delivered in hardirq */
	KPF_FIRED_DEFERRED,	/* deferred by the defer count */
	KPF_FIRED_BUSY,		/* deferred: the frame is in use (in_upcall) */
	KPF_FIRED_QUEUED,	/* delivery queued as task_work */
	KPF_FIRED_GONE,		/* owner gone: stop */
};

/*
 * The owner is exiting, or exec gave it another mm: nothing will ever be
 * delivered again. Racy reads of another task's fields, but both only
 * ever change one way.
 */
static bool kpf_owner_gone(const struct kpf_ctx *ctx)
{
	const struct task_struct *task = ctx->task;

	return (READ_ONCE(task->flags) & PF_EXITING) ||
	       READ_ONCE(task->mm) != ctx->mm;
}

/*
 * A due expiry (@retry: one handed back by a delivery that found no final
 * frame, already counted in fires). Called in hardirq with timer_lock held.
 */
static enum kpf_fired kpf_fire(struct kpf_ctx *ctx, u64 expiry, u64 now,
			       bool retry)
{
	struct kpf_area *area = ctx->area;
	u32 defer = READ_ONCE(area->defer);
	u32 in_upcall = READ_ONCE(area->in_upcall);

	if (!retry) {
		kpf_area_add(&area->fires, 1);
		kpf_stat_inc(KPF_STAT_FIRES);
		trace_kpf_fire(ctx->task->pid, expiry, now);
	}

	if (defer || in_upcall != KPF_UPCALL_IDLE) {
		kpf_defer(ctx, defer, in_upcall);
		return defer ? KPF_FIRED_DEFERRED : KPF_FIRED_BUSY;
	}
	/* The previous delivery has not reached user mode yet. */
	if (ctx->work_queued) {
		kpf_area_add(&area->overruns, 1);
		kpf_stat_inc(KPF_STAT_OVERRUNS);
		return KPF_FIRED_QUEUED;
	}
	if (kpf_deliver_irq(ctx, expiry, now)) {
		ctx->retries = 0;
		return KPF_FIRED_DONE;
	}
	/*
	 * The file holds a context reference until release, which cancels
	 * this timer first. The context holds the module (its anchor).
	 */
	refcount_inc(&ctx->ref);
	ctx->work_queued = true;
	ctx->work_gen = ctx->gen;
	ctx->work_expiry = expiry;
	ctx->work_irq = now;
	if (task_work_add(ctx->task, &ctx->work, TWA_RESUME)) {
		/* -ESRCH: the owner is past exit_task_work(). */
		ctx->work_queued = false;
		/* Not the last reference: the file still holds one. */
		refcount_dec(&ctx->ref);
		kpf_area_add(&area->dropped, 1);
		kpf_stat_inc(KPF_STAT_DROPPED);
		return KPF_FIRED_GONE;
	}
	return KPF_FIRED_QUEUED;
}

/*
 * Move the timer to @next (at least min_distance_ns away) and restart.
 * A user-written deadline beyond KTIME_MAX means "never" for hrtimers too:
 * as a ktime_t it would be negative, already expired, and the restart
 * would run this callback again forever in hardirq.
 */
static enum hrtimer_restart kpf_timer_move(struct kpf_ctx *ctx, u64 now,
					   u64 next)
{
	next = min_t(u64, max(next, now + ctx->min_distance_ns), KTIME_MAX);
	hrtimer_set_expires(&ctx->timer, ns_to_ktime(next));
	WRITE_ONCE(ctx->area->armed_ns, next);
	kpf_area_add(&ctx->area->rearms, 1);
	kpf_stat_inc(KPF_STAT_REARMS);
	return HRTIMER_RESTART;
}

/*
 * No deadline is wanted, or the one found has just fired (@fired): stop,
 * or with KPF_ARM_LINGER stay queued linger_ns ahead. An expiry that
 * found no deadline is a lingering one: an interrupt that did nothing,
 * counted in lingers and limited to linger_max in a row. Requeueing from
 * the interrupt that fired costs nothing more and starts the count again.
 * armed_ns is 0 here (kpf_timer_deadline() cleared it first).
 */
static enum hrtimer_restart kpf_timer_idle(struct kpf_ctx *ctx, u64 now,
					   bool fired)
{
	u64 next;

	if (!ctx->linger_ns)
		return HRTIMER_NORESTART;
	if (!fired) {
		if (ctx->lingered >= ctx->linger_max)
			return HRTIMER_NORESTART;
		ctx->lingered++;
		kpf_area_add(&ctx->area->lingers, 1);
		kpf_stat_inc(KPF_STAT_LINGERS);
	}
	next = min_t(u64, now + ctx->linger_ns, KTIME_MAX);
	hrtimer_set_expires(&ctx->timer, ns_to_ktime(next));
	WRITE_ONCE(ctx->area->armed_ns, next);
	return HRTIMER_RESTART;
}

/*
 * The one-shot expiry: @fired when this interrupt already delivered a
 * retried expiry (then a requeue is not a lingering expiry).
 */
static enum hrtimer_restart kpf_timer_deadline(struct kpf_ctx *ctx, u64 now,
					       bool fired)
{
	struct kpf_area *area = ctx->area;
	u64 deadline, seen;
	int tries;

	WRITE_ONCE(area->armed_ns, 0);
	/* Pairs with the user's xchg of deadline_ns before it reads armed_ns. */
	smp_mb();
	deadline = READ_ONCE(area->deadline_ns);
	for (tries = 0; tries < KPF_DEADLINE_TRIES; tries++) {
		if (!deadline)
			return kpf_timer_idle(ctx, now, fired);
		ctx->lingered = 0;
		if (deadline > now)
			return kpf_timer_move(ctx, now, deadline);
		seen = cmpxchg(&area->deadline_ns, deadline, 0);
		if (seen == deadline) {
			/* A gone owner stops for good at the next expiry. */
			if (kpf_fire(ctx, deadline, now, false) ==
			    KPF_FIRED_GONE)
				return HRTIMER_NORESTART;
			return kpf_timer_idle(ctx, now, true);
		}
		deadline = seen;
	}
	/* Another thread keeps storing: look again a little later. */
	return kpf_timer_move(ctx, now, now);
}

/*
 * The frame is still in use: the owner's entry is running and will act on
 * pending when it leaves, so a short overlap keeps the period. But an
 * in_upcall that stays set (an entry that never returns, or a thread that
 * set it on purpose and sleeps) must not cost an interrupt per period:
 * each consecutive busy expiry doubles the gap to the next one, in whole
 * periods (the grid is kept), up to KPF_BUSY_MAX_NS.
 */
static void kpf_periodic_busy(struct kpf_ctx *ctx)
{
	u64 periods = 1ULL << min(ctx->busy_expiries, 30U);

	ctx->busy_expiries++;
	if (ctx->period_ns < KPF_BUSY_MAX_NS)
		periods = min_t(u64, periods,
				div64_u64(KPF_BUSY_MAX_NS, ctx->period_ns));
	else
		periods = 1;
	/* The timer is already one period past now. */
	hrtimer_add_expires_ns(&ctx->timer, (periods - 1) * ctx->period_ns);
}

/* Whether a periodic timer goes on after an expiry was handled. */
static enum hrtimer_restart kpf_periodic_next(struct kpf_ctx *ctx,
					      enum kpf_fired fired)
{
	if (fired != KPF_FIRED_BUSY)
		ctx->busy_expiries = 0;
	switch (fired) {
	case KPF_FIRED_BUSY:
		kpf_periodic_busy(ctx);
		fallthrough;
	case KPF_FIRED_DONE:
		ctx->paused = false;
		WRITE_ONCE(ctx->area->armed_ns,
			   ktime_to_ns(hrtimer_get_expires(&ctx->timer)));
		return HRTIMER_RESTART;
	case KPF_FIRED_DEFERRED:
		/* Stopped until the owner acts on pending and ARMs. */
		break;
	case KPF_FIRED_QUEUED:
		/*
		 * The owner is not running here, or is in the kernel: more
		 * expiries could only be overruns, and would steal the CPU
		 * from whoever runs instead. Pause; the delivery restarts
		 * the timer on the owner's CPU (kpf_timer_resume()).
		 */
		ctx->paused = true;
		break;
	case KPF_FIRED_GONE:
		break;
	}
	WRITE_ONCE(ctx->area->armed_ns, 0);
	return HRTIMER_NORESTART;
}

static enum hrtimer_restart kpf_timer_periodic(struct kpf_ctx *ctx, u64 now)
{
	ktime_t period = ns_to_ktime(ctx->period_ns);
	u64 missed, expiry;

	missed = hrtimer_forward(&ctx->timer, ns_to_ktime(now), period);
	/* The latest period that is due is the one being delivered. */
	expiry = ktime_to_ns(hrtimer_get_expires(&ctx->timer)) - ctx->period_ns;
	if (missed > 1) {
		kpf_area_add(&ctx->area->overruns, missed - 1);
		kpf_stat_add(KPF_STAT_OVERRUNS, missed - 1);
	}
	return kpf_periodic_next(ctx, kpf_fire(ctx, expiry, now, false));
}

/* A delivery handed back for want of a final frame is due again. */
static enum hrtimer_restart kpf_timer_retried(struct kpf_ctx *ctx, u64 now)
{
	enum kpf_fired fired;

	ctx->retry = false;
	fired = kpf_fire(ctx, ctx->retry_expiry, now, true);
	if (!ctx->periodic)
		/* A deadline stored meanwhile still counts. */
		return kpf_timer_deadline(ctx, now, true);
	hrtimer_forward(&ctx->timer, ns_to_ktime(now),
			ns_to_ktime(ctx->period_ns));
	return kpf_periodic_next(ctx, fired);
}

/*
 * The owner is exiting or exec'd: stop for good. A due expiry (a period,
 * a retry, a deadline reached) is counted as fired and dropped.
 */
static void kpf_timer_gone(struct kpf_ctx *ctx, u64 now)
{
	struct kpf_area *area = ctx->area;
	u64 deadline = READ_ONCE(area->deadline_ns);

	ctx->gone = true;
	WRITE_ONCE(area->armed_ns, 0);
	if (ctx->periodic || ctx->retry || (deadline && deadline <= now)) {
		if (!ctx->retry) {
			kpf_area_add(&area->fires, 1);
			kpf_stat_inc(KPF_STAT_FIRES);
		}
		kpf_area_add(&area->dropped, 1);
		kpf_stat_inc(KPF_STAT_DROPPED);
	}
	ctx->retry = false;
}

static enum hrtimer_restart kpf_timer_fn(struct hrtimer *timer)
{
	struct kpf_ctx *ctx = container_of(timer, struct kpf_ctx, timer);
	enum hrtimer_restart ret = HRTIMER_NORESTART;
	u64 now;

	raw_spin_lock(&ctx->timer_lock);
	/*
	 * ARM on another CPU re-queued the timer while we waited: it wins.
	 * DISARM, UNREGISTER or close ran while we waited: the timer is
	 * stopped, whatever another thread stored in deadline_ns since.
	 */
	if (hrtimer_is_queued(timer) || !ctx->area || ctx->gone ||
	    !ctx->armed)
		goto out;
	now = ktime_to_ns(hrtimer_cb_get_time(timer));
	if (kpf_owner_gone(ctx)) {
		kpf_timer_gone(ctx, now);
		goto out;
	}
	if (ctx->retry)
		ret = kpf_timer_retried(ctx, now);
	else if (ctx->periodic)
		ret = kpf_timer_periodic(ctx, now);
	else
		ret = kpf_timer_deadline(ctx, now, false);
out:
	raw_spin_unlock(&ctx->timer_lock);
	return ret;
}

/**
 * kpf_timer_init() - set up the timer of a new context
 * @ctx:	the context, not yet visible to anybody else.
 */
void kpf_timer_init(struct kpf_ctx *ctx)
{
	hrtimer_init(&ctx->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_PINNED_HARD);
	ctx->timer.function = kpf_timer_fn;
}

static u64 kpf_ns_add(u64 a, u64 b)
{
	return b > KTIME_MAX - a ? KTIME_MAX : a + b;
}

/* First expiry of an ARM request, checked against the limits. */
static int kpf_arm_expiry(const struct kpf_arm *arm, u64 now, u64 min_ns,
			  u64 *expiry)
{
	bool periodic = arm->flags & KPF_ARM_PERIODIC;

	if (arm->flags & ~KPF_ARM_FLAGS || arm->reserved[0] ||
	    arm->reserved[1])
		return -EINVAL;
	if (arm->value_ns > KTIME_MAX)
		return -EINVAL;
	if (!periodic && arm->period_ns)
		return -EINVAL;
	if (arm->reserved1)
		return -EINVAL;
	if (arm->flags & KPF_ARM_LINGER) {
		if (periodic || arm->linger_ns < min_ns ||
		    arm->linger_ns > KPF_MAX_PERIOD_NS || !arm->linger_max ||
		    arm->linger_max > KPF_MAX_LINGER)
			return -EINVAL;
	} else if (arm->linger_ns || arm->linger_max) {
		return -EINVAL;
	}
	if (periodic && (arm->period_ns < min_ns ||
			 arm->period_ns > KPF_MAX_PERIOD_NS))
		return -EINVAL;
	if (arm->flags & KPF_ARM_ABSOLUTE) {
		/* 0 means "no deadline" in the area: not a time. */
		if (!arm->value_ns && !periodic)
			return -EINVAL;
		*expiry = arm->value_ns;
	} else if (periodic && !arm->value_ns) {
		*expiry = kpf_ns_add(now, arm->period_ns);
	} else {
		*expiry = kpf_ns_add(now, arm->value_ns);
	}
	return 0;
}

/*
 * The first expiry may not be closer than @earliest. A periodic timer
 * keeps its grid (first + k * period), as POSIX timers do, by skipping
 * whole periods; a one-shot simply moves. -EINVAL if that is beyond
 * KTIME_MAX: as a ktime_t it would be negative, i.e. already expired.
 */
static int kpf_arm_clamp(const struct kpf_arm *arm, u64 first, u64 earliest,
			 u64 *expiry)
{
	u64 skip;

	if (first >= earliest) {
		*expiry = first;
		return 0;
	}
	if (!(arm->flags & KPF_ARM_PERIODIC)) {
		*expiry = min_t(u64, earliest, KTIME_MAX);
		return 0;
	}
	/* Both are below 2^63: neither the sum nor the product wraps. */
	skip = roundup(earliest - first, arm->period_ns);
	if (skip > KTIME_MAX - first)
		return -EINVAL;
	*expiry = first + skip;
	return 0;
}

/*
 * Read the caller's struct kpf_arm. A caller of this module's version
 * (the usual case) gets nine user loads under one user_access_begin():
 * kpf_copy_arg()'s copy_struct_from_user() of a size only known at run
 * time adds the usercopy hardening check and an out-of-line copy, a
 * tenth of what an ARM costs. Other sizes go through kpf_copy_arg().
 */
static int kpf_arm_read(struct kpf_arm *arm, const void __user *uarg,
			u32 usize)
{
	const struct kpf_arm __user *u = uarg;

	if (usize != sizeof(*arm))
		return kpf_copy_arg(arm, sizeof(*arm), KPF_ARM_SIZE_VER0, uarg,
				    usize);
	if (!user_access_begin(u, sizeof(*u)))
		return -EFAULT;
	unsafe_get_user(arm->size, &u->size, efault);
	unsafe_get_user(arm->flags, &u->flags, efault);
	unsafe_get_user(arm->value_ns, &u->value_ns, efault);
	unsafe_get_user(arm->period_ns, &u->period_ns, efault);
	unsafe_get_user(arm->reserved[0], &u->reserved[0], efault);
	unsafe_get_user(arm->reserved[1], &u->reserved[1], efault);
	unsafe_get_user(arm->linger_ns, &u->linger_ns, efault);
	unsafe_get_user(arm->linger_max, &u->linger_max, efault);
	unsafe_get_user(arm->reserved1, &u->reserved1, efault);
	user_access_end();
	return arm->size == usize ? 0 : -EINVAL;
efault:
	user_access_end();
	return -EFAULT;
}

/*
 * Start or move the timer for an ARM request that passed its checks:
 * @deadline is what the caller asked for (the area's deadline when
 * one-shot), @expiry that clamped to the minimum distance. Inline in both
 * ARM commands, so the one-shot KPF_IOC_ARM_AT compiles the periodic and
 * lingering parts away. -EBADF when the owner closed its last descriptor
 * of the context and has none in its table now (see kpf_timer_close()).
 */
static __always_inline int kpf_arm_start(struct kpf_ctx *ctx, bool periodic,
					 u64 period_ns, u64 linger_ns,
					 u32 linger_max, u64 min_ns,
					 u64 deadline, u64 expiry)
{
	struct kpf_area *area = ctx->area;
	unsigned long flags;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	if (unlikely(ctx->closed)) {
		/*
		 * A close found no descriptor in the owner's table. Still
		 * none: this ARM was in flight across that close. One now
		 * (received back, or kept in a table the owner was just
		 * installing when that close looked): arm, unless another
		 * close stopped the timer (gen) while we looked, whose
		 * descriptor may be the one we saw.
		 */
		u32 gen = ctx->gen;

		raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
		if (!kpf_ctx_in_my_table(ctx))
			return -EBADF;
		raw_spin_lock_irqsave(&ctx->timer_lock, flags);
		if (ctx->gen != gen) {
			raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
			return -EBADF;
		}
		ctx->closed = false;
	}
	ctx->min_distance_ns = min_ns;
	ctx->armed = true;
	ctx->periodic = periodic;
	ctx->period_ns = period_ns;
	ctx->paused = false;
	ctx->busy_expiries = 0;
	ctx->linger_ns = linger_ns;
	ctx->linger_max = linger_max;
	ctx->lingered = 0;
	if (!periodic)
		WRITE_ONCE(area->deadline_ns, deadline);
	/* A delivery waiting for a final frame is not delayed by ARM. */
	if (unlikely(ctx->retry) && hrtimer_is_queued(&ctx->timer))
		expiry = min_t(u64, expiry,
			       ktime_to_ns(hrtimer_get_expires(&ctx->timer)));
	hrtimer_start(&ctx->timer, ns_to_ktime(expiry),
		      HRTIMER_MODE_ABS_PINNED_HARD);
	WRITE_ONCE(area->armed_ns, expiry);
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	return 0;
}

/**
 * kpf_ioctl_arm() - KPF_IOC_ARM: start or move the timer
 * @ctx:	context of the file; the caller is its owner, or ioctl_lock
 *		is held.
 * @uarg:	user pointer to struct kpf_arm.
 * @usize:	its size, from the command.
 *
 * Return: 0 or a negative errno as documented in kpf.rst.
 */
int kpf_ioctl_arm(struct kpf_ctx *ctx, const void __user *uarg, u32 usize)
{
	struct kpf_arm arm;
	u64 now, min_ns, deadline, expiry;
	int ret;

	ret = kpf_arm_read(&arm, uarg, usize);
	if (ret)
		return ret;
	if (!ctx->task)
		return -ENOENT;
	min_ns = kpf_min_period_ns(ctx->sys_nice);
	now = ktime_get_ns();
	ret = kpf_arm_expiry(&arm, now, min_ns, &deadline);
	if (ret)
		return ret;
	ret = kpf_arm_clamp(&arm, deadline, now + min_ns, &expiry);
	if (ret)
		return ret;
	ret = kpf_arm_start(ctx, arm.flags & KPF_ARM_PERIODIC, arm.period_ns,
			    arm.linger_ns, arm.linger_max, min_ns, deadline,
			    expiry);
	if (unlikely(ret))
		return ret;
	trace_kpf_arm(current->pid, expiry, arm.period_ns);
	return 0;
}

/**
 * kpf_ioctl_arm_at() - KPF_IOC_ARM_AT: one-shot at an absolute time
 * @ctx:	context of the file; the caller is its owner, or ioctl_lock
 *		is held.
 * @when:	CLOCK_MONOTONIC expiry in ns, the ioctl argument itself.
 *
 * Exactly KPF_IOC_ARM with KPF_ARM_ABSOLUTE, value_ns @when and nothing
 * else, without a structure to read and check: the common request of a
 * runtime that arms before every quantum.
 *
 * Return: 0, -EINVAL (@when is 0 or beyond KTIME_MAX), -ENOENT (not
 * registered) or -EBADF (the owner closed its last descriptor and has
 * none).
 */
long kpf_ioctl_arm_at(struct kpf_ctx *ctx, u64 when)
{
	u64 min_ns, earliest, expiry;

	if (!when || when > KTIME_MAX)
		return -EINVAL;
	if (!ctx->task)
		return -ENOENT;
	min_ns = kpf_min_period_ns(ctx->sys_nice);
	earliest = ktime_get_ns() + min_ns;
	expiry = when >= earliest ? when : min_t(u64, earliest, KTIME_MAX);
	if (unlikely(kpf_arm_start(ctx, false, 0, 0, 0, min_ns, when, expiry)))
		return -EBADF;
	trace_kpf_arm(current->pid, expiry, 0);
	return 0;
}

/**
 * kpf_timer_resume() - restart a periodic timer paused by a queued delivery
 * @ctx:	the context; called by its owner from the delivery task_work,
 *		with timer_lock held.
 *
 * The timer restarts at the next period boundary on this CPU, where the
 * owner runs now; the periods that passed while it was paused are
 * overruns.
 */
void kpf_timer_resume(struct kpf_ctx *ctx)
{
	u64 missed;

	if (!ctx->periodic || !ctx->paused)
		return;
	ctx->paused = false;
	missed = hrtimer_forward_now(&ctx->timer, ns_to_ktime(ctx->period_ns));
	if (missed > 1) {
		kpf_area_add(&ctx->area->overruns, missed - 1);
		kpf_stat_add(KPF_STAT_OVERRUNS, missed - 1);
	}
	hrtimer_start_expires(&ctx->timer, HRTIMER_MODE_ABS_PINNED_HARD);
	WRITE_ONCE(ctx->area->armed_ns,
		   ktime_to_ns(hrtimer_get_expires(&ctx->timer)));
}

/**
 * kpf_timer_retry() - try a delivery again a little later
 * @ctx:	the context; called by its owner from the delivery task_work,
 *		which found no final frame, with timer_lock held.
 * @expiry:	intended expiry of that delivery.
 *
 * The timer fires again after min_distance_ns, doubled with every
 * consecutive retry up to KPF_RETRY_MAX_NS (a thread inside KVM_RUN or a
 * long ptrace stop must not be interrupted at the maximum rate), or
 * earlier if it is queued for an earlier expiry anyway.
 */
void kpf_timer_retry(struct kpf_ctx *ctx, u64 expiry)
{
	u64 delay = ctx->min_distance_ns << min(ctx->retries, 16U);
	ktime_t at;

	delay = min_t(u64, max_t(u64, delay, 1), KPF_RETRY_MAX_NS);
	at = ktime_add_ns(ktime_get(), delay);
	ctx->retries++;
	ctx->retry = true;
	ctx->retry_expiry = expiry;
	if (hrtimer_is_queued(&ctx->timer) &&
	    ktime_before(hrtimer_get_expires(&ctx->timer), at))
		return;
	hrtimer_start(&ctx->timer, at, HRTIMER_MODE_ABS_PINNED_HARD);
}

/*
 * Clear the state first, under timer_lock, so a callback running on
 * another CPU finds nothing to do and does not restart, and an ARM that
 * comes after a close (@closing) does not start it again; then wait for
 * the callback.
 */
static void kpf_timer_halt(struct kpf_ctx *ctx, bool closing)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	if (closing)
		ctx->closed = true;
	ctx->armed = false;
	ctx->periodic = false;
	ctx->paused = false;
	ctx->retry = false;
	ctx->retries = 0;
	ctx->busy_expiries = 0;
	ctx->linger_ns = 0;
	ctx->linger_max = 0;
	ctx->lingered = 0;
	ctx->gen++;
	if (ctx->area) {
		WRITE_ONCE(ctx->area->deadline_ns, 0);
		WRITE_ONCE(ctx->area->armed_ns, 0);
	}
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	hrtimer_cancel(&ctx->timer);
}

/**
 * kpf_timer_stop() - stop the timer and drop a queued delivery
 * @ctx:	the context; ioctl_lock held, called by the owner, or the last
 *		reference gone.
 */
void kpf_timer_stop(struct kpf_ctx *ctx)
{
	kpf_timer_halt(ctx, false);
}

/**
 * kpf_timer_close() - stop for good: the owner closed its last descriptor
 * @ctx:	a registered context; ioctl_lock held.
 *
 * As kpf_timer_stop(), and ARM fails with EBADF while the owner has no
 * descriptor of the file in its table. The owner's ARM takes no
 * ioctl_lock: one that got its file reference before the descriptor went
 * away may reach kpf_arm_start() after this, and must not start a timer
 * that nothing would stop. One through a descriptor the owner has again,
 * or had all along in a table it was installing while this close looked
 * at the one it left (close_range(CLOSE_RANGE_UNSHARE), unshare()),
 * arms: the close of that descriptor will stop it.
 */
void kpf_timer_close(struct kpf_ctx *ctx)
{
	kpf_timer_halt(ctx, true);
}

/**
 * kpf_ioctl_disarm() - KPF_IOC_DISARM
 * @ctx:	context of the file; the caller is its owner, or ioctl_lock
 *		is held.
 *
 * Return: 0, or -ENOENT when not registered.
 */
int kpf_ioctl_disarm(struct kpf_ctx *ctx)
{
	if (!ctx->task)
		return -ENOENT;
	kpf_timer_stop(ctx);
	return 0;
}
