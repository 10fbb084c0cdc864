// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * GOT walker: enumerate the loaded objects, their function GOT slots and
 * where those point, and rewrite a slot (see got.h).
 *
 * The objects are copied out of dl_iterate_phdr() first and looked at
 * after it returns: the callback runs under the loader's write lock, and
 * resolving a lazy slot (dlsym) takes the load lock, which a concurrent
 * dlopen() holds while it waits for the write lock.
 *
 * d_ptr entries of .dynamic are relocated in place by ld.so for ordinary
 * objects but not for the vDSO: a value below the load bias is taken as
 * unrelocated.
 *
 * dlsym/dlvsym are weak references, so a static program that links
 * libkpf.a does not pull in the static dlopen machinery; it has no GOT to
 * rewrite anyway.
 */
#include <dlfcn.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "got.h"

extern __typeof__(dlsym) dlsym __attribute__((weak));
extern __typeof__(dlvsym) dlvsym __attribute__((weak));
extern __typeof__(dlinfo) dlinfo __attribute__((weak));

static uintptr_t kpf_got_ptr(const struct kpf_got_object *obj, uintptr_t p)
{
	return p < obj->base ? p + obj->base : p;
}

/**
 * kpf_got_read_object() - decode one dl_iterate_phdr() entry
 * @info: the entry
 * @obj: filled in (pointers into the object's own memory)
 *
 * Return: 0, or -ENOENT for an object without a dynamic section (the
 * main program of a static link).
 */
int kpf_got_read_object(const struct dl_phdr_info *info,
			struct kpf_got_object *obj)
{
	const ElfW(Dyn) *dyn = NULL, *d;
	size_t pltrelsz = 0, relasz = 0;
	uintptr_t soname_off = 0, runpath_off = 0, rpath_off = 0, lo, hi;
	long page = sysconf(_SC_PAGESIZE);
	int i;

	memset(obj, 0, sizeof(*obj));
	obj->name = info->dlpi_name ? info->dlpi_name : "";
	obj->base = info->dlpi_addr;
	obj->adds = info->dlpi_adds;
	obj->phdr = info->dlpi_phdr;
	obj->phnum = info->dlpi_phnum;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		lo = info->dlpi_addr + ph->p_vaddr;
		hi = lo + ph->p_memsz;
		if (ph->p_type == PT_LOAD && obj->nloads < KPF_GOT_MAX_LOADS) {
			obj->load_lo[obj->nloads] = lo;
			obj->load_hi[obj->nloads++] = hi;
		} else if (ph->p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)lo;
		} else if (ph->p_type == PT_GNU_RELRO) {
			/* the pages ld.so made read-only (_dl_protect_relro) */
			obj->relro_lo = lo & ~(uintptr_t)(page - 1);
			obj->relro_hi = hi & ~(uintptr_t)(page - 1);
		}
	}
	if (!dyn)
		return -ENOENT;
	for (d = dyn; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB:
			obj->symtab = (const void *)kpf_got_ptr(obj, d->d_un.d_ptr);
			break;
		case DT_STRTAB:
			obj->strtab = (const void *)kpf_got_ptr(obj, d->d_un.d_ptr);
			break;
		case DT_VERSYM:
			obj->versym = (const void *)kpf_got_ptr(obj, d->d_un.d_ptr);
			break;
		case DT_VERNEED:
			obj->verneed = (const void *)kpf_got_ptr(obj, d->d_un.d_ptr);
			break;
		case DT_VERNEEDNUM:
			obj->nverneed = d->d_un.d_val;
			break;
		case DT_JMPREL:
			obj->jmprel = (const void *)kpf_got_ptr(obj, d->d_un.d_ptr);
			break;
		case DT_PLTRELSZ:
			pltrelsz = d->d_un.d_val;
			break;
		case DT_RELA:
			obj->rela = (const void *)kpf_got_ptr(obj, d->d_un.d_ptr);
			break;
		case DT_RELASZ:
			relasz = d->d_un.d_val;
			break;
		case DT_SONAME:
			soname_off = d->d_un.d_val;
			break;
		case DT_RUNPATH:
			runpath_off = d->d_un.d_val;
			break;
		case DT_RPATH:
			rpath_off = d->d_un.d_val;
			break;
		}
	}
	if (!obj->symtab || !obj->strtab) {
		obj->jmprel = NULL;
		obj->rela = NULL;
		return 0;
	}
	if (soname_off)
		obj->soname = obj->strtab + soname_off;
	if (runpath_off || rpath_off)
		obj->runpath = obj->strtab + (runpath_off ?: rpath_off);
	if (obj->jmprel)
		obj->njmprel = pltrelsz / sizeof(ElfW(Rela));
	if (obj->rela)
		obj->nrela = relasz / sizeof(ElfW(Rela));
	return 0;
}

struct kpf_got_list {
	struct kpf_got_object *v;
	size_t n, cap;
	int err;
};

static int kpf_got_collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct kpf_got_list *l = arg;
	struct kpf_got_object *grown;

	if (l->n == l->cap) {
		grown = realloc(l->v, (l->cap ? 2 * l->cap : 16) * sizeof(*grown));
		if (!grown) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = grown;
		l->cap = l->cap ? 2 * l->cap : 16;
	}
	if (!kpf_got_read_object(info, &l->v[l->n]))
		l->n++;
	return 0;
}

/**
 * kpf_got_for_each_object() - call @fn for every loaded object with a
 *	dynamic section, in load order (the main program first)
 * @fn: callback; a non-zero return stops the walk
 * @arg: its argument
 *
 * @fn runs outside dl_iterate_phdr(), so it may call dlsym() or write
 * slots; it must not dlclose() objects still to be visited.
 *
 * Only the namespace of libkpf (the base one) is visited: glibc's
 * dl_iterate_phdr() reports the caller's namespace. Copies loaded with
 * dlmopen() are reached from their handles (dlinfo RTLD_DI_LINKMAP) and
 * kpf_got_read_object() on their program headers.
 *
 * Return: the first non-zero value of @fn, 0, or -ENOMEM.
 */
int kpf_got_for_each_object(kpf_got_object_fn fn, void *arg)
{
	struct kpf_got_list l = { 0 };
	size_t i;
	int ret;

	dl_iterate_phdr(kpf_got_collect, &l);
	ret = l.err;
	for (i = 0; !ret && i < l.n; i++)
		ret = fn(&l.v[i], arg);
	free(l.v);
	return ret;
}

/*
 * The program headers of a loaded object from its link_map: the ELF header
 * is mapped at the load bias (the first PT_LOAD of a shared object starts
 * at offset and address 0).
 */
static int kpf_got_info_from_map(const struct link_map *map,
				 struct dl_phdr_info *info)
{
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)map->l_addr;

	if (!map->l_addr || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_phentsize != sizeof(ElfW(Phdr)))
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	info->dlpi_addr = map->l_addr;
	info->dlpi_name = map->l_name;
	info->dlpi_phdr = (const ElfW(Phdr) *)(map->l_addr + eh->e_phoff);
	info->dlpi_phnum = eh->e_phnum;
	return 0;
}

/**
 * kpf_got_for_each_object_in() - kpf_got_for_each_object() for the
 *	namespace (dlmopen) of @handle
 * @handle: a dlopen()/dlmopen() handle
 * @fn: callback; a non-zero return stops the walk
 * @arg: its argument
 *
 * dl_iterate_phdr() only reports the caller's namespace (measured: a
 * dlmopen()ed copy is not listed), so this walks the namespace's link_map
 * chain and reads each object's program headers from its ELF header.
 * Objects without one at their load bias are skipped.
 *
 * Return: the first non-zero value of @fn, 0, -ENOENT (bad handle) or
 * -ENOMEM.
 */
int kpf_got_for_each_object_in(void *handle, kpf_got_object_fn fn, void *arg)
{
	struct kpf_got_list l = { 0 };
	struct dl_phdr_info info;
	struct link_map *map;
	size_t i;
	int ret;

	if (!dlinfo || dlinfo(handle, RTLD_DI_LINKMAP, &map) || !map)
		return -ENOENT;
	while (map->l_prev)
		map = map->l_prev;
	for (; map; map = map->l_next) {
		if (kpf_got_info_from_map(map, &info))
			continue;
		if (kpf_got_collect(&info, sizeof(info), &l))
			break;
	}
	ret = l.err;
	for (i = 0; !ret && i < l.n; i++)
		ret = fn(&l.v[i], arg);
	free(l.v);
	return ret;
}

static const char *kpf_got_version(const struct kpf_got_object *obj,
				   size_t symidx)
{
	const ElfW(Verneed) *vn = obj->verneed;
	const ElfW(Vernaux) *va;
	unsigned int want, i, j;

	if (!obj->versym || !vn)
		return NULL;
	want = obj->versym[symidx] & 0x7fff;
	if (want < 2)
		return NULL;
	for (i = 0; i < obj->nverneed; i++) {
		va = (const void *)((const char *)vn + vn->vn_aux);
		for (j = 0; j < vn->vn_cnt; j++) {
			if (va->vna_other == want)
				return obj->strtab + va->vna_name;
			va = (const void *)((const char *)va + va->vna_next);
		}
		if (!vn->vn_next)
			break;
		vn = (const void *)((const char *)vn + vn->vn_next);
	}
	return NULL;
}

static int kpf_got_walk(const struct kpf_got_object *obj,
			const ElfW(Rela) *r, size_t n, kpf_got_slot_fn fn,
			void *arg, int data)
{
	struct kpf_got_slot s;
	const ElfW(Sym) *sym;
	size_t i, symidx;
	int ret;

	for (i = 0; i < n; i++) {
		s.rtype = ELF64_R_TYPE(r[i].r_info);
		symidx = ELF64_R_SYM(r[i].r_info);
		if (s.rtype != R_X86_64_JUMP_SLOT &&
		    s.rtype != R_X86_64_GLOB_DAT &&
		    !(data && s.rtype == R_X86_64_64 && !r[i].r_addend))
			continue;
		if (!symidx)
			continue;
		sym = &obj->symtab[symidx];
		s.stype = ELF64_ST_TYPE(sym->st_info);
		/* GLOB_DAT also serves data: only typed functions */
		if (!data && s.rtype == R_X86_64_GLOB_DAT &&
		    s.stype != STT_FUNC && s.stype != STT_GNU_IFUNC)
			continue;
		if (s.rtype == R_X86_64_JUMP_SLOT && s.stype != STT_FUNC &&
		    s.stype != STT_GNU_IFUNC && s.stype != STT_NOTYPE)
			continue;
		s.addr = (void **)(obj->base + r[i].r_offset);
		s.name = obj->strtab + sym->st_name;
		s.version = kpf_got_version(obj, symidx);
		s.value = __atomic_load_n(s.addr, __ATOMIC_RELAXED);
		s.defined = sym->st_shndx != SHN_UNDEF;
		ret = fn(obj, &s, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * kpf_got_for_each_slot() - call @fn for every function GOT slot of @obj
 * @obj: from kpf_got_for_each_object() or kpf_got_read_object()
 * @fn: callback; a non-zero return stops the walk
 * @arg: its argument
 *
 * Visits the JUMP_SLOT relocations (DT_JMPREL) and the GLOB_DAT ones of
 * function symbols (DT_RELA; -fno-plt calls and function pointers).
 *
 * Return: the first non-zero value of @fn, or 0.
 */
int kpf_got_for_each_slot(const struct kpf_got_object *obj,
			  kpf_got_slot_fn fn, void *arg)
{
	int ret;

	ret = kpf_got_walk(obj, obj->jmprel, obj->njmprel, fn, arg, 0);
	if (!ret)
		ret = kpf_got_walk(obj, obj->rela, obj->nrela, fn, arg, 0);
	return ret;
}

/**
 * kpf_got_for_each_pointer() - call @fn for every relocated pointer of
 *	@obj that names a symbol
 * @obj: from kpf_got_for_each_object() or kpf_got_read_object()
 * @fn: callback; a non-zero return stops the walk
 * @arg: its argument
 *
 * Like kpf_got_for_each_slot(), plus GLOB_DAT slots of any symbol type and
 * the R_X86_64_64 data relocations without addend (a table of function
 * pointers in data, such as SQLite's aSyscall[]): @fn decides by the
 * value which of them point at functions. slot->rtype tells them apart.
 *
 * Return: the first non-zero value of @fn, or 0.
 */
int kpf_got_for_each_pointer(const struct kpf_got_object *obj,
			     kpf_got_slot_fn fn, void *arg)
{
	int ret;

	ret = kpf_got_walk(obj, obj->jmprel, obj->njmprel, fn, arg, 1);
	if (!ret)
		ret = kpf_got_walk(obj, obj->rela, obj->nrela, fn, arg, 1);
	return ret;
}

/**
 * kpf_got_contains() - whether @addr lies in one of @obj's PT_LOAD segments
 * @obj: the object
 * @addr: an address
 *
 * Return: 1 or 0.
 */
int kpf_got_contains(const struct kpf_got_object *obj, uintptr_t addr)
{
	unsigned int i;

	for (i = 0; i < obj->nloads; i++)
		if (addr >= obj->load_lo[i] && addr < obj->load_hi[i])
			return 1;
	return 0;
}

static void *kpf_got_lookup(void *handle, const struct kpf_got_slot *slot)
{
	void *p = NULL;

	if (slot->version && dlvsym)
		p = dlvsym(handle, slot->name, slot->version);
	if (!p && dlsym)
		p = dlsym(handle, slot->name);
	return p;
}

struct kpf_got_def {
	const struct kpf_got_object *user;
	const struct kpf_got_slot *slot;
	void *found;
	/* not named directly: see kpf_got_slot_target() */
	void *(*dlopen)(const char *file, int mode);
	int (*dlclose)(void *h);
};

/* The first object after the main program that defines the symbol. */
static int kpf_got_def_in(const struct kpf_got_object *obj, void *arg)
{
	struct kpf_got_def *d = arg;
	void *h, *p;

	if (!*obj->name || obj->base == d->user->base)
		return 0;
	h = d->dlopen(obj->name, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return 0;
	p = kpf_got_lookup(h, d->slot);
	d->dlclose(h);
	if (!p || !kpf_got_contains(obj, (uintptr_t)p))
		return 0;
	d->found = p;
	return 1;
}

/**
 * kpf_got_slot_target() - the function a slot calls
 * @obj: the slot's object
 * @slot: the slot
 *
 * A lazily bound JUMP_SLOT that was never called still points into the
 * object's own PLT: it is resolved as ld.so would, by name and version in
 * the global scope (dlvsym, else dlsym). When that answers with an address
 * in the object itself although the object does not define the symbol,
 * it is the canonical PLT entry of a non-PIE program that takes the
 * function's address; ld.so binds the PLT slot past it, and so do we, to
 * the first later object that defines the symbol.
 *
 * Return: the target, or NULL if it cannot be resolved (undefined weak,
 * or a static program).
 */
void *kpf_got_slot_target(const struct kpf_got_object *obj,
			  const struct kpf_got_slot *slot)
{
	struct kpf_got_def d = { .user = obj, .slot = slot };
	void *p;

	if (slot->value && (slot->rtype != R_X86_64_JUMP_SLOT ||
			    !kpf_got_contains(obj, (uintptr_t)slot->value)))
		return slot->value;
	p = kpf_got_lookup(RTLD_DEFAULT, slot);
	if (p && !slot->defined && kpf_got_contains(obj, (uintptr_t)p)) {
		/*
		 * dlopen/dlclose through dlsym: a direct reference would pull
		 * the static dlopen machinery into static programs.
		 */
		p = NULL;
		d.dlopen = (__typeof__(d.dlopen))dlsym(RTLD_DEFAULT, "dlopen");
		d.dlclose = (__typeof__(d.dlclose))dlsym(RTLD_DEFAULT,
							 "dlclose");
		if (d.dlopen && d.dlclose &&
		    kpf_got_for_each_object(kpf_got_def_in, &d) > 0)
			p = d.found;
	}
	return p;
}

/**
 * kpf_got_write() - store @value into @slot, even in a RELRO page
 * @obj: the slot's object
 * @slot: address of the slot
 * @value: new content
 *
 * A slot in PT_GNU_RELRO (full RELRO, GLOB_DAT) is made writable for the
 * store and read-only again. The store itself is atomic, so a thread
 * calling through the slot at the same time sees the old or the new
 * target.
 *
 * Return: 0, -EINVAL if @slot is not in @obj, or -errno of mprotect().
 */
int kpf_got_write(const struct kpf_got_object *obj, void **slot, void *value)
{
	uintptr_t a = (uintptr_t)slot;
	long page = sysconf(_SC_PAGESIZE);
	void *pg = (void *)(a & ~(uintptr_t)(page - 1));
	int relro = a >= obj->relro_lo && a < obj->relro_hi;

	if (!kpf_got_contains(obj, a) || (a & 7))
		return -EINVAL;
	if (relro && mprotect(pg, page, PROT_READ | PROT_WRITE))
		return -errno;
	__atomic_store_n(slot, value, __ATOMIC_RELEASE);
	if (relro && mprotect(pg, page, PROT_READ))
		return -errno;
	return 0;
}

struct kpf_got_find {
	uintptr_t addr;
	struct kpf_got_object *out;
};

static int kpf_got_find_one(const struct kpf_got_object *obj, void *arg)
{
	struct kpf_got_find *f = arg;

	if (!kpf_got_contains(obj, f->addr))
		return 0;
	*f->out = *obj;
	return 1;
}

/**
 * kpf_got_owner() - find the loaded object that contains @addr
 * @addr: an address
 * @obj: filled in when found (its pointers stay valid while the object
 *	stays loaded)
 *
 * Return: 0, -ENOENT if no object contains @addr, or -ENOMEM.
 */
int kpf_got_owner(uintptr_t addr, struct kpf_got_object *obj)
{
	struct kpf_got_find f = { .addr = addr, .out = obj };
	int ret = kpf_got_for_each_object(kpf_got_find_one, &f);

	if (ret < 0)
		return ret;
	return ret ? 0 : -ENOENT;
}

/**
 * kpf_got_is_named() - whether @obj is the library @soname
 * @obj: the object
 * @soname: e.g. "libc.so.6"
 *
 * Compares DT_SONAME, and the file name of the path it was loaded from.
 *
 * Return: 1 or 0.
 */
int kpf_got_is_named(const struct kpf_got_object *obj, const char *soname)
{
	const char *slash = strrchr(obj->name, '/');
	const char *file = slash ? slash + 1 : obj->name;

	if (obj->soname && !strcmp(obj->soname, soname))
		return 1;
	return *file && !strcmp(file, soname);
}

static int kpf_got_count(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
	return 1;
}

/**
 * kpf_got_generation() - changes whenever an object is loaded or unloaded
 *
 * Return: dlpi_adds + dlpi_subs.
 */
unsigned long long kpf_got_generation(void)
{
	unsigned long long gen = 0;

	dl_iterate_phdr(kpf_got_count, &gen);
	return gen;
}
