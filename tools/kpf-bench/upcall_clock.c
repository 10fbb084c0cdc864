// SPDX-License-Identifier: GPL-2.0
/*
 * A clock the upcall entry may read.
 *
 * The upcall runs with the interrupted code's FPU/SSE state still live in
 * the registers, so nothing it calls may touch them. This file is built
 * with -mgeneral-regs-only and calls the kernel's vDSO directly (kernel
 * code, built without FPU/SSE), found by walking the vDSO's ELF symbol
 * table, instead of glibc's clock_gettime(). Without a vDSO it falls back
 * to the system call.
 */
#include <elf.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "bench.h"

typedef int (*kb_vdso_gettime_fn)(clockid_t clk, struct timespec *ts);

static kb_vdso_gettime_fn kb_vdso_gettime;

static int kb_raw_clock_gettime(clockid_t clk, struct timespec *ts)
{
	long ret;

	asm volatile ("syscall"
		      : "=a" (ret)
		      : "0" ((long)SYS_clock_gettime), "D" ((long)clk), "S" (ts)
		      : "rcx", "r11", "memory");
	return (int)ret;
}

static bool kb_streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* the dynamic symbol @name of the ELF image mapped at @base, or NULL */
static void *kb_vdso_sym(unsigned long base, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	const Elf64_Sym *sym = NULL;
	const Elf32_Word *hash = NULL;
	const char *str = NULL;
	unsigned long bias = 0;
	bool have_load = false;
	Elf32_Word i;
	int p;

	for (p = 0; p < eh->e_phnum; p++) {
		if (ph[p].p_type == PT_LOAD && !have_load) {
			bias = base + ph[p].p_offset - ph[p].p_vaddr;
			have_load = true;
		} else if (ph[p].p_type == PT_DYNAMIC) {
			dyn = (const Elf64_Dyn *)(base + ph[p].p_offset);
		}
	}
	if (!dyn || !have_load)
		return NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			sym = (const Elf64_Sym *)(bias + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_STRTAB)
			str = (const char *)(bias + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_HASH)
			hash = (const Elf32_Word *)(bias + dyn->d_un.d_ptr);
	}
	if (!sym || !str || !hash)
		return NULL;
	/* DT_HASH: nbucket, nchain; nchain is the number of symbols */
	for (i = 0; i < hash[1]; i++) {
		if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC ||
		    sym[i].st_shndx == SHN_UNDEF)
			continue;
		if (kb_streq(str + sym[i].st_name, name))
			return (void *)(bias + sym[i].st_value);
	}
	return NULL;
}

/**
 * kb_upcall_clock_init() - find the vDSO's clock_gettime
 */
void kb_upcall_clock_init(void)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);

	if (base)
		kb_vdso_gettime = (kb_vdso_gettime_fn)
			kb_vdso_sym(base, "__vdso_clock_gettime");
}

/**
 * kb_upcall_now_ns() - CLOCK_MONOTONIC without touching FPU/SSE state
 *
 * Return: the time in nanoseconds.
 */
uint64_t kb_upcall_now_ns(void)
{
	struct timespec ts;

	if (kb_vdso_gettime)
		kb_vdso_gettime(CLOCK_MONOTONIC, &ts);
	else
		kb_raw_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}
