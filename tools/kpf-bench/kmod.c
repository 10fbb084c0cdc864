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
int kb_kmod_open(struct kb_kmod *k)
{
	struct kpf_register reg;
	int err;

	memset(k, 0, sizeof(*k));
	k->fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	k->area = mmap(NULL, KB_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	k->stack_size = KB_UPCALL_STACK_SIZE;
	k->stack = mmap(NULL, k->stack_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (k->area == MAP_FAILED || k->stack == MAP_FAILED) {
		err = -ENOMEM;
		goto fail;
	}
	k->area->size = sizeof(*k->area);
	memset(&reg, 0, sizeof(reg));
	reg.size = sizeof(reg);
	reg.area = (uintptr_t)k->area;
	reg.entry = (uintptr_t)kb_upcall_entry;
	reg.stack = (uintptr_t)k->stack;
	reg.stack_size = k->stack_size;
	if (ioctl(k->fd, KPF_IOC_REGISTER, &reg)) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	kb_kmod_close(k);
	return err;
}

/**
 * kb_kmod_close() - close the context and free its memory
 * @k: an opened (or partly opened) context
 */
void kb_kmod_close(struct kb_kmod *k)
{
	if (k->fd >= 0)
		close(k->fd);
	if (k->area && k->area != MAP_FAILED)
		munmap(k->area, KB_PAGE_SIZE);
	if (k->stack && k->stack != MAP_FAILED)
		munmap(k->stack, k->stack_size);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

static int kb_kmod_arm(struct kb_kmod *k, uint32_t flags, uint64_t value,
		       uint64_t period)
{
	struct kpf_arm arm;

	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = flags;
	arm.value_ns = value;
	arm.period_ns = period;
	return ioctl(k->fd, KPF_IOC_ARM, &arm) ? -errno : 0;
}

/**
 * kb_kmod_arm_abs() - one-shot upcall at a CLOCK_MONOTONIC time (ioctl)
 * @k: the context
 * @when_ns: the intended expiry
 *
 * Return: 0 or -errno.
 */
int kb_kmod_arm_abs(struct kb_kmod *k, uint64_t when_ns)
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
int kb_kmod_arm_periodic(struct kb_kmod *k, uint64_t period_ns)
{
	return kb_kmod_arm(k, KPF_ARM_PERIODIC, 0, period_ns);
}

/**
 * kb_kmod_disarm() - stop the timer (ioctl)
 * @k: the context
 *
 * Return: 0 or -errno.
 */
int kb_kmod_disarm(struct kb_kmod *k)
{
	return ioctl(k->fd, KPF_IOC_DISARM, 0) ? -errno : 0;
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
bool kb_kmod_set_deadline(struct kb_kmod *k, uint64_t when_ns)
{
	uint64_t armed;

	__atomic_exchange_n(&k->area->deadline_ns, when_ns, __ATOMIC_SEQ_CST);
	armed = READ_ONCE(k->area->armed_ns);
	return armed != 0 && armed <= when_ns;
}
