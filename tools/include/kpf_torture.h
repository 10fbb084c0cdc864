/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * The register torture loop (kpf_torture_x86_64.S next to this file): the
 * one exact-resume workload of libkpf's tests (tests/: launches, nesting,
 * migration) and of the module's selftests (selftests/kpf_resume: raw
 * periodic upcalls).
 */
#ifndef KPF_TORTURE_H
#define KPF_TORTURE_H

#include <cpuid.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct torture_state {
	uint64_t gpr[15];
	uint64_t flags;
	uint32_t mxcsr;
	uint16_t fcw;
	uint16_t pad0;
	uint64_t red;
	uint8_t pad1[192 - 144];
	uint8_t vec[16][32];
	uint8_t zmm[16][64];
	uint64_t k[2];
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct torture_state, flags) == 120, "layout");
_Static_assert(offsetof(struct torture_state, red) == 136, "layout");
_Static_assert(offsetof(struct torture_state, vec) == 192, "layout");
_Static_assert(offsetof(struct torture_state, zmm) == 704, "layout");
_Static_assert(offsetof(struct torture_state, k) == 1728, "layout");

void torture_run(struct torture_state *st, uint64_t iters, int mode);

static inline uint64_t torture_splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Deterministic initial state for @seed, round-toward-zero MXCSR. */
static inline void torture_init(struct torture_state *st, uint64_t seed)
{
	uint64_t *w = (uint64_t *)st;
	double three = 3.0;
	size_t i;

	for (i = 0; i < sizeof(*st) / 8; i++)
		w[i] = torture_splitmix(&seed);
	st->flags = seed & 1;			/* CF */
	st->mxcsr = 0x7f80 | 0x8000;		/* round toward zero, FTZ */
	st->fcw = 0x0f7f;			/* x87 round toward zero */
	st->pad0 = 0;
	st->red = 0;
	memset(st->pad1, 0, sizeof(st->pad1));
	memcpy(st->vec[15], &three, 8);		/* the divisor */
	memcpy(st->vec[15] + 8, &three, 8);
}

/* 0 = xmm, 1 = ymm (AVX), 2 = zmm16-31 + k regs (AVX-512F/BW). */
static inline int torture_cpu_mode(void)
{
	unsigned int a, b, c, d;
	uint32_t lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) ||
	    !(c & bit_AVX))
		return 0;
	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	if ((b & bit_AVX512F) && (b & bit_AVX512BW) && (lo & 0xe6) == 0xe6)
		return 2;
	return 1;
}

#endif /* KPF_TORTURE_H */
