// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libsets and the GOT (with the walker of got.c):
 *
 *  - base binding: every GOT slot of a base-namespace object (the program
 *    and its libraries, except libkpf, the declared libraries themselves
 *    and the deferred libraries) that calls an exported function of a
 *    declared library is pointed at that function's dispatch stub;
 *  - copy binding: every GOT slot of a copy's objects that the loader
 *    resolved into a deferred library of the copy's namespace (its own
 *    libc, libstdc++, ...) is pointed at the same function of the base
 *    namespace, through a deferral stub: the copies share the program's
 *    heap, locks, stdio and errno, and are never preempted inside them.
 *    The same for function pointers in data (R_X86_64_64 relocations,
 *    GLOB_DAT of untyped symbols) that point into such a library's text:
 *    SQLite calls fcntl, read, write... through its aSyscall[] table, and
 *    the copy's libc set the copy's errno, not the one SQLite reads.
 */
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../internal.h"
#include "got.h"
#include "libset.h"
#include "libset_internal.h"

/* The libraries whose calls are deferred (section 1's default set). */
static const char *const kpf_libset_deferred_names[] = {
	"libc.so.6", "ld-linux-x86-64.so.2", "libstdc++.so.6",
	"libgcc_s.so.1",
};

static int kpf_libset_is_deferred(const struct kpf_got_object *obj)
{
	size_t i;

	for (i = 0; i < sizeof(kpf_libset_deferred_names) /
		    sizeof(kpf_libset_deferred_names[0]); i++)
		if (kpf_got_is_named(obj, kpf_libset_deferred_names[i]))
			return 1;
	return 0;
}

/* base table address -> id, sorted for bsearch */
struct kpf_addr_id {
	uintptr_t addr;
	unsigned int id;
};

static int kpf_addr_id_cmp(const void *a, const void *b)
{
	const struct kpf_addr_id *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct kpf_bind_base {
	struct kpf_addr_id *index;
	unsigned int n;
	uintptr_t self_addr;		/* inside libkpf */
	int err;
};

static int kpf_bind_base_slot(const struct kpf_got_object *obj,
			      const struct kpf_got_slot *slot, void *arg)
{
	struct kpf_bind_base *b = arg;
	struct kpf_addr_id key, *hit;
	void *target = kpf_got_slot_target(obj, slot);
	unsigned int l;
	void *stub;

	if (!target)
		return 0;
	key.addr = (uintptr_t)target;
	hit = bsearch(&key, b->index, b->n, sizeof(key), kpf_addr_id_cmp);
	if (!hit)
		return 0;
	for (l = 0; l < kpf_ls.nlibs; l++) {
		const struct kpf_libset_lib *lib = &kpf_ls.libs[l];

		if (hit->id >= lib->first_id &&
		    hit->id < lib->first_id + lib->nfuncs) {
			stub = lib->dispatch[hit->id - lib->first_id];
			if (slot->value == stub)
				return 0;
			b->err = kpf_got_write(obj, slot->addr, stub);
			return b->err;
		}
	}
	return 0;
}

static int kpf_bind_base_object(const struct kpf_got_object *obj, void *arg)
{
	struct kpf_bind_base *b = arg;
	unsigned int l;
	void *h;
	struct link_map *map;

	if (kpf_libset_is_deferred(obj) || kpf_got_contains(obj, b->self_addr))
		return 0;
	for (l = 0; l < kpf_ls.nlibs; l++) {
		h = kpf_ls.libs[l].base;
		if (!dlinfo(h, RTLD_DI_LINKMAP, &map) &&
		    map->l_addr == obj->base && !strcmp(map->l_name, obj->name))
			return 0;
	}
	return kpf_got_for_each_slot(obj, kpf_bind_base_slot, b);
}

/**
 * kpf_libset_bind_base() - point the base objects' calls into declared
 *	libraries at the dispatch stubs
 *
 * The base objects are those dl_iterate_phdr() reports to libkpf: its own
 * namespace, never a copy's.
 * Idempotent: slots already bound are left alone, so it runs again after
 * each declaration.
 *
 * Return: 0 or -errno.
 */
int kpf_libset_bind_base(void)
{
	struct kpf_bind_base b = { .self_addr = (uintptr_t)kpf_libset_bind_base };
	unsigned int i;
	int ret;

	b.index = malloc(kpf_ls.nfuncs * sizeof(*b.index) + 1);
	if (!b.index)
		return -ENOMEM;
	for (i = 0; i < kpf_ls.nfuncs; i++) {
		b.index[i].addr = (uintptr_t)kpf_libset_base_table[i];
		b.index[i].id = i;
	}
	b.n = kpf_ls.nfuncs;
	qsort(b.index, b.n, sizeof(*b.index), kpf_addr_id_cmp);
	ret = kpf_got_for_each_object(kpf_bind_base_object, &b);
	free(b.index);
	return ret < 0 ? ret : b.err;
}

#define KPF_NS_MAX_OBJECTS	64

struct kpf_bind_copy {
	struct kpf_libset_copy *copy;
	struct kpf_got_object objs[KPF_NS_MAX_OBJECTS];
	unsigned int nobjs;
	/* base-namespace handle of each deferred object of the copy */
	void *base_handle[KPF_NS_MAX_OBJECTS];
	int err;
};

static int kpf_bind_copy_collect(const struct kpf_got_object *obj, void *arg)
{
	struct kpf_bind_copy *b = arg;

	if (b->nobjs == KPF_NS_MAX_OBJECTS)
		return -E2BIG;
	b->objs[b->nobjs++] = *obj;
	return 0;
}

/*
 * The same function as @slot's in the base namespace's instance of the
 * copy's deferred object @i (loaded there if the program had not: a copy
 * must not use a second libstdc++ either), deferred.
 */
static void *kpf_bind_copy_base(struct kpf_bind_copy *b, unsigned int i,
				const struct kpf_got_slot *slot)
{
	const struct kpf_got_object *owner = &b->objs[i];
	const char *name = owner->soname ? owner->soname : owner->name;
	void *p = NULL;

	if (!b->base_handle[i])
		b->base_handle[i] = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!b->base_handle[i])
		return NULL;
	if (slot->version)
		p = dlvsym(b->base_handle[i], slot->name, slot->version);
	if (!p)
		p = dlsym(b->base_handle[i], slot->name);
	return p ? kpf_libset_deferred_target(p) : NULL;
}

/* Whether @v lies in an executable segment of @obj: a function. */
static int kpf_bind_in_text(const struct kpf_got_object *obj, uintptr_t v)
{
	unsigned int i;
	uintptr_t lo;

	for (i = 0; i < obj->phnum; i++) {
		const ElfW(Phdr) *ph = &obj->phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		lo = obj->base + ph->p_vaddr;
		if (v >= lo && v < lo + ph->p_memsz)
			return 1;
	}
	return 0;
}

static int kpf_bind_copy_slot(const struct kpf_got_object *obj,
			      const struct kpf_got_slot *slot, void *arg)
{
	struct kpf_bind_copy *b = arg;
	uintptr_t v = (uintptr_t)slot->value;
	unsigned int i;
	void *base;

	for (i = 0; i < b->nobjs; i++) {
		if (!kpf_got_contains(&b->objs[i], v))
			continue;
		if (!kpf_libset_is_deferred(&b->objs[i]))
			return 0;
		/* a data pointer into the copy's libc: only its functions */
		if (slot->rtype != R_X86_64_JUMP_SLOT &&
		    !kpf_bind_in_text(&b->objs[i], v))
			return 0;
		base = kpf_bind_copy_base(b, i, slot);
		if (!base)
			return 0;	/* a symbol only the copy has: keep */
		/* RELRO is writable for the whole object: kpf_bind_copy_object */
		__atomic_store_n(slot->addr, base, __ATOMIC_RELEASE);
		return 0;
	}
	return 0;
}

/*
 * Rewrite one object of a copy. Nobody calls into a copy being loaded, so
 * its RELRO range is made writable once for all its slots rather than
 * around each (two mprotect calls and TLB flushes per slot made a copy of
 * SQLite cost 3 times the dlmopen itself).
 */
static int kpf_bind_copy_object(struct kpf_bind_copy *b,
				const struct kpf_got_object *obj)
{
	size_t len = obj->relro_hi - obj->relro_lo;
	int ret;

	if (len && mprotect((void *)obj->relro_lo, len, PROT_READ | PROT_WRITE))
		return -errno;
	ret = kpf_got_for_each_pointer(obj, kpf_bind_copy_slot, b);
	if (len && mprotect((void *)obj->relro_lo, len, PROT_READ) && !ret)
		ret = -errno;
	return ret;
}

/* Where declared library @lib of the copy lies, for kpf_libset_hook_preempted. */
static void kpf_copy_range(struct kpf_libset_copy *c, unsigned int lib,
			   const struct kpf_got_object *obj)
{
	unsigned int i;

	c->text_lo[lib] = UINTPTR_MAX;
	c->text_hi[lib] = 0;
	for (i = 0; i < obj->nloads; i++) {
		if (obj->load_lo[i] < c->text_lo[lib])
			c->text_lo[lib] = obj->load_lo[i];
		if (obj->load_hi[i] > c->text_hi[lib])
			c->text_hi[lib] = obj->load_hi[i];
	}
}

/*
 * Save the writable, non-RELRO part of @obj's segments: restoring it
 * reinitializes the object (kpf_libset_copy_reset()).
 */
static int kpf_copy_snapshot(struct kpf_libset_copy *c,
			     const struct kpf_got_object *obj)
{
	struct kpf_libset_span *sp;
	uintptr_t lo, hi;
	unsigned int i;

	for (i = 0; i < obj->phnum; i++) {
		const ElfW(Phdr) *ph = &obj->phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		lo = obj->base + ph->p_vaddr;
		hi = lo + ph->p_memsz;
		if (lo >= obj->relro_lo && lo < obj->relro_hi)
			lo = obj->relro_hi;
		if (lo >= hi)
			continue;
		if (c->nspans == KPF_LIBSET_MAX_SPANS)
			return -E2BIG;
		sp = &c->spans[c->nspans];
		sp->saved = malloc(hi - lo);
		if (!sp->saved)
			return -ENOMEM;
		sp->addr = lo;
		sp->len = hi - lo;
		memcpy(sp->saved, (void *)lo, sp->len);
		c->nspans++;
	}
	return 0;
}

/* Which declared library @obj is in copy @c, or -1. */
static int kpf_copy_lib_of(const struct kpf_libset_copy *c,
			   const struct kpf_got_object *obj)
{
	struct link_map *map;
	unsigned int l;

	for (l = 0; l < kpf_ls.nlibs; l++)
		if (c->handles[l] &&
		    !dlinfo(c->handles[l], RTLD_DI_LINKMAP, &map) &&
		    map->l_addr == obj->base)
			return l;
	return -1;
}

/**
 * kpf_libset_bind_copy() - make a freshly loaded copy usable
 * @copy: a copy whose libraries were just loaded (RTLD_NOW: every slot
 *	holds its final target)
 *
 * Sends the copy's calls into deferred libraries to the base namespace's,
 * through deferral stubs; records where its declared libraries lie; saves
 * the writable data of its objects for kpf_libset_copy_reset().
 *
 * Return: 0 or -errno.
 */
int kpf_libset_bind_copy(struct kpf_libset_copy *copy)
{
	struct kpf_bind_copy *b = calloc(1, sizeof(*b));
	unsigned int i;
	int ret, lib;

	if (!b)
		return -ENOMEM;
	b->copy = copy;
	kpf_libset_copy_forget(copy);
	ret = kpf_got_for_each_object_in(copy->handles[0],
					 kpf_bind_copy_collect, b);
	for (i = 0; !ret && i < b->nobjs; i++) {
		const struct kpf_got_object *obj = &b->objs[i];

		if (kpf_libset_is_deferred(obj))
			continue;
		ret = kpf_bind_copy_object(b, obj);
		lib = kpf_copy_lib_of(copy, obj);
		if (lib >= 0)
			kpf_copy_range(copy, lib, obj);
		if (!ret)
			ret = kpf_copy_snapshot(copy, obj);
	}
	/* the base copies stay: libc and friends are never unloaded */
	for (i = 0; i < b->nobjs; i++)
		if (b->base_handle[i])
			dlclose(b->base_handle[i]);
	free(b);
	return ret < 0 ? ret : 0;
}

/**
 * kpf_libset_copy_forget() - drop a copy's saved data
 * @copy: the copy
 */
void kpf_libset_copy_forget(struct kpf_libset_copy *copy)
{
	while (copy->nspans) {
		copy->nspans--;
		free(copy->spans[copy->nspans].saved);
	}
}

/**
 * kpf_libset_copy_reset() - reinitialize a copy in place
 * @copy: a copy nobody runs in
 *
 * Puts back the writable data of every object of the copy as it was right
 * after loading (constructors run, GOT rewritten): the globals a cancelled
 * task left half-updated, its locks, its "busy" flags. What the copy had
 * allocated from the heap since is lost (leaked). Reloading instead
 * (dlclose + dlmopen) does not work once the copies have used the static
 * TLS space: glibc 2.36 does not reuse a closed copy's static TLS block
 * (measured: at 8 copies the 4th reload fails with "cannot allocate memory
 * in static TLS block", at 11 the first).
 */
void kpf_libset_copy_reset(struct kpf_libset_copy *copy)
{
	unsigned int i;

	for (i = 0; i < copy->nspans; i++)
		memcpy((void *)copy->spans[i].addr, copy->spans[i].saved,
		       copy->spans[i].len);
}
