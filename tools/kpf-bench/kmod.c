// SPDX-License-Identifier: GPL-2.0
/*
 * One /dev/kpf context for the calling thread: open, register the area,
 * kb_upcall_entry and an upcall stack; arm, disarm, and postpone the
 * deadline with a store. See Documentation/userspace-api/kpf.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
/* upcall_entry.S's offsets, checked against <linux/kpf.h> */
#include "kpf_frame_resume.h"

#define KB_UPCALL_STACK_SIZE	(64 * 1024)
#define KB_PAGE_SIZE		4096UL


/**
 * kb_kmod_available() - can this process use /dev/kpf?
 *
 * Return: 0, or -errno of opening /dev/kpf.
 */
int kb_kmod_available(void)
{
	int fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/**
 * kb_kmod_open() - open and register a context for the calling thread
 * @k: filled in
 *
 * Return: 0 or -errno.
 */
int kb_kmod_open(struct kpf_raw *k)
{
	return kpf_raw_open(k, kb_upcall_entry, KB_UPCALL_STACK_SIZE,
			    MAP_POPULATE);
}

/**
 * kb_kmod_close() - close the context and free its memory
 * @k: an opened (or partly opened) context
 */
void kb_kmod_close(struct kpf_raw *k)
{
	kpf_raw_close(k);
}

static int kb_kmod_arm(struct kpf_raw *k, uint32_t flags, uint64_t value,
		       uint64_t period)
{
	return kpf_raw_arm(k->fd, flags, value, period);
}

/**
 * kb_kmod_arm_abs() - one-shot upcall at a CLOCK_MONOTONIC time (ioctl)
 * @k: the context
 * @when_ns: the intended expiry
 *
 * Return: 0 or -errno.
 */
int kb_kmod_arm_abs(struct kpf_raw *k, uint64_t when_ns)
{
	return kb_kmod_arm(k, KPF_ARM_ABSOLUTE, when_ns, 0);
}

/**
 * kb_kmod_arm_periodic() - an upcall every @period_ns, from one period on
 * @k: the context
 * @period_ns: the period
 *
 * Return: 0 or -errno.
 */
int kb_kmod_arm_periodic(struct kpf_raw *k, uint64_t period_ns)
{
	return kb_kmod_arm(k, KPF_ARM_PERIODIC, 0, period_ns);
}

/**
 * kb_kmod_disarm() - stop the timer (ioctl)
 * @k: the context
 *
 * Return: 0 or -errno.
 */
int kb_kmod_disarm(struct kpf_raw *k)
{
	return kpf_raw_disarm(k->fd);
}

/**
 * kb_kmod_set_deadline() - move the deadline with a store, if that suffices
 * @k: the context
 * @when_ns: the new deadline
 *
 * The ABI's protocol: exchange the deadline (a full barrier), then look at
 * the expiry the timer is queued for.
 *
 * Return: true when the queued timer will find the new deadline by
 * itself; false when the caller must KPF_IOC_ARM (no timer queued, or
 * queued for later than @when_ns).
 */
bool kb_kmod_set_deadline(struct kpf_raw *k, uint64_t when_ns)
{
	return kpf_raw_set_deadline(k->area, when_ns);
}
