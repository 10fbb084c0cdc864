// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kmod backend: upcalls from kpf.ko through /dev/kpf.
 *
 * Each thread opens /dev/kpf on first use and registers its kpf_area (at
 * the start of its page-aligned struct kpf_thread), kpf_upcall_entry and
 * its upcall stack. Arming is normally a store into area->deadline_ns
 * (kpf_arm_deadline() in internal.h); only when no expiry is queued, or the queued
 * one is later than the new deadline, do we call KPF_IOC_ARM. The kernel
 * delivers without signals, so blocking system calls are not interrupted.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

static int kpf_kmod_open(void)
{
	return open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/**
 * kpf_kmod_process_init() - check that /dev/kpf is usable
 * @forced: the kmod backend was asked for explicitly (report why not)
 *
 * Return: 0, or -ENODEV if the device is missing or speaks another ABI.
 */
int kpf_kmod_process_init(int forced)
{
	struct kpf_info info;
	const char *why = NULL;
	int fd, err = 0;

	fd = kpf_kmod_open();
	if (fd < 0) {
		err = errno;
		why = "cannot open " KPF_DEVICE_PATH;
		goto fail;
	}
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	if (ioctl(fd, KPF_IOC_INFO, &info)) {
		err = errno;
		why = "KPF_IOC_INFO failed";
	} else if (info.abi_version != KPF_ABI_VERSION) {
		why = "unknown ABI version";
	} else if ((info.features & (KPF_FEAT_ONESHOT |
				     KPF_FEAT_AREA_DEADLINE |
				     KPF_FEAT_DEFER)) !=
		   (KPF_FEAT_ONESHOT | KPF_FEAT_AREA_DEADLINE |
		    KPF_FEAT_DEFER)) {
		why = "module lacks one-shot, area deadline or defer";
	}
	close(fd);
	if (!why) {
		kpf_g.kmod_min_ns = info.min_period_ns;
		kpf_g.kmod_linger = !!(info.features & KPF_FEAT_LINGER);
		kpf_g.kmod_arm_at = !!(info.features & KPF_FEAT_ARM_AT);
		return 0;
	}
fail:
	if (forced)
		fprintf(stderr,
			"kpf: KPF_BACKEND=kmod but the kernel module is not usable: %s%s%s (is kpf.ko loaded?)\n",
			why, err ? ": " : "", err ? strerror(err) : "");
	return -ENODEV;
}

/**
 * kpf_kmod_thread_init() - open and register the calling thread's context
 * @self: calling thread
 *
 * Return: 0 or -errno.
 */
int kpf_kmod_thread_init(struct kpf_thread *self)
{
	struct kpf_register reg;
	int fd, err;

	fd = kpf_kmod_open();
	if (fd < 0)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.size = sizeof(reg);
	reg.area = (uintptr_t)&self->area;
	reg.entry = (uintptr_t)kpf_upcall_entry;
	/* the usable part: the module checks that it is writable */
	reg.stack = (uintptr_t)self->upcall_map + self->upcall_guard;
	reg.stack_size = self->upcall_map_size - self->upcall_guard;
	self->area.size = sizeof(self->area);
	if (ioctl(fd, KPF_IOC_REGISTER, &reg)) {
		err = -errno;
		close(fd);
		return err;
	}
	self->kmod_fd = fd;
	return 0;
}

/**
 * kpf_kmod_thread_exit() - unregister and close at thread exit
 * @self: the exiting thread
 */
void kpf_kmod_thread_exit(struct kpf_thread *self)
{
	if (self->kmod_fd < 0)
		return;
	ioctl(self->kmod_fd, KPF_IOC_UNREGISTER);
	close(self->kmod_fd);
	self->kmod_fd = -1;
}

/**
 * kpf_kmod_arm() - queue the kernel timer for @deadline
 * @self: calling thread
 * @deadline: absolute CLOCK_MONOTONIC ns, non-zero
 *
 * Called by kpf_arm_deadline() only when no expiry is queued or the queued one is
 * later than @deadline. task.c never asks for more than
 * KPF_MAX_DEADLINE (KTIME_MAX) and the module moves a deadline closer
 * than its minimum distance out to that distance itself, so a refusal
 * means the budget cannot be enforced: abort with the reason.
 */
void kpf_kmod_arm(struct kpf_thread *self, uint64_t deadline)
{
	struct kpf_arm arm;

	self->stats.arm_syscalls++;
	/* the argument by value: no structure for the kernel to read */
	if (!self->linger_max && kpf_g.kmod_arm_at) {
		if (ioctl(self->kmod_fd, KPF_IOC_ARM_AT, deadline))
			kpf_die("KPF_IOC_ARM_AT(%llu) failed: %s: cannot enforce the budget",
				(unsigned long long)deadline, strerror(errno));
		return;
	}
	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = KPF_ARM_ABSOLUTE;
	arm.value_ns = deadline;
	if (self->linger_max) {
		arm.flags |= KPF_ARM_LINGER;
		arm.linger_ns = self->linger_ns;
		arm.linger_max = self->linger_max;
	}
	if (ioctl(self->kmod_fd, KPF_IOC_ARM, &arm))
		kpf_die("KPF_IOC_ARM(%llu) failed: %s: cannot enforce the budget",
			(unsigned long long)deadline, strerror(errno));
}

/**
 * kpf_thread_linger() - keep the thread's timer queued while idle; see <kpf.h>
 */
KPF_EXPORT int kpf_thread_linger(uint64_t linger_ns, unsigned int count)
{
	struct kpf_thread *self;
	int err;

	if (!linger_ns != !count || count > KPF_MAX_LINGER ||
	    linger_ns > KPF_MAX_PERIOD_NS)
		return -EINVAL;
	err = kpf_ensure_init();
	if (err)
		return err;
	if (kpf_g.backend != KPF_BACKEND_KMOD || !kpf_g.kmod_linger)
		return -EOPNOTSUPP;
	if (linger_ns && linger_ns < kpf_g.kmod_min_ns)
		return -EINVAL;
	self = kpf_thread_self();
	if (!self)
		return -errno;
	self->linger_ns = linger_ns;
	self->linger_max = count;
	return 0;
}
