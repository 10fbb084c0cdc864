// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Extended register state: which components a preemption must save and
 * how big the image is.
 *
 * fxsave alone would lose the upper halves of the ymm/zmm registers, so
 * when the OS enabled XSAVE we save every user component XCR0 enables,
 * with the size CPUID leaf 0xD reports for them. AMX tile data is left
 * out: it needs a per-process permission and is 8 KiB per task.
 */
#include <cpuid.h>
#include <stdint.h>

#include "internal.h"

#define KPF_XFEATURE_AMX	((1ull << 17) | (1ull << 18))

uint32_t kpf_xsave_mask_lo;
uint32_t kpf_xsave_mask_hi;
uint32_t kpf_xsave_mode;
uint32_t kpf_xsave_size = 512;

static uint64_t kpf_xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/**
 * kpf_xstate_init() - detect xsave support, the component mask and size
 *
 * Sets kpf_xsave_mode (1 = xsave/xrstor, 0 = fxsave/fxrstor),
 * kpf_xsave_mask_{lo,hi} and kpf_xsave_size (bytes, standard format).
 */
void kpf_xstate_init(void)
{
	unsigned int eax, ebx, ecx, edx, i;
	uint64_t mask;
	uint32_t size = 512 + 64;	/* legacy area + xsave header */

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) {
		kpf_xsave_mode = 0;
		kpf_xsave_size = 512;
		return;
	}
	mask = kpf_xgetbv0() & ~KPF_XFEATURE_AMX;
	for (i = 2; i < 63; i++) {
		if (!(mask & (1ull << i)))
			continue;
		__cpuid_count(0xd, i, eax, ebx, ecx, edx);
		/* ecx bit 0: supervisor component, not in XCR0's world */
		if (ebx + eax > size)
			size = ebx + eax;
	}
	kpf_xsave_mask_lo = (uint32_t)mask;
	kpf_xsave_mask_hi = (uint32_t)(mask >> 32);
	kpf_xsave_size = (size + 63) & ~63u;
	kpf_xsave_mode = 1;
}
