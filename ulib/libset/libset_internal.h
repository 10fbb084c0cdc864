/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Libsets, between the files of ulib/libset/libset*: the loaded copies and
 * the function tables.
 */
#ifndef KPF_LIBSET_INTERNAL_H
#define KPF_LIBSET_INTERNAL_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

#define KPF_LIBSET_MAX_LIBS	16	/* declared libraries */
#define KPF_LIBSET_MAX_FUNCS	16384	/* their exported functions */
#define KPF_LIBSET_MAX_COPIES	256	/* KPF_LIBSET_COPIES upper bound */
#define KPF_LIBSET_MAX_SPANS	64	/* writable ranges of one copy */

/**
 * struct kpf_libset_span - writable data of a copy and its initial content
 * @addr:	start in the copy.
 * @len:	bytes.
 * @saved:	its content right after the copy was loaded.
 */
struct kpf_libset_span {
	uintptr_t addr;
	size_t len;
	void *saved;
};

/* kpf_libset_copy.state */
enum kpf_libset_copy_state {
	KPF_COPY_FREE,		/* loaded, clean: may be handed out */
	KPF_COPY_HELD,		/* a task holds it */
	KPF_COPY_RETIRED,	/* could not take a later library: unused */
};

/**
 * struct kpf_libset_copy - one namespace holding a copy of every declared
 *	library and of its non-deferred dependencies
 * @lmid:	the namespace.
 * @handles:	dlmopen handle of each declared library in it.
 * @table:	function table: table[id] is function id in this copy.
 * @text_lo:	address range of each declared library in this copy ...
 * @text_hi:	... (exclusive), to count preemptions inside a copy.
 * @spans:	its writable data, saved to reinitialize the copy ...
 * @nspans:	... in place (kpf_libset_copy_reset()).
 * @state:	enum kpf_libset_copy_state.
 * @next_free:	free list link (index), -1 at the end.
 */
struct kpf_libset_copy {
	Lmid_t lmid;
	void *handles[KPF_LIBSET_MAX_LIBS];
	void **table;
	uintptr_t text_lo[KPF_LIBSET_MAX_LIBS];
	uintptr_t text_hi[KPF_LIBSET_MAX_LIBS];
	struct kpf_libset_span spans[KPF_LIBSET_MAX_SPANS];
	unsigned int nspans;
	int state;
	int next_free;
};

/**
 * struct kpf_libset_lib - a declared library
 * @soname:	as declared (what dlopen is given).
 * @path:	the file the base namespace loaded: the copies load the same
 *		(by path: dlmopen would search with libkpf's own paths).
 * @base:	its handle in the base namespace.
 * @first_id:	ids of its exported functions: first_id ...
 * @nfuncs:	... first_id + nfuncs - 1.
 * @dispatch:	dispatch stub of each of them (index id - first_id).
 */
struct kpf_libset_lib {
	char *soname;
	char *path;
	void *base;
	unsigned int first_id;
	unsigned int nfuncs;
	void **dispatch;
};

/**
 * struct kpf_libset_state - everything about the declared libsets
 * @libs:	declared libraries, in declaration order.
 * @nlibs:	how many.
 * @names:	name of function id.
 * @nfuncs:	number of ids.
 * @copies:	the copies.
 * @ncopies:	how many were loaded (retired ones included).
 * @want_copies: KPF_LIBSET_COPIES, or 0 = as many as the loader allows.
 * @free_head:	first free copy, -1 if none.
 * @first_table: entries that hand the running task a copy.
 * @fallback_table: deferral stubs of the base copy's functions.
 */
struct kpf_libset_state {
	struct kpf_libset_lib libs[KPF_LIBSET_MAX_LIBS];
	unsigned int nlibs;
	const char **names;
	unsigned int nfuncs;
	struct kpf_libset_copy copies[KPF_LIBSET_MAX_COPIES];
	unsigned int ncopies;
	unsigned int want_copies;
	int free_head;
	void **first_table;
	void **fallback_table;
};

extern struct kpf_libset_state kpf_ls __attribute__((visibility("hidden")));
extern void *kpf_libset_base_table[KPF_LIBSET_MAX_FUNCS]
	__attribute__((visibility("hidden")));

/* libset_stub.c */
__attribute__((visibility("hidden")))
int kpf_libset_make_dispatch(unsigned int n, void **stubs);
__attribute__((visibility("hidden")))
int kpf_libset_make_entries(unsigned int n, void (*common)(void),
			    void **table);

/* libset_x86_64.S: the first-call entries' common part (r11d = id) */
__attribute__((visibility("hidden"))) void kpf_libset_first_call_entry(void);

/* libset_fallback.c */
__attribute__((visibility("hidden"))) void *kpf_libset_deferred_target(void *fn);
__attribute__((visibility("hidden")))
int kpf_libset_fill_fallback(unsigned int first, unsigned int n);
__attribute__((visibility("hidden")))
void *kpf_libset_first_call(unsigned int id);

/* libset_bind.c: GOT rewriting with the section-1 walker (got.c) */
__attribute__((visibility("hidden"))) int kpf_libset_bind_base(void);
__attribute__((visibility("hidden")))
int kpf_libset_bind_copy(struct kpf_libset_copy *copy);
__attribute__((visibility("hidden")))
void kpf_libset_copy_forget(struct kpf_libset_copy *copy);
__attribute__((visibility("hidden")))
void kpf_libset_copy_reset(struct kpf_libset_copy *copy);

#endif /* KPF_LIBSET_INTERNAL_H */
