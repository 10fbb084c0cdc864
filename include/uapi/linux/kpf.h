/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kpf: kernel-assisted preemptible functions.
 *
 * /dev/kpf gives the calling thread a high-resolution timer whose expiry is
 * delivered as an *upcall*: the thread's user register frame is written to
 * a per-thread shared area and the thread continues at a registered entry
 * point on a registered stack. No signal is queued, no system call is
 * interrupted, and the deadline can be moved later by a plain store.
 *
 * One open file is one context; it belongs to the thread that registers it.
 * Every ioctl structure may grow. Its size travels twice: in the command
 * (_IOC_SIZE, so a grown structure is the same command number to the
 * kernel, which dispatches on _IOC_NR) and in its first field, which must
 * match. The kernel accepts a larger size when the bytes it does not know
 * are zero (E2BIG otherwise) and rejects a size below the first published
 * version (EINVAL). KPF_IOC_SIZED() builds the command for another size.
 *
 * Documentation/userspace-api/kpf.rst is the full reference.
 */
#ifndef _UAPI_LINUX_KPF_H
#define _UAPI_LINUX_KPF_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define KPF_DEVICE_PATH		"/dev/kpf"
#define KPF_ABI_VERSION		1

/**
 * struct kpf_frame - user register state at the moment of preemption
 *
 * Written by the kernel when it delivers an upcall; read by user space,
 * which resumes the interrupted code by restoring every field. The order
 * of the general-purpose registers follows x86-64 struct pt_regs.
 * Extended (FPU/SSE/AVX) state is not touched by delivery: it is still
 * live in the registers when the upcall entry runs.
 */
struct kpf_frame {
	__u64 r15;
	__u64 r14;
	__u64 r13;
	__u64 r12;
	__u64 rbp;
	__u64 rbx;
	__u64 r11;
	__u64 r10;
	__u64 r9;
	__u64 r8;
	__u64 rax;
	__u64 rcx;
	__u64 rdx;
	__u64 rsi;
	__u64 rdi;
	__u64 rip;
	__u64 rsp;
	__u64 rflags;
};

/* in_upcall values */
#define KPF_UPCALL_IDLE		0	/* frame free: the kernel may deliver */
#define KPF_UPCALL_ACTIVE	1	/* frame in use: expiries are deferred */

/**
 * struct kpf_area - per-thread area shared between a thread and the kernel
 *
 * Lives in the registering thread's memory: 64-byte aligned, within one
 * page. The kernel pins the page for the lifetime of the registration and
 * reads and writes it from interrupt context, so every field is accessed
 * with single aligned loads and stores. "user" below means the registered
 * thread itself.
 *
 * @size:	user writes sizeof(struct kpf_area) before registering;
 *		kernel reads it once at KPF_IOC_REGISTER.
 * @version:	kernel writes KPF_ABI_VERSION at registration.
 * @flags:	user writes 0 (reserved for future use).
 * @reserved0:	must be 0.
 * @deadline_ns: user writes the CLOCK_MONOTONIC time at which it wants an
 *		upcall, 0 for none; KPF_IOC_ARM (one-shot) writes it too.
 *		The kernel reads it when the timer expires: 0 -> nothing,
 *		later than now -> the timer moves there by itself (no system
 *		call needed to postpone), due -> the kernel atomically clears
 *		it to 0 and delivers. Writing an earlier deadline than
 *		@armed_ns needs KPF_IOC_ARM. Ignored in periodic mode.
 * @armed_ns:	kernel writes the expiry the timer is queued for, 0 when no
 *		timer is queued. User reads it after storing @deadline_ns
 *		with a full barrier (xchg): if it is 0 or later than the new
 *		deadline, call KPF_IOC_ARM.
 * @defer:	user writes a nesting count; while it is non-zero the kernel
 *		delivers nothing and sets @pending instead (and a periodic
 *		timer stops until the next KPF_IOC_ARM).
 * @pending:	kernel sets 1 when it deferred an expiry (because of @defer
 *		or @in_upcall); user clears it when it has acted on it.
 * @in_upcall:	kernel sets KPF_UPCALL_ACTIVE when it writes @frame; user
 *		sets KPF_UPCALL_IDLE once it no longer needs @frame. The
 *		kernel never overwrites a frame in use.
 * @reserved1:	must be 0.
 * @frame:	kernel writes the interrupted registers at delivery.
 * @expiry_ns:	kernel: intended expiry of the delivered upcall.
 * @irq_ns:	kernel: when the timer interrupt ran for it.
 * @deliver_ns:	kernel: when the frame was written, on the way to user mode;
 *		@irq_ns itself when the timer interrupt wrote it (it hit
 *		the thread in user mode).
 * @fires:	kernel: expiries that were due (deadline reached, or a period).
 * @delivered:	kernel: upcalls delivered.
 * @deferred:	kernel: due expiries turned into @pending.
 * @overruns:	kernel: periods that passed without their own expiry, and
 *		expiries that found the previous delivery still queued.
 * @rearms:	kernel: timer moves to a later @deadline_ns without a
 *		system call.
 * @dropped:	kernel: expiries never delivered: the thread was exiting
 *		or had exec'd, or DISARM came before delivery.
 * @user_ssp:	kernel: the user shadow-stack pointer at the interruption,
 *		0 while shadow stacks are not supported (see kpf.rst: a
 *		resume by "ret" needs it once they are).
 * @lingers:	kernel: expiries that found no deadline and kept the timer
 *		queued (KPF_ARM_LINGER): each is one timer interrupt that
 *		did nothing, the price of lingering. (The timer lingers
 *		after a delivery too, from the same interrupt: not counted.)
 * @reserved2:	must be 0 at registration; the kernel does not write it.
 */
struct kpf_area {
	__u32 size;
	__u32 version;
	__u32 flags;
	__u32 reserved0;
	__u64 deadline_ns;
	__u64 armed_ns;
	__u32 defer;
	__u32 pending;
	__u32 in_upcall;
	__u32 reserved1;
	struct kpf_frame frame;
	__u64 expiry_ns;
	__u64 irq_ns;
	__u64 deliver_ns;
	__u64 fires;
	__u64 delivered;
	__u64 deferred;
	__u64 overruns;
	__u64 rearms;
	__u64 dropped;
	__u64 user_ssp;
	__u64 lingers;
	__u64 reserved2[5];
} __attribute__((aligned(64)));

#define KPF_AREA_SIZE_VER0	320	/* sizeof first published struct kpf_area */

/*
 * Smallest upcall stack KPF_IOC_REGISTER accepts: a signal handled right
 * after a redirect builds its frame on the upcall stack, and the largest
 * x86-64 signal frame (AMX tile data in the xsave area) is about 11 KiB.
 */
#define KPF_MIN_UPCALL_STACK	16384

/**
 * struct kpf_register - argument of KPF_IOC_REGISTER
 * @size:	sizeof(struct kpf_register).
 * @flags:	0; no flags are defined yet.
 * @area:	address of the calling thread's struct kpf_area.
 * @entry:	upcall entry. It runs with rsp = (@stack + @stack_size)
 *		rounded down to 16, minus 8 (as right after a call), rdi =
 *		@area, DF/TF cleared, every other register as interrupted.
 * @stack:	lowest address of the upcall stack.
 * @stack_size:	size of the upcall stack in bytes.
 * @reserved:	must be 0.
 */
struct kpf_register {
	__u32 size;
	__u32 flags;
	__u64 area;
	__u64 entry;
	__u64 stack;
	__u64 stack_size;
	__u64 reserved[2];
};

#define KPF_REGISTER_SIZE_VER0	56

/* struct kpf_arm flags */
#define KPF_ARM_ABSOLUTE	(1U << 0)	/* @value_ns is CLOCK_MONOTONIC time */
#define KPF_ARM_PERIODIC	(1U << 1)	/* expire every @period_ns */
/* one-shot: keep the timer queued while no deadline is stored */
#define KPF_ARM_LINGER		(1U << 2)
#define KPF_ARM_FLAGS		(KPF_ARM_ABSOLUTE | KPF_ARM_PERIODIC | \
				 KPF_ARM_LINGER)
/* Longest period KPF_ARM_PERIODIC accepts: one hour. */
#define KPF_MAX_PERIOD_NS	(3600ULL * 1000000000ULL)
/* Most consecutive lingering expiries KPF_ARM_LINGER accepts. */
#define KPF_MAX_LINGER		1024

/**
 * struct kpf_arm - argument of KPF_IOC_ARM
 * @size:	sizeof(struct kpf_arm).
 * @flags:	KPF_ARM_* flags.
 * @value_ns:	first expiry: nanoseconds from now, or CLOCK_MONOTONIC time
 *		with KPF_ARM_ABSOLUTE. One-shot: also written to the area's
 *		deadline_ns. Periodic: 0 means one period from now.
 * @period_ns:	with KPF_ARM_PERIODIC the period (at most
 *		KPF_MAX_PERIOD_NS), else must be 0.
 * @reserved:	must be 0.
 * @linger_ns:	with KPF_ARM_LINGER (one-shot only): when an expiry finds
 *		deadline_ns 0, or has just fired, the timer is queued again
 *		linger_ns later instead of stopping, so that a deadline at
 *		least linger_ns ahead can then be stored without a system
 *		call. At least the minimum period, at most
 *		KPF_MAX_PERIOD_NS. Else must be 0. Since version 1.
 * @linger_max:	with KPF_ARM_LINGER: lingering expiries in a row (1 to
 *		KPF_MAX_LINGER) before the timer stops; an expiry that
 *		finds a deadline starts the count again. Else must be 0.
 * @reserved1:	must be 0.
 *
 * The lingering lasts until the next KPF_IOC_ARM (which sets it anew),
 * KPF_IOC_DISARM, KPF_IOC_UNREGISTER, close, exit or exec.
 */
struct kpf_arm {
	__u32 size;
	__u32 flags;
	__u64 value_ns;
	__u64 period_ns;
	__u64 reserved[2];
	__u64 linger_ns;
	__u32 linger_max;
	__u32 reserved1;
};

#define KPF_ARM_SIZE_VER0	40
#define KPF_ARM_SIZE_VER1	56	/* linger_ns, linger_max */

/* struct kpf_info features */
#define KPF_FEAT_ONESHOT	(1ULL << 0)
#define KPF_FEAT_PERIODIC	(1ULL << 1)
#define KPF_FEAT_AREA_DEADLINE	(1ULL << 2)
#define KPF_FEAT_DEFER		(1ULL << 3)
#define KPF_FEAT_RSEQ_ABORT	(1ULL << 4)
#define KPF_FEAT_LINGER		(1ULL << 5)	/* KPF_ARM_LINGER */
#define KPF_FEAT_ARM_AT		(1ULL << 6)	/* KPF_IOC_ARM_AT */

/**
 * struct kpf_info - argument of KPF_IOC_INFO
 * @size:	user writes sizeof(struct kpf_info); kernel writes back the
 *		number of bytes it filled in.
 * @flags:	user writes 0.
 * @abi_version: kernel: KPF_ABI_VERSION.
 * @reserved0:	kernel writes 0.
 * @features:	kernel: KPF_FEAT_* bits.
 * @area_size:	kernel: the struct kpf_area size it knows.
 * @min_period_ns: kernel: smallest period and one-shot distance for the
 *		caller (lower with CAP_SYS_NICE).
 * @max_contexts: kernel: registered contexts allowed per user.
 * @reserved:	kernel writes 0.
 */
struct kpf_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 reserved0;
	__u64 features;
	__u64 area_size;
	__u64 min_period_ns;
	__u64 max_contexts;
	__u64 reserved[2];
};

#define KPF_INFO_SIZE_VER0	64

#define KPF_IOC_MAGIC		0xB8
#define KPF_IOC_INFO		_IOWR(KPF_IOC_MAGIC, 0, struct kpf_info)
#define KPF_IOC_REGISTER	_IOW(KPF_IOC_MAGIC, 1, struct kpf_register)
#define KPF_IOC_UNREGISTER	_IO(KPF_IOC_MAGIC, 2)
#define KPF_IOC_ARM		_IOW(KPF_IOC_MAGIC, 3, struct kpf_arm)
#define KPF_IOC_DISARM		_IO(KPF_IOC_MAGIC, 4)
/*
 * One-shot at an absolute CLOCK_MONOTONIC time in ns, passed by value as
 * the ioctl argument: KPF_IOC_ARM with KPF_ARM_ABSOLUTE, value_ns = arg
 * and no other field set, without a structure to copy (KPF_FEAT_ARM_AT).
 */
#define KPF_IOC_ARM_AT		_IO(KPF_IOC_MAGIC, 5)

/* @cmd with the structure size @size (a caller built for another version). */
#define KPF_IOC_SIZED(cmd, size) \
	(((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) | \
	 ((size) << _IOC_SIZESHIFT))

#endif /* _UAPI_LINUX_KPF_H */
