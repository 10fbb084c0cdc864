// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libsets: GOT-switched copies of non-reentrant libraries.
 *
 * A declared library (KPF_LIBSETS="libsqlite3.so.0:libfoo.so.1", or
 * kpf_libset_declare() before the first launch) is loaded N more times
 * with dlmopen(LM_ID_NEWLM): each copy is one namespace holding every
 * declared library and their dependencies. Each exported function of a
 * declared library gets an id and a dispatch stub (libset_stub.c); the
 * GOT slots of the program and the other base objects that point at such
 * a function are rewritten to point at its stub (libset_bind.c), and the
 * stub jumps through the calling thread's current table, kpf_libset_cur:
 *
 *  - the base table (the libraries as the program loaded them) outside
 *    tasks;
 *  - the table of the copy the running task holds;
 *  - the first-call table while the task holds none: its entries hand the
 *    task a free copy, then continue the call in it;
 *  - the fallback table when no copy was free: automatic deferral's stubs
 *    of the base functions, so the call runs in the base copy with
 *    preemption deferred until it returns (such tasks are counted).
 *
 * task.c saves and restores kpf_libset_cur at every switch, so it is per
 * task. A task keeps its copy until it finishes; the copy of a task that
 * finished is reused as it is, the copy of a cancelled task (whose state
 * may be half-updated) is reset first: its objects' writable data is put
 * back as it was after loading (libset_bind.c says why not a reload).
 *
 * A copy's own calls into deferred libraries (libc, ld.so, libstdc++,
 * libgcc_s) are rewritten to go to the base libraries through deferral
 * stubs: the copies' own libc (dlmopen loads one per namespace) is never
 * called, so memory allocated in a copy can be freed anywhere.
 */
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "../internal.h"
#include "libset.h"
#include "libset_internal.h"

struct kpf_libset_state kpf_ls = { .free_head = -1 };

static pthread_mutex_t kpf_libset_lock = PTHREAD_MUTEX_INITIALIZER;

/* A table of KPF_LIBSET_MAX_FUNCS pointers; only touched pages cost. */
static void **kpf_libset_table_alloc(void)
{
	void *p = mmap(NULL, KPF_LIBSET_MAX_FUNCS * sizeof(void *),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The dynamic section's address values, relocated or not. */
static const void *kpf_dyn_ptr(const struct link_map *map, ElfW(Addr) v)
{
	return (const void *)(v < map->l_addr ? v + map->l_addr : v);
}

/* Number of dynamic symbols, from DT_GNU_HASH (or DT_HASH). */
static size_t kpf_dyn_nsyms(const struct link_map *map,
			    const ElfW(Word) *gnu_hash,
			    const ElfW(Word) *sysv_hash)
{
	const ElfW(Word) *buckets, *chain;
	ElfW(Word) nbuckets, symoffset, bloom_size, i, last = 0;

	if (!gnu_hash)
		return sysv_hash ? sysv_hash[1] : 0;
	nbuckets = gnu_hash[0];
	symoffset = gnu_hash[1];
	bloom_size = gnu_hash[2];
	buckets = (const ElfW(Word) *)((const ElfW(Addr) *)(gnu_hash + 4) +
				       bloom_size);
	chain = buckets + nbuckets;
	for (i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

/*
 * Give ids to the exported functions of @lib (defined, global or weak,
 * default version, STT_FUNC or STT_GNU_IFUNC) and fill the base table.
 */
static int kpf_libset_enumerate(struct kpf_libset_lib *lib)
{
	const ElfW(Word) *gnu_hash = NULL, *sysv_hash = NULL;
	const ElfW(Half) *versym = NULL;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	struct link_map *map;
	const ElfW(Dyn) *d;
	const char **names;
	size_t nsyms, i;
	unsigned int id = kpf_ls.nfuncs;
	void *addr;

	if (dlinfo(lib->base, RTLD_DI_LINKMAP, &map))
		return -ENOENT;
	for (d = map->l_ld; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB:
			symtab = kpf_dyn_ptr(map, d->d_un.d_ptr);
			break;
		case DT_STRTAB:
			strtab = kpf_dyn_ptr(map, d->d_un.d_ptr);
			break;
		case DT_GNU_HASH:
			gnu_hash = kpf_dyn_ptr(map, d->d_un.d_ptr);
			break;
		case DT_HASH:
			sysv_hash = kpf_dyn_ptr(map, d->d_un.d_ptr);
			break;
		case DT_VERSYM:
			versym = kpf_dyn_ptr(map, d->d_un.d_ptr);
			break;
		}
	}
	if (!symtab || !strtab)
		return -ENOEXEC;
	nsyms = kpf_dyn_nsyms(map, gnu_hash, sysv_hash);
	lib->first_id = id;
	for (i = 1; i < nsyms; i++) {
		const ElfW(Sym) *s = &symtab[i];
		unsigned int type = ELF64_ST_TYPE(s->st_info);
		unsigned int bind = ELF64_ST_BIND(s->st_info);

		if (s->st_shndx == SHN_UNDEF ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    (bind != STB_GLOBAL && bind != STB_WEAK) ||
		    ELF64_ST_VISIBILITY(s->st_other) != STV_DEFAULT)
			continue;
		if (versym && (versym[i] & 0x8000))
			continue;	/* hidden (non-default) version */
		addr = dlsym(lib->base, strtab + s->st_name);
		if (!addr)
			continue;
		if (id >= KPF_LIBSET_MAX_FUNCS)
			return -E2BIG;
		names = realloc(kpf_ls.names, (id + 1) * sizeof(*names));
		if (!names)
			return -ENOMEM;
		kpf_ls.names = names;
		names[id] = strtab + s->st_name;
		kpf_libset_base_table[id] = addr;
		id++;
	}
	lib->nfuncs = id - lib->first_id;
	return 0;
}

/* Close what a copy holds (declared libraries, most recent first). */
static void kpf_libset_copy_close(struct kpf_libset_copy *c)
{
	int i;

	kpf_libset_copy_forget(c);
	for (i = KPF_LIBSET_MAX_LIBS - 1; i >= 0; i--) {
		if (c->handles[i])
			dlclose(c->handles[i]);
		c->handles[i] = NULL;
	}
}

/*
 * Load libraries [@from, nlibs) into copy @c (a new namespace if it has
 * none yet), fill its table and rewrite its GOT. On failure everything
 * this call loaded is closed again. Return: 0 or -errno; @why gets the
 * loader's message.
 */
static int kpf_libset_copy_load(struct kpf_libset_copy *c, unsigned int from,
				char *why, size_t whylen)
{
	struct kpf_libset_lib *lib;
	unsigned int i, id;
	const char *err;
	void *h;

	for (i = from; i < kpf_ls.nlibs; i++) {
		lib = &kpf_ls.libs[i];
		h = dlmopen(c->handles[0] ? c->lmid : LM_ID_NEWLM,
			    lib->path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			err = dlerror();
			snprintf(why, whylen, "%s", err ? err : "dlmopen failed");
			goto fail;
		}
		c->handles[i] = h;
		if (i == 0 && dlinfo(h, RTLD_DI_LMID, &c->lmid)) {
			snprintf(why, whylen, "dlinfo(RTLD_DI_LMID) failed");
			goto fail;
		}
		for (id = lib->first_id; id < lib->first_id + lib->nfuncs;
		     id++) {
			c->table[id] = dlsym(h, kpf_ls.names[id]);
			if (!c->table[id]) {
				snprintf(why, whylen, "%s: no %s in the copy",
					 lib->soname, kpf_ls.names[id]);
				goto fail;
			}
		}
	}
	if (kpf_libset_bind_copy(c)) {
		snprintf(why, whylen, "cannot rewrite the copy's GOT");
		goto fail;
	}
	return 0;
fail:
	for (i = kpf_ls.nlibs; i-- > from;) {
		if (c->handles[i])
			dlclose(c->handles[i]);
		c->handles[i] = NULL;
	}
	return -ENOMEM;
}

static void kpf_libset_free_push(int idx)
{
	kpf_ls.copies[idx].state = KPF_COPY_FREE;
	kpf_ls.copies[idx].next_free = kpf_ls.free_head;
	kpf_ls.free_head = idx;
}

/*
 * Bring every copy up to the declared libraries: load the library just
 * declared (index nlibs - 1) into the existing copies, then create new
 * copies until there are want_copies (or, by default, until the loader
 * refuses: namespaces or static TLS exhausted).
 */
static int kpf_libset_load_copies(void)
{
	unsigned int lib = kpf_ls.nlibs - 1, want = kpf_ls.want_copies;
	unsigned int i, limit = want ? want : KPF_LIBSET_MAX_COPIES;
	struct kpf_libset_copy *c;
	char why[256] = "";
	int err;

	for (i = 0; i < kpf_ls.ncopies; i++) {
		c = &kpf_ls.copies[i];
		if (c->state == KPF_COPY_RETIRED)
			continue;
		err = kpf_libset_copy_load(c, lib, why, sizeof(why));
		if (!err)
			continue;
		if (want)
			goto refused;
		/* by default a copy that cannot take it is dropped */
		kpf_libset_copy_close(c);
		c->state = KPF_COPY_RETIRED;
	}
	while (kpf_ls.ncopies < limit) {
		c = &kpf_ls.copies[kpf_ls.ncopies];
		if (!c->table)
			c->table = kpf_libset_table_alloc();
		if (!c->table)
			return -ENOMEM;
		err = kpf_libset_copy_load(c, 0, why, sizeof(why));
		if (err) {
			if (want)
				goto refused;
			break;
		}
		c->state = KPF_COPY_FREE;
		kpf_ls.ncopies++;
	}
	/* rebuild the free list from scratch: nothing is held yet */
	kpf_ls.free_head = -1;
	for (i = kpf_ls.ncopies; i-- > 0;)
		if (kpf_ls.copies[i].state != KPF_COPY_RETIRED)
			kpf_libset_free_push(i);
	if (kpf_ls.free_head < 0) {
		fprintf(stderr, "kpf: libset %s: no copy could be loaded: %s\n",
			kpf_ls.libs[lib].soname, why);
		return -ENOMEM;
	}
	return 0;
refused:
	fprintf(stderr,
		"kpf: libset %s: KPF_LIBSET_COPIES=%u: the loader refused one: %s\n",
		kpf_ls.libs[lib].soname, want, why);
	/* undo: the library leaves every copy it entered */
	for (i = 0; i < kpf_ls.ncopies; i++) {
		c = &kpf_ls.copies[i];
		if (c->handles[lib])
			dlclose(c->handles[lib]);
		c->handles[lib] = NULL;
	}
	if (kpf_ls.copies[kpf_ls.ncopies].handles[0])
		kpf_libset_copy_close(&kpf_ls.copies[kpf_ls.ncopies]);
	if (!lib) {
		/* the first library was all they held: no copies remain */
		for (i = 0; i < kpf_ls.ncopies; i++)
			kpf_libset_copy_forget(&kpf_ls.copies[i]);
		kpf_ls.ncopies = 0;
		kpf_ls.free_head = -1;
	}
	return -ENOSPC;
}

/* Whether this program was started by the dynamic loader (PT_INTERP). */
static int kpf_libset_dynamic_program(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long i, n = getauxval(AT_PHNUM);

	for (i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return 1;
	return 0;
}

static int kpf_libset_name_ok(const char *soname)
{
	size_t n;

	if (!soname)
		return 0;
	n = strlen(soname);
	return n && n < 256 && !strchr(soname, ':');
}

static void kpf_libset_hook_done(struct kpf_thread *self, struct kpf_task *t);
static void kpf_libset_hook_cancelled(struct kpf_task *t);
static void kpf_libset_hook_preempted(struct kpf_thread *self, uint64_t rip);

static struct kpf_libset_ops kpf_libset_ops_impl = {
	.task_done = kpf_libset_hook_done,
	.task_cancelled = kpf_libset_hook_cancelled,
	.preempted = kpf_libset_hook_preempted,
};

/* Read KPF_LIBSET_COPIES once. Return: 0 or -EINVAL. */
static int kpf_libset_env_copies(void)
{
	const char *env = getenv("KPF_LIBSET_COPIES");
	unsigned long n;
	char *end;

	if (!env || !*env)
		return 0;
	n = strtoul(env, &end, 10);
	if (*end || !n || n > KPF_LIBSET_MAX_COPIES) {
		fprintf(stderr, "kpf: KPF_LIBSET_COPIES=%s: expected 1..%u\n",
			env, KPF_LIBSET_MAX_COPIES);
		return -EINVAL;
	}
	kpf_ls.want_copies = n;
	return 0;
}

static int kpf_libset_declare_locked(const char *soname)
{
	struct kpf_libset_lib *lib;
	struct link_map *map;
	unsigned int i;
	void *base;
	int err;

	if (__atomic_load_n(&kpf_libset_launched, __ATOMIC_ACQUIRE))
		return -EBUSY;
	if (!kpf_libset_name_ok(soname))
		return -EINVAL;
	if (!kpf_libset_dynamic_program())
		return -EOPNOTSUPP;
	for (i = 0; i < kpf_ls.nlibs; i++)
		if (!strcmp(kpf_ls.libs[i].soname, soname))
			return 0;
	if (kpf_ls.nlibs == KPF_LIBSET_MAX_LIBS)
		return -ENOSPC;
	if (!kpf_ls.nlibs) {
		err = kpf_libset_env_copies();
		if (err)
			return err;
	}
	/* RTLD_NOW: its functions resolve in the base namespace now */
	base = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
	if (!base)
		return -ENOENT;
	lib = &kpf_ls.libs[kpf_ls.nlibs];
	lib->soname = strdup(soname);
	lib->base = base;
	if (!dlinfo(base, RTLD_DI_LINKMAP, &map) && *map->l_name)
		lib->path = strdup(map->l_name);
	if (!lib->soname || !lib->path) {
		err = -ENOMEM;
		goto fail;
	}
	err = kpf_libset_enumerate(lib);
	if (err)
		goto fail;
	lib->dispatch = calloc(lib->nfuncs ? lib->nfuncs : 1, sizeof(void *));
	if (!lib->dispatch) {
		err = -ENOMEM;
		goto fail;
	}
	err = kpf_libset_make_dispatch(lib->nfuncs, lib->dispatch);
	if (err)
		goto fail;
	if (!kpf_ls.first_table) {
		kpf_ls.first_table = kpf_libset_table_alloc();
		kpf_ls.fallback_table = kpf_libset_table_alloc();
		if (!kpf_ls.first_table || !kpf_ls.fallback_table) {
			err = -ENOMEM;
			goto fail;
		}
	}
	err = kpf_libset_make_entries(lib->nfuncs,
				      kpf_libset_first_call_entry,
				      kpf_ls.first_table + lib->first_id);
	if (!err)
		err = kpf_libset_fill_fallback(lib->first_id, lib->nfuncs);
	if (err)
		goto fail;
	kpf_ls.nlibs++;
	kpf_ls.nfuncs = lib->first_id + lib->nfuncs;
	err = kpf_libset_load_copies();
	if (!err)
		err = kpf_libset_bind_base();
	if (err) {
		kpf_ls.nlibs--;
		kpf_ls.nfuncs = lib->first_id;
		goto fail;
	}
	kpf_libset_ops_impl.first_table = kpf_ls.first_table;
	__atomic_store_n(&kpf_libset_ops, &kpf_libset_ops_impl,
			 __ATOMIC_RELEASE);
	return 0;
fail:
	/* stub and entry pages are kept: nothing points at them */
	free(lib->dispatch);
	free(lib->path);
	free(lib->soname);
	memset(lib, 0, sizeof(*lib));
	dlclose(base);
	return err;
}

/**
 * kpf_libset_declare() - declare a libset library; see <kpf.h>
 */
KPF_EXPORT int kpf_libset_declare(const char *soname)
{
	int err;

	pthread_mutex_lock(&kpf_libset_lock);
	err = kpf_libset_declare_locked(soname);
	pthread_mutex_unlock(&kpf_libset_lock);
	return err;
}

/**
 * kpf_libset_env_init() - declare the libraries named by KPF_LIBSETS
 *
 * Called by kpf_init(). A name that cannot be declared is reported on
 * stderr and fails the initialization.
 *
 * Return: 0 or the first -errno of kpf_libset_declare().
 */
int kpf_libset_env_init(void)
{
	const char *env = getenv("KPF_LIBSETS");
	char *list, *name, *save = NULL;
	int err = 0;

	if (!env || !*env)
		return 0;
	list = strdup(env);
	if (!list)
		return -ENOMEM;
	for (name = strtok_r(list, ":", &save); name;
	     name = strtok_r(NULL, ":", &save)) {
		err = kpf_libset_declare(name);
		if (err) {
			fprintf(stderr, "kpf: KPF_LIBSETS: %s: %s\n", name,
				strerror(-err));
			break;
		}
	}
	free(list);
	return err;
}

/* busy: no preemption (the decision below must not move threads) */
static inline uint32_t kpf_libset_busy(struct kpf_thread *self)
{
	uint32_t old = self->busy;

	kpf_barrier();
	self->busy = 1;
	kpf_barrier();
	return old;
}

static inline void kpf_libset_unbusy(struct kpf_thread *self, uint32_t old)
{
	kpf_barrier();
	self->busy = old;
	kpf_barrier();
}

/**
 * kpf_libset_first_call() - a task without a copy calls a libset function
 * @id: the function
 *
 * Called by kpf_libset_first_call_entry. Hands the running task a free
 * copy, or when there is none puts it on the fallback table (counted).
 *
 * Return: where the call continues.
 */
KPF_CRITICAL void *kpf_libset_first_call(unsigned int id)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_task *t = self ? self->current : NULL;
	struct kpf_libset_copy *c;
	uint32_t busy;
	int idx;

	if (!t) {
		/* a table that leaked out of its task: the base copy */
		kpf_libset_cur = kpf_libset_base_table;
		return kpf_libset_base_table[id];
	}
	busy = kpf_libset_busy(self);
	pthread_mutex_lock(&kpf_libset_lock);
	idx = kpf_ls.free_head;
	if (idx >= 0) {
		c = &kpf_ls.copies[idx];
		kpf_ls.free_head = c->next_free;
		c->state = KPF_COPY_HELD;
	}
	pthread_mutex_unlock(&kpf_libset_lock);
	if (idx < 0) {
		/* this call, too, goes through its deferral stub */
		self->stats.libset_fallbacks++;
		kpf_libset_cur = kpf_ls.fallback_table;
		kpf_libset_unbusy(self, busy);
		return kpf_ls.fallback_table[id];
	}
	t->libset_copy = idx;
	self->stats.libset_copies++;
	kpf_libset_cur = c->table;
	kpf_libset_unbusy(self, busy);
	return c->table[id];
}

/* A held copy comes back: as it is, or reinitialized first. */
static void kpf_libset_release(int idx, int reset)
{
	struct kpf_libset_copy *c = &kpf_ls.copies[idx];

	if (reset)
		kpf_libset_copy_reset(c);
	pthread_mutex_lock(&kpf_libset_lock);
	kpf_libset_free_push(idx);
	pthread_mutex_unlock(&kpf_libset_lock);
}

static void kpf_libset_hook_done(struct kpf_thread *self, struct kpf_task *t)
{
	kpf_libset_release(t->libset_copy, 0);
	t->libset_copy = -1;
}

/* The copy of a cancelled task may be half-way through a call. */
static void kpf_libset_hook_cancelled(struct kpf_task *t)
{
	int idx = t->libset_copy;

	t->libset_copy = -1;
	kpf_defer_begin();
	kpf_libset_release(idx, 1);
	kpf_defer_end();
}

/* A preemption stopped a task that holds a copy: was it inside one? */
static void kpf_libset_hook_preempted(struct kpf_thread *self, uint64_t rip)
{
	const struct kpf_libset_copy *c;
	unsigned int i, j;

	for (i = 0; i < kpf_ls.ncopies; i++) {
		c = &kpf_ls.copies[i];
		for (j = 0; j < kpf_ls.nlibs; j++) {
			if (rip >= c->text_lo[j] && rip < c->text_hi[j]) {
				self->stats.libset_preemptions++;
				return;
			}
		}
	}
}

/**
 * kpf_libset_after_load() - objects were loaded into the base namespace
 *
 * Called by automatic deferral's dlopen()/dlmopen() wrappers after they
 * processed the new objects: their calls into libset libraries are
 * pointed at the dispatch stubs too, before the wrapper returns.
 */
void kpf_libset_after_load(void)
{
	int err;

	pthread_mutex_lock(&kpf_libset_lock);
	err = kpf_ls.nlibs ? kpf_libset_bind_base() : 0;
	pthread_mutex_unlock(&kpf_libset_lock);
	if (err)
		fprintf(stderr, "kpf: libsets: newly loaded objects not switched: %s\n",
			strerror(-err));
}

/**
 * kpf_libset_copies() - number of usable copies; see <kpf.h>
 */
KPF_EXPORT int kpf_libset_copies(void)
{
	unsigned int i;
	int n = 0;

	pthread_mutex_lock(&kpf_libset_lock);
	for (i = 0; i < kpf_ls.ncopies; i++)
		if (kpf_ls.copies[i].state != KPF_COPY_RETIRED)
			n++;
	pthread_mutex_unlock(&kpf_libset_lock);
	return n;
}
