// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libset code generation: the per-function dispatch stubs and the
 * per-function entries of the first-call table, written at run time into
 * an executable mapping (W^X: written, then made read+exec).
 *
 * A dispatch stub is two instructions, 16 bytes, clobbering only r11 and
 * nothing else (not even flags):
 *
 *	mov  %fs:OFF, %r11	64 4c 8b 1c 25 <OFF:32>
 *	jmp  *8*id(%r11)	41 ff a3 <8*id:32>
 *
 * OFF is the thread-pointer offset of kpf_libset_cur (initial-exec TLS:
 * the same for every thread). Generated rather than assembled because a
 * shared object cannot use a %fs:sym@tpoff operand, and the number of
 * functions is only known at run time.
 *
 * An entry of an id-carrying table (first call, fallback) is
 *
 *	mov  $id, %r11d		41 bb <id:32>
 *	jmp  *common(%rip)	ff 25 <rel32>
 *
 * padded to 16 bytes; common is an 8-byte pointer at the start of the
 * mapping to the shared assembly entry (libset_x86_64.S).
 */
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "../internal.h"
#include "libset.h"
#include "libset_internal.h"

#define KPF_STUB_SIZE	16

/* thread pointer: the TLS block offsets are relative to it */
static uintptr_t kpf_thread_pointer(void)
{
	uintptr_t tp;

	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return tp;
}

static void kpf_put32(unsigned char *p, int32_t v)
{
	memcpy(p, &v, 4);
}

/* Map @size bytes read+write; kpf_libset_code_seal() makes it read+exec. */
static unsigned char *kpf_code_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static size_t kpf_code_size(unsigned int n, size_t head)
{
	return (head + (size_t)n * KPF_STUB_SIZE + 4095) & ~(size_t)4095;
}

/**
 * kpf_libset_make_dispatch() - generate @n dispatch stubs
 * @n: number of functions (ids 0..n-1)
 * @stubs: receives the address of stub i in stubs[i]
 *
 * Return: 0, -ENOMEM, or -ERANGE if kpf_libset_cur is not addressable
 * as a 32-bit thread-pointer offset (it always is for initial-exec TLS).
 */
int kpf_libset_make_dispatch(unsigned int n, void **stubs)
{
	intptr_t off = (intptr_t)((uintptr_t)&kpf_libset_cur -
				  kpf_thread_pointer());
	size_t size = kpf_code_size(n, 0);
	unsigned char *code, *p;
	unsigned int i;

	if (off < INT32_MIN || off > INT32_MAX)
		return -ERANGE;
	if ((uint64_t)n * 8 > INT32_MAX)
		return -ERANGE;
	code = kpf_code_map(size);
	if (!code)
		return -ENOMEM;
	memset(code, 0xcc, size);	/* int3 in the padding */
	for (i = 0; i < n; i++) {
		p = code + (size_t)i * KPF_STUB_SIZE;
		p[0] = 0x64;		/* %fs: */
		p[1] = 0x4c;		/* REX.W R */
		p[2] = 0x8b;		/* mov r/m64 -> r64 */
		p[3] = 0x1c;		/* modrm: r11, SIB */
		p[4] = 0x25;		/* SIB: disp32, no base or index */
		kpf_put32(p + 5, (int32_t)off);
		p[9] = 0x41;		/* REX.B */
		p[10] = 0xff;		/* jmp r/m64 (/4) */
		p[11] = 0xa3;		/* modrm: disp32(%r11) */
		kpf_put32(p + 12, (int32_t)(8 * i));
		stubs[i] = p;
	}
	if (mprotect(code, size, PROT_READ | PROT_EXEC)) {
		munmap(code, size);
		return -errno;
	}
	return 0;
}

/**
 * kpf_libset_make_entries() - generate @n id-carrying entries to @common
 * @n: number of functions
 * @common: assembly entry that receives the id in r11d
 * @table: receives the address of entry i in table[i]
 *
 * Return: 0 or -ENOMEM.
 */
int kpf_libset_make_entries(unsigned int n, void (*common)(void),
			    void **table)
{
	size_t size = kpf_code_size(n, KPF_STUB_SIZE);
	unsigned char *code, *p;
	unsigned int i;
	int32_t rel;

	code = kpf_code_map(size);
	if (!code)
		return -ENOMEM;
	memset(code, 0xcc, size);
	memcpy(code, &common, sizeof(common));
	for (i = 0; i < n; i++) {
		p = code + KPF_STUB_SIZE + (size_t)i * KPF_STUB_SIZE;
		p[0] = 0x41;		/* REX.B */
		p[1] = 0xbb;		/* mov imm32 -> r11d */
		kpf_put32(p + 2, (int32_t)i);
		p[6] = 0xff;		/* jmp *rel32(%rip) */
		p[7] = 0x25;
		rel = (int32_t)(code - (p + 12));
		kpf_put32(p + 8, rel);
		table[i] = p;
	}
	if (mprotect(code, size, PROT_READ | PROT_EXEC)) {
		munmap(code, size);
		return -errno;
	}
	return 0;
}
