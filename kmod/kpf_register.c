// SPDX-License-Identifier: GPL-2.0
/*
 * kpf registration: bind a context to the calling thread.
 *
 * KPF_IOC_REGISTER validates everything user space handed in, then pins
 * the page that holds the area so that the hardirq callback can read the
 * deadline and defer count through the kernel mapping without faulting.
 * The owner's task and mm are referenced so that delivery can tell the
 * owner (and its image, which exec replaces) from anybody else.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/uaccess.h>

#include "kpf_internal.h"

/* Every byte of [start, start + len) lies in a writable mapping. */
static int kpf_check_writable(u64 start, u64 len)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	u64 end = start + len;
	int ret = 0;

	mmap_read_lock(mm);
	while (start < end) {
		vma = find_vma(mm, start);
		if (!vma || vma->vm_start > start ||
		    !(vma->vm_flags & VM_WRITE)) {
			ret = -EFAULT;
			break;
		}
		start = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

/* Checks of the arguments that need no memory access; see kpf.rst. */
static int kpf_check_register(const struct kpf_register *reg)
{
	if (reg->flags || reg->reserved[0] || reg->reserved[1])
		return -EINVAL;
	if (!reg->area || reg->area >= TASK_SIZE_MAX)
		return -EFAULT;
	if (!IS_ALIGNED(reg->area, __alignof__(struct kpf_area)))
		return -EINVAL;
	if (!reg->entry || reg->entry >= TASK_SIZE_MAX)
		return -EFAULT;
	if (reg->stack_size < KPF_MIN_UPCALL_STACK)
		return -EINVAL;
	if (!reg->stack || reg->stack >= TASK_SIZE_MAX ||
	    reg->stack_size > TASK_SIZE_MAX - reg->stack)
		return -EFAULT;
	return 0;
}

/* The area header user space filled in, read through the pinned page. */
static int kpf_check_area(const struct kpf_area *area, u64 uarea)
{
	u32 size = READ_ONCE(area->size);

	if (size < KPF_AREA_SIZE_VER0 ||
	    offset_in_page(uarea) + size > PAGE_SIZE)
		return -EINVAL;
	if (READ_ONCE(area->flags) || READ_ONCE(area->reserved0) ||
	    READ_ONCE(area->reserved1))
		return -EINVAL;
	if (memchr_inv(area->reserved2, 0, sizeof(area->reserved2)))
		return -EINVAL;
	return 0;
}

/* Kernel-written fields start from a known state at each registration. */
static void kpf_reset_area(struct kpf_area *area)
{
	WRITE_ONCE(area->version, KPF_ABI_VERSION);
	WRITE_ONCE(area->armed_ns, 0);
	WRITE_ONCE(area->pending, 0);
	WRITE_ONCE(area->in_upcall, KPF_UPCALL_IDLE);
	memset(&area->frame, 0, sizeof(area->frame));
	WRITE_ONCE(area->expiry_ns, 0);
	WRITE_ONCE(area->irq_ns, 0);
	WRITE_ONCE(area->deliver_ns, 0);
	WRITE_ONCE(area->fires, 0);
	WRITE_ONCE(area->delivered, 0);
	WRITE_ONCE(area->deferred, 0);
	WRITE_ONCE(area->overruns, 0);
	WRITE_ONCE(area->rearms, 0);
	WRITE_ONCE(area->dropped, 0);
	WRITE_ONCE(area->user_ssp, 0);
	WRITE_ONCE(area->lingers, 0);
}

/*
 * account_locked_vm() with the CAP_IPC_LOCK check it would make, but
 * without an audit record and only when the limit is exceeded: asking
 * for the capability on every registration (and even on the release,
 * where it is ignored) would fill the audit log of a system that denies
 * it (an LSM records every denial) for a limit that was not reached.
 */
static int kpf_account_page(struct mm_struct *mm, bool inc)
{
	int ret;

	mmap_write_lock(mm);
	ret = __account_locked_vm(mm, 1, inc, current, false);
	if (ret == -ENOMEM && ns_capable_noaudit(&init_user_ns, CAP_IPC_LOCK))
		ret = __account_locked_vm(mm, 1, inc, current, true);
	mmap_write_unlock(mm);
	return ret;
}

/*
 * Pin the page of the area for as long as it is registered, charged to
 * the owner's RLIMIT_MEMLOCK like any other long-term pin (io_uring, RDMA).
 * Only memory that swap backs is accepted - anonymous (including a private
 * file mapping once written, which FOLL_WRITE makes a private copy) or
 * shmem/tmpfs: a long-term pin of a file's page-cache page would keep
 * writes away from the file system.
 */
static int kpf_pin_area(u64 uarea, struct page **page)
{
	int ret;

	ret = pin_user_pages_fast(uarea & PAGE_MASK, 1,
				  FOLL_WRITE | FOLL_LONGTERM, page);
	if (ret != 1)
		return ret < 0 ? ret : -EFAULT;
	if (!PageAnon(*page) && !PageSwapBacked(*page)) {
		ret = -EINVAL;
		goto unpin;
	}
	ret = kpf_account_page(current->mm, true);
	if (ret)
		goto unpin;
	return 0;
unpin:
	unpin_user_page(*page);
	return ret;
}

/*
 * The kernel wrote the area through its own mapping, which leaves no dirty
 * bit in the user PTE: mark the page dirty, or a shmem page could be
 * reclaimed without its last counters and frame.
 */
static void kpf_unpin_area(struct mm_struct *mm, struct page *page)
{
	kpf_account_page(mm, false);
	unpin_user_pages_dirty_lock(&page, 1, true);
}

/**
 * kpf_ioctl_register() - KPF_IOC_REGISTER: bind @ctx to the calling thread
 * @ctx:	context of the file; ioctl_lock held.
 * @uarg:	user pointer to struct kpf_register.
 * @usize:	its size, from the command.
 *
 * Return: 0 or a negative errno as documented in kpf.rst.
 */
int kpf_ioctl_register(struct kpf_ctx *ctx, const void __user *uarg,
		       u32 usize)
{
	struct kpf_register reg;
	struct kpf_user *user;
	struct page *page;
	struct kpf_area *area;
	int ret;

	ret = kpf_copy_arg(&reg, sizeof(reg), KPF_REGISTER_SIZE_VER0, uarg,
			   usize);
	if (ret)
		return ret;
	ret = kpf_check_register(&reg);
	if (ret)
		return ret;
	/*
	 * Registered already, or a delivery queued on the previous owner
	 * before it unregistered has not run yet (the work is on that
	 * thread's list and cannot be queued on ours).
	 */
	if (ctx->task || READ_ONCE(ctx->work_queued))
		return -EBUSY;
	if (in_compat_syscall())
		return -ENOTTY;
	ret = kpf_check_writable(reg.stack, reg.stack_size);
	if (ret)
		return ret;
	ret = kpf_pin_area(reg.area, &page);
	if (ret)
		return ret;
	area = page_address(page) + offset_in_page(reg.area);
	ret = kpf_check_area(area, reg.area);
	if (ret)
		goto unpin;
	ret = kpf_user_charge(&user);
	if (ret)
		goto unpin;

	kpf_reset_area(area);
	ctx->page = page;
	ctx->area = area;
	ctx->uarea = reg.area;
	ctx->entry = reg.entry;
	ctx->stack_top = round_down(reg.stack + reg.stack_size, 16) - 8;
	ctx->user = user;
	ctx->sys_nice = kpf_sys_nice();
	ctx->mm = current->mm;
	mmgrab(ctx->mm);
	get_task_struct(current);
	/* Publish last: a non-NULL task means the fields above are set. */
	smp_store_release(&ctx->task, current);
	return 0;

unpin:
	kpf_unpin_area(current->mm, page);
	return ret;
}

/**
 * kpf_unbind() - release what registration took
 * @ctx:	a registered context whose timer is stopped.
 *
 * Called by UNREGISTER and by release.
 */
void kpf_unbind(struct kpf_ctx *ctx)
{
	struct task_struct *task = ctx->task;
	unsigned long flags;

	/* A delivery still queued checks area under timer_lock. */
	raw_spin_lock_irqsave(&ctx->timer_lock, flags);
	ctx->area = NULL;
	ctx->gone = false;
	ctx->closed = false;
	raw_spin_unlock_irqrestore(&ctx->timer_lock, flags);
	WRITE_ONCE(ctx->task, NULL);
	kpf_unpin_area(ctx->mm, ctx->page);
	ctx->page = NULL;
	kpf_user_uncharge(ctx->user);
	ctx->user = NULL;
	mmdrop(ctx->mm);
	ctx->mm = NULL;
	put_task_struct(task);
}

/**
 * kpf_ioctl_unregister() - KPF_IOC_UNREGISTER
 * @ctx:	context of the file; ioctl_lock held.
 *
 * Stops the timer, drops a queued delivery, and unbinds. The file can then
 * be registered again, by any thread.
 *
 * Return: 0, or -ENOENT when not registered.
 */
int kpf_ioctl_unregister(struct kpf_ctx *ctx)
{
	if (!ctx->task)
		return -ENOENT;
	kpf_timer_stop(ctx);
	kpf_unbind(ctx);
	return 0;
}
