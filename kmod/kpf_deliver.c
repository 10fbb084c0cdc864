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
 *  1. drops the delivery if DISARM/UNREGISTER ran since it was queued, or
 *     the thread is exiting, or exec replaced its image;
 *  2. re-checks defer and in_upcall: user code may have run meanwhile;
 *  3. aborts an active rseq critical section in the saved rip, exactly as
 *     the kernel does for a preemption;
 *  4. saves and redirects current_pt_regs().
 * Signal restarts are resolved before task_work runs in the exit-to-user
 * loop, so a frame saved here resumes a restarted call correctly.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/ktime.h>
#include <linux/ptrace.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/uaccess.h>
#include <asm/irq_regs.h>
#include <asm/processor-flags.h>

#include "kpf_internal.h"
#include "kpf_trace.h"

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
 * caller has checked defer, in_upcall, the owner and its mm.
 */
static void kpf_upcall(struct kpf_ctx *ctx, struct pt_regs *regs,
		       unsigned long ip, u64 expiry, u64 irq)
{
	struct kpf_area *area = ctx->area;
	u64 now = ktime_get_ns();

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

/* Is an rseq critical section possibly active? Safe in hardirq. */
static bool kpf_rseq_busy(void)
{
#ifdef CONFIG_RSEQ
	u64 cs;

	if (!current->rseq)
		return false;
	if (copy_from_user_nofault(&cs, &current->rseq->rseq_cs, sizeof(cs)))
		return true;
	return cs != 0;
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
	    kpf_rseq_busy())
		return false;
	kpf_upcall(ctx, regs, instruction_pointer(regs), expiry, irq);
	kpf_stat_inc(KPF_STAT_DELIVERED_IRQ);
	return true;
}

/*
 * Deliver, defer or drop one queued expiry; see the file comment.
 * Returns false if the owner can take no more upcalls.
 */
static bool kpf_deliver(struct kpf_ctx *ctx, u64 expiry, u64 irq)
{
	struct pt_regs *regs = current_pt_regs();
	struct kpf_area *area = ctx->area;
	unsigned long ip = instruction_pointer(regs);
	unsigned long flags;
	u32 defer, in_upcall;

	if ((current->flags & PF_EXITING) || current->mm != ctx->mm ||
	    !user_64bit_mode(regs) || kpf_rseq_abort(&ip)) {
		raw_spin_lock_irqsave(&ctx->timer_lock, flags);
		kpf_area_add(&area->dropped, 1);
		raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
		kpf_stat_inc(KPF_STAT_DROPPED);
		return false;
	}

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	defer = READ_ONCE(area->defer);
	in_upcall = READ_ONCE(area->in_upcall);
	if (defer || in_upcall != KPF_UPCALL_IDLE) {
		WRITE_ONCE(area->pending, 1);
		kpf_area_add(&area->deferred, 1);
		raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
		kpf_stat_inc(KPF_STAT_DEFERRED);
		trace_kpf_defer(current->pid, defer, in_upcall);
		return true;
	}
	kpf_upcall(ctx, regs, ip, expiry, irq);
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	return true;
}

/**
 * kpf_deliver_work() - task_work queued by the timer callback
 * @head:	the context's work.
 *
 * Runs on the owning thread, either on its way to user mode or, if it is
 * exiting, from exit_task_work(). Drops the file reference the callback
 * took; that may be the last one, and fput() then defers the release to
 * after this function has returned.
 */
void kpf_deliver_work(struct callback_head *head)
{
	struct kpf_ctx *ctx = container_of(head, struct kpf_ctx, work);
	struct file *file = ctx->file;
	unsigned long flags;
	u64 expiry, irq;
	bool stale;

	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	ctx->work_queued = false;
	stale = ctx->work_gen != ctx->gen;
	/* DISARM keeps the area; UNREGISTER (same thread, before us) not. */
	if (stale && ctx->area)
		kpf_area_add(&ctx->area->dropped, 1);
	expiry = ctx->work_expiry;
	irq = ctx->work_irq;
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);

	if (stale) {
		kpf_stat_inc(KPF_STAT_DROPPED);
	} else if (kpf_deliver(ctx, expiry, irq)) {
		raw_spin_lock_irqsave(&ctx->timer_lock, flags);
		kpf_timer_resume(ctx);
		raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	}
	fput(file);
}
