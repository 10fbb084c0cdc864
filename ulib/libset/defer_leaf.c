// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Leaf functions of the C library: called without a deferral stub.
 *
 * A stub costs about 0.6 ns a call, a quarter of a tcache malloc/free
 * pair (Documentation/benchmarks.md). Its mark is what lets kpf_upcall()
 * see that a task is inside a libc call while the task runs code that is
 * not libc's: a callback (qsort), a handler (printf), the tail of a tail
 * call. The functions below run nothing but code of libc and ld.so, and
 * system calls, from their entry to their return. An expiry during such a
 * call therefore finds the interrupted rip inside libc, which kpf_upcall()
 * checks before it looks for a mark: the call is deferred exactly as
 * through a stub, and the slots that call these functions are left alone.
 *
 * The list is by name. Each name is looked up in libc's own scope (dlsym
 * on libc's handle): an allocator that interposes malloc (jemalloc,
 * valgrind's) is not libc and is treated like any other library. The
 * result is the implementation libc's IFUNC resolver chose, i.e. the
 * address the GOT slots hold.
 *
 * States: not looked up (nleaf == 0, looked_up == 0) -> looked up once,
 * under the caller's lock, by kpf_defer_leaf_lookup(); read-only after.
 */
#include <dlfcn.h>

#include "defer_auto.h"

static const char *const kpf_defer_leaf_names[] = {
	/* the allocator: libc's own arenas and system calls */
	"malloc", "free", "calloc", "realloc", "reallocarray",
	"aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc",
	"malloc_usable_size",
	/* memory and string primitives */
	"memcpy", "memmove", "memset", "memcmp", "bcmp", "memchr", "memrchr",
	"rawmemchr", "mempcpy", "__memcpy_chk", "__memmove_chk",
	"__memset_chk", "__mempcpy_chk",
	"strlen", "strnlen", "strcmp", "strncmp", "strchr", "strrchr",
	"strchrnul", "strcpy", "stpcpy", "strncpy", "stpncpy", "strcat",
	"strncat", "strstr", "strspn", "strcspn", "strpbrk",
	"__strcpy_chk", "__stpcpy_chk", "__strcat_chk", "__strncpy_chk",
	"wcslen", "wcscmp", "wcschr", "wmemcpy", "wmemset", "wmemcmp",
};

#define KPF_DEFER_NLEAF \
	(sizeof(kpf_defer_leaf_names) / sizeof(kpf_defer_leaf_names[0]))

static uintptr_t kpf_defer_leaf[KPF_DEFER_NLEAF];
static unsigned int kpf_defer_nleaf;
static int kpf_defer_leaf_looked_up;

/*
 * dlsym is weak and dlopen is found through it: naming dlopen would pull
 * the static loader into every static program that links libkpf.a
 * (which has no GOT to rewrite and never finds a libc here).
 */
extern __typeof__(dlsym) dlsym __attribute__((weak));

/**
 * kpf_defer_leaf_lookup() - find the leaf functions in the loaded libc
 *
 * Called with defer_auto.c's lock held, before the first stub is made;
 * later calls do nothing. A libc that cannot be found leaves the set
 * empty: every call then goes through a stub, as before.
 */
void kpf_defer_leaf_lookup(void)
{
	void *(*open)(const char *file, int mode);
	void *libc, *fn;
	unsigned int i;

	if (kpf_defer_leaf_looked_up)
		return;
	kpf_defer_leaf_looked_up = 1;
	if (!dlsym)
		return;
	open = (__typeof__(open))dlsym(RTLD_DEFAULT, "dlopen");
	libc = open ? open("libc.so.6", RTLD_LAZY | RTLD_NOLOAD) : NULL;
	if (!libc)
		return;
	for (i = 0; i < KPF_DEFER_NLEAF; i++) {
		fn = dlsym(libc, kpf_defer_leaf_names[i]);
		if (fn)
			kpf_defer_leaf[kpf_defer_nleaf++] = (uintptr_t)fn;
	}
	/*
	 * The handle is kept: libc is never unloaded anyway, and dlclose
	 * would be one more symbol a static link must not pull in.
	 */
}

/**
 * kpf_defer_is_leaf() - whether @target is one of libc's leaf functions
 * @target: a function address, as a GOT slot holds it
 *
 * Return: 1 if calls to @target need no deferral stub, else 0.
 */
int kpf_defer_is_leaf(uintptr_t target)
{
	unsigned int i;

	for (i = 0; i < kpf_defer_nleaf; i++)
		if (kpf_defer_leaf[i] == target)
			return 1;
	return 0;
}
