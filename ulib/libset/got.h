/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GOT walker: the loaded objects of the process, their function GOT slots
 * (JUMP_SLOT and GLOB_DAT of function symbols), what each slot points at,
 * and a RELRO-safe way to rewrite one. Shared by automatic deferral
 * (defer_auto.c) and libsets (libset*.c).
 */
#ifndef KPF_LIBSET_GOT_H
#define KPF_LIBSET_GOT_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"

#define KPF_GOT_MAX_LOADS	8

/**
 * struct kpf_got_object - one loaded ELF object, as dl_iterate_phdr saw it
 * @name:	dlpi_name; "" for the main program.
 * @soname:	DT_SONAME, or NULL.
 * @runpath:	DT_RUNPATH, else DT_RPATH, or NULL.
 * @base:	load bias (dlpi_addr).
 * @nloads:	number of PT_LOAD ranges in @load_lo/@load_hi.
 * @load_lo:	start of each PT_LOAD segment (relocated).
 * @load_hi:	end of each PT_LOAD segment (relocated, exclusive).
 * @relro_lo:	the pages of PT_GNU_RELRO that ld.so made read-only (start
 *		and end rounded down, as ld.so does), or 0/0.
 * @relro_hi:	its end.
 * @symtab:	DT_SYMTAB.
 * @strtab:	DT_STRTAB.
 * @versym:	DT_VERSYM, or NULL.
 * @verneed:	DT_VERNEED, or NULL.
 * @nverneed:	DT_VERNEEDNUM.
 * @jmprel:	DT_JMPREL (Elf64_Rela), or NULL.
 * @njmprel:	its entries.
 * @rela:	DT_RELA, or NULL.
 * @nrela:	its entries.
 * @adds:	dlpi_adds when this was read (identifies a load generation).
 * @phdr:	its program headers (in its own memory) ...
 * @phnum:	... and their number.
 */
struct kpf_got_object {
	const char *name;
	const char *soname;
	const char *runpath;
	uintptr_t base;
	unsigned int nloads;
	uintptr_t load_lo[KPF_GOT_MAX_LOADS];
	uintptr_t load_hi[KPF_GOT_MAX_LOADS];
	uintptr_t relro_lo;
	uintptr_t relro_hi;
	const ElfW(Sym) *symtab;
	const char *strtab;
	const ElfW(Half) *versym;
	const ElfW(Verneed) *verneed;
	size_t nverneed;
	const ElfW(Rela) *jmprel;
	size_t njmprel;
	const ElfW(Rela) *rela;
	size_t nrela;
	unsigned long long adds;
	const ElfW(Phdr) *phdr;
	unsigned int phnum;
};

/**
 * struct kpf_got_slot - one function GOT slot of an object
 * @addr:	the slot in memory.
 * @name:	symbol name.
 * @version:	symbol version required (DT_VERNEED), or NULL.
 * @rtype:	R_X86_64_JUMP_SLOT or R_X86_64_GLOB_DAT.
 * @stype:	ELF symbol type: STT_FUNC, STT_GNU_IFUNC or STT_NOTYPE
 *		(an undefined JUMP_SLOT symbol may carry no type).
 * @value:	what the slot holds now (may be a lazy PLT address: see
 *		kpf_got_slot_target()).
 * @defined:	the object defines the symbol itself (st_shndx set).
 */
struct kpf_got_slot {
	void **addr;
	const char *name;
	const char *version;
	unsigned int rtype;
	unsigned int stype;
	void *value;
	int defined;
};

/* Return non-zero from a callback to stop the walk with that value. */
typedef int (*kpf_got_object_fn)(const struct kpf_got_object *obj,
				 void *arg);
typedef int (*kpf_got_slot_fn)(const struct kpf_got_object *obj,
			       const struct kpf_got_slot *slot, void *arg);

KPF_HIDDEN int kpf_got_read_object(const struct dl_phdr_info *info,
				   struct kpf_got_object *obj);
KPF_HIDDEN int kpf_got_for_each_object(kpf_got_object_fn fn, void *arg);
KPF_HIDDEN int kpf_got_for_each_object_in(void *handle, kpf_got_object_fn fn,
					  void *arg);
KPF_HIDDEN int kpf_got_for_each_pointer(const struct kpf_got_object *obj,
					kpf_got_slot_fn fn, void *arg);
KPF_HIDDEN int kpf_got_for_each_slot(const struct kpf_got_object *obj,
				     kpf_got_slot_fn fn, void *arg);
KPF_HIDDEN int kpf_got_contains(const struct kpf_got_object *obj,
				uintptr_t addr);
KPF_HIDDEN void *kpf_got_slot_target(const struct kpf_got_object *obj,
				     const struct kpf_got_slot *slot);
KPF_HIDDEN int kpf_got_write(const struct kpf_got_object *obj, void **slot,
			     void *value);
KPF_HIDDEN int kpf_got_owner(uintptr_t addr, struct kpf_got_object *obj);
KPF_HIDDEN int kpf_got_is_named(const struct kpf_got_object *obj,
				const char *soname);
KPF_HIDDEN unsigned long long kpf_got_generation(void);

#endif /* KPF_LIBSET_GOT_H */
