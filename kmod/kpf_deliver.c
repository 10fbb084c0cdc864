// SPDX-License-Identifier: GPL-2.0
/*
 * kpf delivery: turn a due expiry into an upcall.
 *
 * An upcall is: the interrupted user registers copied into the area's
 * frame, in_upcall set, and the register frame that the return to user
 * mode restores redirected to the entry (rip), the upcall stack (rsp) and
 * the area (rdi), with orig_ax = -1 so no system call restart rewinds rip.
 *
 * Fast path, in hardirq: when the timer interrupt hit the owner itself
 * running in user mode, the interrupt's frame is that frame. It is saved
 * and redirected on the spot (kpf_deliver_irq()): no task_work, no IPI.
 *
 * General path, as task_work on the owner on its way to user mode. The
 * callback queued it with TWA_RESUME, which sets TIF_NOTIFY_RESUME and
 * kicks the CPU the thread runs on but never wakes a sleep, so a blocking
 * system call completes first. kpf_deliver_work() then:
 *  1. drops the delivery if DISARM/UNREGISTER/close ran since it was
 *     queued, or the thread is exiting, or exec replaced its image;
 *  2. checks that the frame is final (kpf_frame_final()), and if not
 *     hands the delivery back to the timer, which retries it shortly;
 *  3. re-checks defer and in_upcall: user code may have run meanwhile;
 *  4. only then aborts an active rseq critical section in the saved rip,
 *     exactly as the kernel does for a preemption;
 *  5. saves and redirects current_pt_regs().
 *
 * Final frames. task_work_run() is not only called from the exit-to-user
 * loop (resume_user_mode_work(), after signal delivery and the system call
 * restart fixup). In 6.1 it also runs from get_signal() (before the
 * restart fixup: rax still holds -ERESTARTSYS), from ptrace_notify() at
 * syscall-entry/exit stops (the tracer may still change the registers or
 * skip the call), from io_uring's completion wait and from KVM's guest
 * entry (both inside a system call that has not returned yet). A frame
 * saved there is not what user space will see, and
 * orig_ax = -1 would suppress the restart or skip the call. So the
 * delivery waits for a frame that is final; it is retried from the timer,
 * never by requeueing the work, which would make task_work_run() loop.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/module.h>
#include <linux/ktime.h>
#include <linux/ptrace.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/uaccess.h>
#include <linux/uprobes.h>
#include <asm/irq_regs.h>
#include <asm/syscall.h>
#include <asm/unistd.h>
#include <asm/processor-flags.h>

#include "kpf_internal.h"
#include "kpf_trace.h"

/* The x86-64 syscall instruction, 0f 05, as a little-endian u16. */
#define KPF_INSN_SYSCALL	0x050f

/*
 * A debugger single-steps the thread, or a uprobe executes its
 * out-of-line copy: the next user instruction must be the one they
 * expect, so no upcall now.
 */
static __always_inline bool kpf_stepping(const struct pt_regs *regs)
{
	if (test_thread_flag(TIF_SINGLESTEP) || (regs->flags & X86_EFLAGS_TF))
		return true;
#ifdef CONFIG_UPROBES
	if (current->utask && current->utask->active_uprobe)
		return true;
#endif
	return false;
}

#ifdef CONFIG_RSEQ
/*
 * If @ip is inside the thread's active rseq critical section, return the
 * abort handler's address in @ip and clear rseq_cs, as rseq_ip_fixup()
 * does. The checks mirror rseq_get_rseq_cs() in kernel/rseq.c.
 *
 * Return: 0, or -EFAULT/-EINVAL for a broken rseq area, which the kernel's
 * own rseq handling will punish; the delivery is then dropped.
 */
static int kpf_rseq_abort(unsigned long *ip)
{
	struct rseq __user *urseq = current->rseq;
	struct rseq_cs __user *ucs;
	struct rseq_cs cs;
	u64 ptr;
	u32 sig;

	if (!urseq)
		return 0;
	if (get_user(ptr, &urseq->rseq_cs))
		return -EFAULT;
	if (!ptr)
		return 0;
	if (ptr >= TASK_SIZE)
		return -EINVAL;
	ucs = (struct rseq_cs __user *)(unsigned long)ptr;
	if (copy_from_user(&cs, ucs, sizeof(cs)))
		return -EFAULT;
	if (cs.version > 0 || cs.start_ip >= TASK_SIZE ||
	    cs.start_ip + cs.post_commit_offset >= TASK_SIZE ||
	    cs.start_ip + cs.post_commit_offset < cs.start_ip ||
	    cs.abort_ip >= TASK_SIZE ||
	    cs.abort_ip - cs.start_ip < cs.post_commit_offset)
		return -EINVAL;
	if (*ip - cs.start_ip >= cs.post_commit_offset)
		return 0;
	if (get_user(sig, (u32 __user *)(unsigned long)(cs.abort_ip - 4)))
		return -EFAULT;
	if (sig != current->rseq_sig)
		return -EINVAL;
	if (put_user(0ULL, &urseq->rseq_cs))
		return -EFAULT;
	*ip = cs.abort_ip;
	return 0;
}
#else
static int kpf_rseq_abort(unsigned long *ip)
{
	return 0;
}
#endif

/*
 * Is the thread about to enter restart_syscall? After the signal code
 * rewound a call that returned -ERESTART_RESTARTBLOCK, rax holds
 * __NR_restart_syscall, rip the syscall instruction, and the rest of the
 * call lives in current->restart_block. An upcall saved there would run
 * user code first, which may reuse restart_block (any signal handler's
 * sigreturn resets it), and the resumed call would then fail with EINTR.
 * The instruction check keeps a call that merely returned 219 final.
 * Safe in hardirq; an unreadable rip counts as a restart (a retry).
 */
static noinline bool kpf_restart_insn(const struct pt_regs *regs)
{
	u16 insn;

	if (copy_from_user_nofault(&insn, (const void __user *)regs->ip,
				   sizeof(insn)))
		return true;
	return insn == KPF_INSN_SYSCALL;
}

/*
 * The rare instruction read is out of line: its buffer would otherwise
 * give the hardirq fast path a stack canary.
 */
static __always_inline bool kpf_restart_pending(const struct pt_regs *regs)
{
	return regs->ax == __NR_restart_syscall && kpf_restart_insn(regs);
}

/*
 * What entry_SYSCALL_64 stores in pt_regs->ax until the call returns: the
 * "no such system call" errno, 38 on x86.
 */
#define KPF_AX_SYSCALL_RUNNING	(-38L)

/*
 * Is current_pt_regs() the frame the thread returns to user mode with?
 *
 * - Called from resume_user_mode_work() in the exit-to-user loop, which
 *   clears TIF_NOTIFY_RESUME before it runs task_work. The other callers
 *   (get_signal(), ptrace_notify(), io_uring) leave it set, because the
 *   work was queued with TWA_RESUME. A spurious TIF_NOTIFY_RESUME (set
 *   again by rseq or another task_work_add()) only costs a retry.
 * - A system call whose result is settled: KPF_AX_SYSCALL_RUNNING is what
 *   rax holds while the call is still in progress (KVM_RUN, io_uring_enter, a ptrace
 *   entry stop), -ERESTART* before the restart fixup. A call that really
 *   returned that errno only costs a retry too: the next timer interrupt in
 *   user mode delivers on the fast path.
 * - Not about to enter restart_syscall (kpf_restart_pending()).
 * - Not single-stepped (the trap flag would leak into the frame and the
 *   step would land in the entry) and no uprobe step in flight.
 */
static bool kpf_frame_final(struct pt_regs *regs)
{
	if (test_thread_flag(TIF_NOTIFY_RESUME))
		return false;
	if (syscall_get_nr(current, regs) != -1) {
		switch ((long)regs->ax) {
		case KPF_AX_SYSCALL_RUNNING:
		case -ERESTARTSYS:
		case -ERESTARTNOINTR:
		case -ERESTARTNOHAND:
		case -ERESTART_RESTARTBLOCK:
			return false;
		}
	}
	return !kpf_restart_pending(regs) && !kpf_stepping(regs);
}

static void kpf_frame_save(struct kpf_frame *frame, const struct pt_regs *regs,
			   unsigned long ip)
{
	frame->r15 = regs->r15;
	frame->r14 = regs->r14;
	frame->r13 = regs->r13;
	frame->r12 = regs->r12;
	frame->rbp = regs->bp;
	frame->rbx = regs->bx;
	frame->r11 = regs->r11;
	frame->r10 = regs->r10;
	frame->r9 = regs->r9;
	frame->r8 = regs->r8;
	frame->rax = regs->ax;
	frame->rcx = regs->cx;
	frame->rdx = regs->dx;
	frame->rsi = regs->si;
	frame->rdi = regs->di;
	frame->rip = ip;
	frame->rsp = regs->sp;
	frame->rflags = regs->flags;
}

/* Like a signal handler: a clean direction flag, no single-stepping. */
static void kpf_frame_redirect(struct pt_regs *regs, const struct kpf_ctx *ctx)
{
	regs->ip = ctx->entry;
	regs->sp = ctx->stack_top;
	regs->di = ctx->uarea;
	regs->orig_ax = -1;
	regs->flags &= ~(X86_EFLAGS_DF | X86_EFLAGS_RF | X86_EFLAGS_TF);
}

/*
 * Write the frame and send the thread to the entry. timer_lock held; the
 * caller has checked defer, in_upcall, the owner and its mm. @now is
 * deliver_ns: the hardirq fast path passes the interrupt's time, which
 * the hrtimer core already read (the frame is written in that very
 * interrupt, and another clock read is a tenth of the fast path).
 */
static __always_inline void kpf_upcall(struct kpf_ctx *ctx,
				       struct pt_regs *regs, unsigned long ip,
				       u64 expiry, u64 irq, u64 now)
{
	struct kpf_area *area = ctx->area;

	kpf_frame_save(&area->frame, regs, ip);
	WRITE_ONCE(area->expiry_ns, expiry);
	WRITE_ONCE(area->irq_ns, irq);
	WRITE_ONCE(area->deliver_ns, now);
	WRITE_ONCE(area->in_upcall, KPF_UPCALL_ACTIVE);
	kpf_area_add(&area->delivered, 1);
	kpf_frame_redirect(regs, ctx);
	kpf_stat_inc(KPF_STAT_DELIVERED);
	trace_kpf_deliver(current->pid, ip, expiry, now);
}

/*
 * Is an rseq critical section possibly active? Safe in hardirq: the
 * interrupt came from current's user mode, so its mm is the one loaded,
 * and a fault on the read is fixed up without sleeping (pagefaults are
 * disabled). One user load, not copy_from_user_nofault(), whose
 * out-of-line copy and usercopy hardening checks cost more than
 * the rest of the fast path's checks together.
 */
static bool kpf_rseq_busy(void)
{
#ifdef CONFIG_RSEQ
	struct rseq __user *urseq = current->rseq;
	u64 cs;

	if (!urseq)
		return false;
	pagefault_disable();
	if (!user_access_begin(&urseq->rseq_cs, sizeof(cs)))
		goto fault;
	unsafe_get_user(cs, &urseq->rseq_cs, fault_end);
	user_access_end();
	pagefault_enable();
	return cs != 0;
fault_end:
	user_access_end();
fault:
	pagefault_enable();
	return true;
#else
	return false;
#endif
}

/**
 * kpf_deliver_irq() - deliver right in the timer interrupt if possible
 * @ctx:	context whose expiry is due; timer_lock held, defer and
 *		in_upcall already checked, no delivery queued.
 * @expiry:	intended expiry (ns).
 * @irq:	time of the interrupt (ns).
 *
 * The fast path: when the interrupt hit the owner itself while it ran in
 * user mode on this CPU, the interrupt's register frame is the one the
 * return to user mode restores. Save and redirect it here and the thread
 * enters the upcall on the way out of this very interrupt, without a
 * task_work or an IPI. An rseq critical section (which needs the abort
 * logic that may fault) or anything unusual takes the task_work path.
 *
 * Return: true if delivered.
 */
bool kpf_deliver_irq(struct kpf_ctx *ctx, u64 expiry, u64 irq)
{
	struct pt_regs *regs = get_irq_regs();

	if (!regs || current != ctx->task || !user_mode(regs) ||
	    !user_64bit_mode(regs) || current->mm != ctx->mm ||
	    kpf_stepping(regs) || kpf_rseq_busy() || kpf_restart_pending(regs))
		return false;
	kpf_upcall(ctx, regs, instruction_pointer(regs), expiry, irq, irq);
	kpf_stat_inc(KPF_STAT_DELIVERED_IRQ);
	return true;
}

/* What became of a queued delivery. */
enum kpf_delivered {
	KPF_DELIVER_DONE,	/* delivered, or deferred */
	KPF_DELIVER_RETRY,	/* no final frame yet: retry from the timer */
	KPF_DELIVER_DROPPED,	/* dropped for a reason that may pass */
	KPF_DELIVER_GONE,	/* the owner takes no more upcalls */
	KPF_DELIVER_STALE,	/* stopped meanwhile (DISARM, close, release) */
};

/*
 * Still the delivery that was queued? timer_lock held. Release may run on
 * another thread while the owner runs this work: it stops the timer (gen)
 * and then unpins the area, both under timer_lock, so the area may only
 * be touched under the lock and after this check.
 */
static bool kpf_work_current(const struct kpf_ctx *ctx, u32 gen)
{
	return ctx->gen == gen && ctx->area;
}

static void kpf_drop(struct kpf_ctx *ctx)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	if (ctx->area)
		kpf_area_add(&ctx->area->dropped, 1);
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	kpf_stat_inc(KPF_STAT_DROPPED);
}

/*
 * defer or in_upcall set: the expiry becomes pending. timer_lock held.
 * Returns true if the timer must stay stopped until the owner acts.
 */
static bool kpf_deliver_defer(struct kpf_ctx *ctx, u32 defer, u32 in_upcall)
{
	struct kpf_area *area = ctx->area;

	WRITE_ONCE(area->pending, 1);
	kpf_area_add(&area->deferred, 1);
	kpf_stat_inc(KPF_STAT_DEFERRED);
	trace_kpf_defer(current->pid, defer, in_upcall);
	return defer != 0;
}

/*
 * Deliver, defer or drop one queued expiry; see the file comment. The
 * owner's own thread runs this, so defer and in_upcall cannot change
 * under it (only the owner acts on them) and rseq may be touched only
 * once the upcall is certain.
 */
static enum kpf_delivered kpf_deliver(struct kpf_ctx *ctx, u32 gen,
				      u64 expiry, u64 irq, bool *stop)
{
	struct pt_regs *regs = current_pt_regs();
	unsigned long ip = instruction_pointer(regs);
	enum kpf_delivered ret = KPF_DELIVER_DONE;
	unsigned long flags;
	u32 defer, in_upcall;

	if ((current->flags & PF_EXITING) || current->mm != ctx->mm)
		return KPF_DELIVER_GONE;
	if (!kpf_frame_final(regs))
		return KPF_DELIVER_RETRY;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	if (!kpf_work_current(ctx, gen)) {
		ret = KPF_DELIVER_STALE;
		goto unlock;
	}
	defer = READ_ONCE(ctx->area->defer);
	in_upcall = READ_ONCE(ctx->area->in_upcall);
	if (defer || in_upcall != KPF_UPCALL_IDLE) {
		*stop = kpf_deliver_defer(ctx, defer, in_upcall);
		goto unlock;
	}
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);

	/* A 32-bit segment or a broken rseq area: this one is lost. */
	if (!user_64bit_mode(regs) || kpf_rseq_abort(&ip))
		return KPF_DELIVER_DROPPED;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	if (kpf_work_current(ctx, gen)) {
		kpf_upcall(ctx, regs, ip, expiry, irq, ktime_get_ns());
	} else {
		/*
		 * Stopped meanwhile, but rseq_cs is already cleared: the
		 * kernel would no longer abort the section, so do it here,
		 * as rseq_ip_fixup() would have.
		 */
		regs->ip = ip;
		ret = KPF_DELIVER_STALE;
	}
unlock:
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	return ret;
}

/**
 * kpf_deliver_work() - task_work queued by the timer callback
 * @head:	the context's work.
 *
 * Runs on the owning thread, on its way to user mode, from one of the
 * other task_work_run() callers, or, if it is exiting, from
 * exit_task_work(). Drops the context reference the callback took; the
 * context may be freed here if its file was released meanwhile (the module
 * is then released by core code after this returns: see kpf_ctx_put()).
 */
void kpf_deliver_work(struct callback_head *head)
{
	struct kpf_ctx *ctx = container_of(head, struct kpf_ctx, work);
	enum kpf_delivered result;
	unsigned long flags;
	u64 expiry, irq;
	bool stale, stop = false;
	u32 gen;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	ctx->work_queued = false;
	gen = ctx->work_gen;
	stale = !kpf_work_current(ctx, gen);
	/* DISARM keeps the area; UNREGISTER and release do not. */
	if (stale && ctx->area)
		kpf_area_add(&ctx->area->dropped, 1);
	expiry = ctx->work_expiry;
	irq = ctx->work_irq;
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);

	if (stale) {
		kpf_stat_inc(KPF_STAT_DROPPED);
		goto out;
	}
	result = kpf_deliver(ctx, gen, expiry, irq, &stop);
	if (result != KPF_DELIVER_DONE && result != KPF_DELIVER_RETRY)
		kpf_drop(ctx);

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	if (!kpf_work_current(ctx, gen)) {
		/* Stopped while we ran (DISARM, close, release). */
	} else if (result == KPF_DELIVER_RETRY) {
		kpf_timer_retry(ctx, expiry);
	} else if (result == KPF_DELIVER_GONE) {
		ctx->gone = true;
		hrtimer_try_to_cancel(&ctx->timer);
		WRITE_ONCE(ctx->area->armed_ns, 0);
	} else {
		ctx->retries = 0;
		if (!stop)
			kpf_timer_resume(ctx);
	}
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
out:
	/* May free the context; the module stays until after we return. */
	kpf_ctx_put(ctx);
}
