// SPDX-License-Identifier: GPL-2.0
/*
 * kpf: kernel-assisted preemptible functions - the /dev/kpf device.
 *
 * A thread opens /dev/kpf, registers a shared area, an upcall entry and an
 * upcall stack, and arms a timer. When the timer expires while the thread
 * may be interrupted, the thread's user registers are written to the area
 * on its next way to user mode and it continues at the entry: a user-level
 * preemption without a signal. See Documentation/userspace-api/kpf.rst.
 *
 * This file holds the device, the file operations and ioctl dispatch.
 * Registration is in kpf_register.c, the timer in kpf_timer.c, delivery
 * in kpf_deliver.c, limits and accounting in kpf_limits.c, counters in
 * kpf_stats.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "kpf_internal.h"

#define CREATE_TRACE_POINTS
#include "kpf_trace.h"

/**
 * kpf_copy_arg() - copy a versioned ioctl structure from user space
 * @dst:	kernel copy, @ksize bytes.
 * @ksize:	size of the structure this module knows.
 * @ver0:	size of the first published version: anything smaller is
 *		not a valid structure.
 * @uarg:	user pointer to the caller's structure.
 * @usize:	the caller's size, from the command (_IOC_SIZE); the
 *		structure's first __u32 must say the same.
 *
 * Follows clone3/openat2: a larger caller size is accepted if the bytes
 * this module does not know are zero.
 *
 * Return: 0, -EFAULT (unreadable), -EINVAL (size below @ver0, or the size
 * field disagrees with the command) or -E2BIG (unknown trailing bytes that
 * are not zero).
 */
int kpf_copy_arg(void *dst, size_t ksize, size_t ver0,
		 const void __user *uarg, u32 usize)
{
	int ret;

	if (usize < ver0)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, uarg, usize);
	if (ret)
		return ret;
	if (*(u32 *)dst != usize)
		return -EINVAL;
	return 0;
}

/*
 * Out of line: its 64-byte structure would give kpf_ioctl() a stack
 * canary (and zero-initialisation) on every ARM.
 */
static noinline int kpf_ioctl_info(void __user *uarg, u32 usize)
{
	struct kpf_info info;
	int ret;

	ret = kpf_copy_arg(&info, sizeof(info), KPF_INFO_SIZE_VER0, uarg,
			   usize);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;
	memset(&info, 0, sizeof(info));
	info.size = min_t(u32, usize, sizeof(info));
	info.abi_version = KPF_ABI_VERSION;
	info.features = KPF_FEAT_ONESHOT | KPF_FEAT_PERIODIC |
			KPF_FEAT_AREA_DEADLINE | KPF_FEAT_DEFER |
			KPF_FEAT_LINGER | KPF_FEAT_ARM_AT;
	if (IS_ENABLED(CONFIG_RSEQ))
		info.features |= KPF_FEAT_RSEQ_ABORT;
	info.area_size = sizeof(struct kpf_area);
	info.min_period_ns = kpf_min_period_ns(kpf_sys_nice());
	info.max_contexts = kpf_max_contexts();
	if (copy_to_user(uarg, &info, info.size))
		return -EFAULT;
	return 0;
}

/*
 * Only the owner may drive a registered context. A fork child shares the
 * file but is another task; after exec the owner has a new mm, and the
 * registered area and entry belong to the old image.
 */
static bool kpf_ctx_foreign(const struct kpf_ctx *ctx)
{
	return ctx->task && (ctx->task != current || ctx->mm != current->mm);
}

/*
 * The caller is the owner. Then nothing else changes the registration
 * while it is in an ioctl: REGISTER needs an unbound context,
 * UNREGISTER and exec only come from the owner itself, release waits for
 * the last file reference (the ioctl holds one), and the owner cannot be
 * exiting. So ARM and DISARM by the owner need no ioctl_lock: what they
 * share with close (kpf_flush()) and the callback is under timer_lock.
 * Another thread may close the owner's last descriptor while an ARM is in
 * flight (it took its file reference first): if the ARM starts the timer
 * first, close stops it; if close stops it first, it marks the context
 * closed under the same lock and the ARM fails with EBADF instead of
 * arming a timer that nothing would stop (unless the owner's table has a
 * descriptor of it again, see kpf_arm_start()).
 */
static bool kpf_ctx_mine(const struct kpf_ctx *ctx)
{
	return READ_ONCE(ctx->task) == current && ctx->mm == current->mm;
}

/*
 * The commands by number, as the first version defined them. A caller
 * built against another version of a structure uses the same number with
 * another _IOC_SIZE; direction and type must still match.
 */
static const unsigned int kpf_cmds[] = {
	KPF_IOC_INFO, KPF_IOC_REGISTER, KPF_IOC_UNREGISTER, KPF_IOC_ARM,
	KPF_IOC_DISARM, KPF_IOC_ARM_AT,
};

static noinline long kpf_ioctl_cmd(struct file *file, unsigned int cmd,
				   unsigned long arg)
{
	struct kpf_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned int nr = _IOC_NR(cmd);
	u32 usize = _IOC_SIZE(cmd);
	long ret;

	if (_IOC_TYPE(cmd) != KPF_IOC_MAGIC || nr >= ARRAY_SIZE(kpf_cmds) ||
	    _IOC_DIR(cmd) != _IOC_DIR(kpf_cmds[nr]) ||
	    (_IOC_DIR(cmd) == _IOC_NONE && usize))
		return -ENOTTY;
	if (nr == _IOC_NR(KPF_IOC_ARM) && kpf_ctx_mine(ctx))
		return kpf_ioctl_arm(ctx, uarg, usize);
	if (nr == _IOC_NR(KPF_IOC_DISARM) && kpf_ctx_mine(ctx))
		return arg ? -EINVAL : kpf_ioctl_disarm(ctx);
	if (nr == _IOC_NR(KPF_IOC_INFO))
		return kpf_ioctl_info(uarg, usize);

	mutex_lock(&ctx->ioctl_lock);
	if (kpf_ctx_foreign(ctx)) {
		ret = -EPERM;
		goto out;
	}
	switch (nr) {
	case _IOC_NR(KPF_IOC_REGISTER):
		ret = kpf_ioctl_register(ctx, uarg, usize);
		break;
	case _IOC_NR(KPF_IOC_UNREGISTER):
		ret = arg ? -EINVAL : kpf_ioctl_unregister(ctx);
		break;
	case _IOC_NR(KPF_IOC_ARM):
		ret = kpf_ioctl_arm(ctx, uarg, usize);
		break;
	case _IOC_NR(KPF_IOC_ARM_AT):
		ret = kpf_ioctl_arm_at(ctx, arg);
		break;
	default:
		ret = arg ? -EINVAL : kpf_ioctl_disarm(ctx);
		break;
	}
out:
	mutex_unlock(&ctx->ioctl_lock);
	return ret;
}

/*
 * KPF_IOC_ARM_AT by the owner, the command a runtime issues before every
 * quantum, is recognised here by its one encoding and tail-called with no
 * stack frame; everything else goes through kpf_ioctl_cmd().
 */
static long kpf_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kpf_ctx *ctx = file->private_data;

	if (likely(cmd == KPF_IOC_ARM_AT && kpf_ctx_mine(ctx)))
		return kpf_ioctl_arm_at(ctx, arg);
	return kpf_ioctl_cmd(file, cmd, arg);
}

/* No operations: the anchor only carries the module reference. */
static const struct file_operations kpf_anchor_fops = {
	.owner		= THIS_MODULE,
};

static int kpf_open(struct inode *inode, struct file *file)
{
	struct kpf_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	ctx->anchor = anon_inode_getfile("[kpf]", &kpf_anchor_fops, NULL,
					 O_RDONLY);
	if (IS_ERR(ctx->anchor)) {
		int ret = PTR_ERR(ctx->anchor);

		kfree(ctx);
		return ret;
	}
	refcount_set(&ctx->ref, 1);
	mutex_init(&ctx->ioctl_lock);
	raw_spin_lock_init(&ctx->timer_lock);
	kpf_timer_init(ctx);
	init_task_work(&ctx->work, kpf_deliver_work);
	file->private_data = ctx;
	return nonseekable_open(inode, file);
}

static int kpf_fd_is(const void *file, struct file *f, unsigned int fd)
{
	return f == file;
}

static const struct file_operations kpf_fops;

static int kpf_fd_of(const void *ctx, struct file *f, unsigned int fd)
{
	return f->f_op == &kpf_fops && f->private_data == ctx;
}

/**
 * kpf_ctx_in_my_table() - does the caller have a descriptor of @ctx?
 * @ctx:	a context; the caller is its owner, in an ioctl on it.
 *
 * The slow path of an ARM after a close found none (@closed): O(max_fds)
 * under current->files->file_lock.
 *
 * Return: true if a descriptor in current's fd table refers to @ctx's
 * file.
 */
bool kpf_ctx_in_my_table(struct kpf_ctx *ctx)
{
	return iterate_fd(current->files, 0, kpf_fd_of, ctx) != 0;
}

/*
 * Does the owner still have a descriptor of @file, now that one was taken
 * out of the table @id? Looked up in the owner's own fd table; references
 * that others hold (a fork child that has not exec'd, an SCM_RIGHTS copy,
 * a concurrent fget()) do not count.
 */
static bool kpf_owner_has_fd(struct kpf_ctx *ctx, struct file *file,
			     fl_owner_t id)
{
	struct task_struct *task = ctx->task;
	struct files_struct *files;
	bool found;

	/*
	 * Every descriptor holds a reference, and the one being closed still
	 * holds its own during ->flush: a count of one means no descriptor
	 * is left anywhere. That is the usual close, and it needs no scan of
	 * the fd table, which is O(max_fds) under files->file_lock.
	 */
	if (file_count(file) == 1)
		return false;
	/*
	 * The owner closes: @id is its table, or the private copy that
	 * close_range(CLOSE_RANGE_UNSHARE) closes in and installs only
	 * afterwards, while current->files is still the shared one that
	 * keeps the descriptor.
	 */
	if (task == current)
		return id && iterate_fd(id, 0, kpf_fd_is, file) != 0;
	/*
	 * Another task closes, in a table that may or may not be the
	 * owner's: ask the owner's. Whether the two tables are the same
	 * is not the question: the owner may have left a shared table
	 * without its descriptor (close_range(CLOSE_RANGE_UNSHARE) beyond
	 * its last other one copies none, and runs no ->flush), or
	 * unshared it just after this close took the descriptor out.
	 * task_lock() keeps the table alive, as for /proc/<pid>/fdinfo.
	 */
	task_lock(task);
	files = task->files;
	found = files && iterate_fd(files, 0, kpf_fd_is, file) != 0;
	task_unlock(task);
	return found;
}

/*
 * close() of a descriptor. When the owner's last descriptor of the context
 * goes, nothing may be delivered after close() returns - into an upcall
 * stack the program may free right after - whoever else still holds the
 * file. So stop the timer and drop a queued delivery here; the context
 * stays registered (and the page pinned) until release, and an ARM in
 * flight across this close fails with EBADF (one through a descriptor the
 * owner has again arms: see kpf_arm_start()).
 */
static int kpf_flush(struct file *file, fl_owner_t id)
{
	struct kpf_ctx *ctx = file->private_data;

	mutex_lock(&ctx->ioctl_lock);
	if (ctx->task && !kpf_owner_has_fd(ctx, file, id))
		kpf_timer_close(ctx);
	mutex_unlock(&ctx->ioctl_lock);
	return 0;
}

/**
 * kpf_ctx_put() - drop a reference on a context
 * @ctx:	the context; the file holds one reference until release, a
 *		queued delivery holds another.
 *
 * The last one frees it and puts its anchor file. That is how a delivery
 * that outlived the file lets the module go: the module's code is still
 * running when it drops its last reference, and module_put() here would
 * leave the rest of this function and of the task_work racing with rmmod
 * (the kernel has no task_work counterpart of
 * module_put_and_kthread_exit()). fput() only queues __fput() - as
 * task_work on this thread, run after the current work returned, or on a
 * kworker for a kernel thread - and __fput() drops the module in core
 * code, the way every file operation's module is released. Never called
 * from hardirq.
 */
void kpf_ctx_put(struct kpf_ctx *ctx)
{
	struct file *anchor = ctx->anchor;

	if (!refcount_dec_and_test(&ctx->ref))
		return;
	mutex_destroy(&ctx->ioctl_lock);
	kfree(ctx);
	fput(anchor);
}

/*
 * The last file reference is gone: no ioctl can run. The timer may still
 * be armed and a delivery may still be queued on the owner (it holds its
 * own context reference and finds the context stopped).
 */
static int kpf_release(struct inode *inode, struct file *file)
{
	struct kpf_ctx *ctx = file->private_data;

	kpf_timer_stop(ctx);
	if (ctx->task)
		kpf_unbind(ctx);
	kpf_ctx_put(ctx);
	return 0;
}

static const struct file_operations kpf_fops = {
	.owner		= THIS_MODULE,
	.open		= kpf_open,
	.flush		= kpf_flush,
	.release	= kpf_release,
	.unlocked_ioctl	= kpf_ioctl,
	.llseek		= no_llseek,
};

static struct miscdevice kpf_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kpf",
	.fops	= &kpf_fops,
	/* Every operation affects only the calling thread. */
	.mode	= 0666,
	.groups	= kpf_stat_groups,
};

static int __init kpf_init(void)
{
	int ret;

	ret = misc_register(&kpf_misc);
	if (ret)
		pr_err("cannot register /dev/kpf: %d\n", ret);
	return ret;
}

static void __exit kpf_exit(void)
{
	misc_deregister(&kpf_misc);
}

module_init(kpf_init);
module_exit(kpf_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kpf: per-thread hrtimer upcalls for preemptible functions");
MODULE_AUTHOR("kpf developers");
