// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Automatic deferral: a task is never preempted while code of a deferred
 * library runs in it - a call into libc, ld.so, libstdc++, libgcc_s or a
 * library named in KPF_DEFER_LIBS / kpf_defer_library(), including any
 * callback such a call makes (a qsort comparator, a printf handler).
 *
 * How: every loaded object other than libkpf, the vDSO and the deferred
 * libraries gets each function GOT slot (JUMP_SLOT, and GLOB_DAT of a
 * function: -fno-plt calls and function pointers) whose target lies in a
 * deferred library pointed at a stub for that target: a copy of the
 * template in defer_stub.S (144 bytes, the thread pointer's TLS offset
 * and the target patched in) that records the deferral mark of the
 * outermost such call - its entry rsp and return address - and jumps on.
 * kpf_upcall() (task.c) treats an expiry that finds the task below a live
 * mark like one that hit library code: it is not preempted there but
 * retried a couple of microseconds later (kpf_defer_mark_inside()).
 *
 * Objects loaded later are handled by the wrappers of dlopen() and
 * dlmopen() that the processed objects' slots point at (through a stub,
 * so the whole load runs deferred): the new objects are rewritten before
 * the wrapper returns, i.e. before their first call.
 *
 * KPF_DEFER_AUTO=0 (or KPF_CONFIG_NO_DEFER_AUTO) turns all of this off.
 * A static program has no GOT: only kpf_defer_begin/end apply there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "got.h"
#include "defer_auto.h"
#include "libset.h"

#pragma weak kpf_libset_after_load

#define KPF_DEFER_MAX_LIBS	32
#define KPF_DEFER_MAX_RANGES	64
#define KPF_STUB_SIZE		160
#define KPF_STUB_REGION		(1u << 20)	/* 6553 stubs */

/* defer_stub.S: the stub template and where to patch it */
extern const unsigned char kpf_defer_stub_tmpl[] KPF_HIDDEN;
extern const uint32_t kpf_defer_stub_tmpl_size KPF_HIDDEN;
extern const uint32_t kpf_defer_stub_tmpl_tls KPF_HIDDEN;
extern const uint32_t kpf_defer_stub_tmpl_target KPF_HIDDEN;
extern const uint32_t kpf_defer_stub_tmpl_slow KPF_HIDDEN;

/*
 * The real loaders, found with dlsym at init: naming them here would pull
 * the static dlopen machinery (and its link warning) into every static
 * program that links libkpf.a. dlsym is a weak reference (NULL there).
 */
extern __typeof__(dlsym) dlsym __attribute__((weak));
static void *(*kpf_real_dlopen)(const char *file, int mode);
static void *(*kpf_real_dlmopen)(Lmid_t lmid, const char *file, int mode);

static const char *const kpf_defer_default_libs[] = {
	"libc.so.6", "ld-linux-x86-64.so.2", "libstdc++.so.6",
	"libgcc_s.so.1",
};

struct kpf_stub_entry {
	uintptr_t target;
	void *stub;
};

static struct {
	pthread_mutex_t lock;
	int enabled;
	int initialized;		/* kpf_init() ran */
	int started;			/* slots were rewritten */
	unsigned int nlibs;
	char *libs[KPF_DEFER_MAX_LIBS];
	/* executable ranges of the loaded deferred libraries */
	unsigned int nranges;
	uintptr_t lo[KPF_DEFER_MAX_RANGES];
	uintptr_t hi[KPF_DEFER_MAX_RANGES];
	/* 1: of a deferred library (slots into it are rewritten), 0: only
	 * reached through stubs (kpf_stub_target_ranges())
	 */
	unsigned char lib[KPF_DEFER_MAX_RANGES];
	/* target -> stub, open addressing */
	struct kpf_stub_entry *map;
	size_t map_cap, map_used;
	unsigned char *stubs;		/* stub region, RX view */
	unsigned char *stubs_rw;	/* the same, RW view */
	unsigned int nstubs;
	int32_t tls_off;		/* of kpf_tls_self, for the stubs */
	unsigned long long generation;	/* kpf_got_generation() processed */
	unsigned long slots;		/* slots rewritten so far */
	int rip_check;			/* kpf_defer_rip_in_library() on */
} kpf_da = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int kpf_defer_lib_add(const char *soname)
{
	unsigned int i;

	for (i = 0; i < kpf_da.nlibs; i++)
		if (!strcmp(kpf_da.libs[i], soname))
			return 0;
	if (kpf_da.nlibs == KPF_DEFER_MAX_LIBS)
		return -ENOSPC;
	kpf_da.libs[kpf_da.nlibs] = strdup(soname);
	if (!kpf_da.libs[kpf_da.nlibs])
		return -ENOMEM;
	kpf_da.nlibs++;
	return 0;
}

static int kpf_defer_is_deferred(const struct kpf_got_object *obj)
{
	unsigned int i;

	for (i = 0; i < kpf_da.nlibs; i++)
		if (kpf_got_is_named(obj, kpf_da.libs[i]))
			return 1;
	return 0;
}

static int kpf_defer_in_ranges(uintptr_t a)
{
	unsigned int i;

	for (i = 0; i < kpf_da.nranges; i++)
		if (kpf_da.lib[i] && a >= kpf_da.lo[i] && a < kpf_da.hi[i])
			return 1;
	return 0;
}

/* Executable ranges only: data a slot may point at is never deferred. */
static int kpf_defer_add_ranges(uintptr_t base, const ElfW(Phdr) *phdr,
				unsigned int phnum, int lib);

static int kpf_defer_collect_ranges(struct dl_phdr_info *info, size_t size,
				    void *arg)
{
	struct kpf_got_object obj;
	int err;

	if (kpf_got_read_object(info, &obj) || !kpf_defer_is_deferred(&obj))
		return 0;
	err = kpf_defer_add_ranges(info->dlpi_addr, info->dlpi_phdr,
				   info->dlpi_phnum, 1);
	if (err) {
		*(int *)arg = err;
		return 1;
	}
	return 0;
}

/*
 * Add the executable segments of an object to the deferred ranges (if not
 * there yet). Called with the lock held.
 */
static int kpf_defer_add_ranges(uintptr_t base, const ElfW(Phdr) *phdr,
				unsigned int phnum, int lib)
{
	uintptr_t lo;
	unsigned int i;

	for (i = 0; i < phnum; i++) {
		const ElfW(Phdr) *ph = &phdr[i];
		unsigned int n = kpf_da.nranges, j;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		lo = base + ph->p_vaddr;
		for (j = 0; j < n && kpf_da.lo[j] != lo; j++)
			;
		if (j < n) {
			if (lib)
				kpf_da.lib[j] = 1;
			continue;
		}
		if (n == KPF_DEFER_MAX_RANGES)
			return -ENOSPC;
		kpf_da.lo[n] = lo;
		kpf_da.hi[n] = lo + ph->p_memsz;
		kpf_da.lib[n] = (unsigned char)lib;
		/* kpf_upcall() reads them lock-free: publish after filling */
		__atomic_store_n(&kpf_da.nranges, n + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

/* Max. stack bytes kpf_defer_frames_in_library() looks at. */
#define KPF_DEFER_SCAN_MAX	(64u << 10)

/**
 * kpf_defer_in_text() - whether @addr is code of a loaded deferred library
 * @addr: an instruction address
 *
 * Lock-free (kpf_upcall()): the ranges only grow.
 *
 * Return: 1 or 0.
 */
int kpf_defer_in_text(uint64_t addr)
{
	unsigned int n = __atomic_load_n(&kpf_da.nranges, __ATOMIC_ACQUIRE);
	unsigned int i;

	for (i = 0; i < n; i++)
		if (addr >= kpf_da.lo[i] && addr < kpf_da.hi[i])
			return 1;
	return 0;
}

/**
 * kpf_defer_rip_in_library() - whether @addr is deferred library code,
 *	while automatic deferral is on
 * @addr: the interrupted instruction address
 *
 * Deferred code the task reached without a stub, i.e. without a mark:
 * a libc function called through a dlsym() pointer or a data table. Its
 * own code is not preempted (its callbacks are not recognised). With
 * automatic deferral off (KPF_DEFER_AUTO=0, KPF_CONFIG_NO_DEFER_AUTO),
 * code in libc is as preemptible as any other. Lock-free (kpf_upcall()).
 *
 * Return: 1 or 0.
 */
int kpf_defer_rip_in_library(uint64_t addr)
{
	return __atomic_load_n(&kpf_da.rip_check, __ATOMIC_ACQUIRE) &&
	       kpf_defer_in_text(addr);
}

/**
 * kpf_defer_frames_in_library() - whether a deferred library's frame lies
 *	between @rsp and the mark @mark
 * @rsp: the interrupted stack pointer, in user code, below @mark
 * @mark: the live-looking deferral mark
 *
 * User code below a live-looking mark is either a callback of the
 * deferred call (a qsort comparator: the library called it, so a return
 * address into the library lies between them) or runs after the deferred
 * call returned to a place the mark cannot tell from it: a function that
 * tail-called libc (jmp strlen@plt) returned, and the next call from the
 * same call site - into user code this time - pushed the same return
 * address at the same place. Only the first is inside. The words in
 * between are scanned for an address in a deferred library's code; a
 * stale one left in a frame only makes this say "inside" (a preemption
 * deferred, as before), and a scan too long to afford says so too.
 *
 * Return: 1 if the code may be a callback of the deferred call, 0 if it
 * certainly is not.
 */
int kpf_defer_frames_in_library(uint64_t rsp, uint64_t mark)
{
	const uint64_t *p = (const uint64_t *)(uintptr_t)(rsp & ~7ull);
	const uint64_t *end = (const uint64_t *)(uintptr_t)mark;

	if (mark - rsp > KPF_DEFER_SCAN_MAX)
		return 1;
	for (; p < end; p++)
		if (kpf_defer_in_text(*p))
			return 1;
	return 0;
}

/*
 * Read @len bytes at @addr of this process without faulting on a wrong
 * guess (-EFAULT instead): process_vm_readv() on ourselves, as raw
 * system calls so errno (the task's, see task_state.c) is left alone.
 */
static int kpf_peek(void *buf, uint64_t addr, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	long pid, r;

	__asm__ __volatile__("syscall" : "=a"(pid) : "0"((long)SYS_getpid)
			     : "rcx", "r11", "memory");
	{
		register long r10 __asm__("r10") = (long)&remote;
		register long r8 __asm__("r8") = 1;
		register long r9 __asm__("r9") = 0;

		__asm__ __volatile__("syscall"
				     : "=a"(r)
				     : "0"((long)SYS_process_vm_readv),
				       "D"(pid), "S"(&local), "d"(1L),
				       "r"(r10), "r"(r8), "r"(r9)
				     : "rcx", "r11", "memory");
	}
	return r == (long)len ? 0 : -EFAULT;
}

/* Whether the GOT slot at @slot holds a deferral stub. */
static int kpf_slot_is_stub(uint64_t slot)
{
	uint64_t v;

	return !kpf_peek(&v, slot, sizeof(v)) && kpf_defer_in_stub(v);
}

/**
 * kpf_defer_call_site_deferred() - whether the call that pushed the return
 *	address @ret calls a deferral stub, whatever runs below it
 * @ret: the mark's return address
 *
 * A deferred library may tail-call a callback (return cb(v): the library's
 * frame is gone and the callback runs directly below the mark, with no
 * library address in between). kpf_defer_frames_in_library() cannot tell
 * that from user code called again from the site of an earlier deferred
 * call that has returned (review finding 1). The call instruction can: a
 * direct call through a PLT entry (call rel32; endbr64, bnd, jmp *GOT) or
 * a -fno-plt call through a GOT slot (call *disp32(%rip)) whose slot holds
 * a stub enters the deferred library every time it runs, so anything
 * below its live mark is inside that call. A call through a register or
 * to a user function (which itself tail-called the library) says nothing:
 * 0, and the scan decides.
 *
 * Only called when the scan found no library frame (a rare path): the
 * guesses are read with kpf_peek() and cannot fault.
 *
 * Return: 1 if the call site always enters a deferred library, else 0.
 */
int kpf_defer_call_site_deferred(uint64_t ret)
{
	unsigned char c[6], p[11];
	int32_t d;
	uint64_t plt, at;

	if (kpf_peek(c, ret - 6, sizeof(c)))
		return 0;
	if (c[0] == 0xff && c[1] == 0x15) {	/* call *disp32(%rip) */
		memcpy(&d, c + 2, 4);
		return kpf_slot_is_stub(ret + d);
	}
	if (c[1] != 0xe8)			/* call rel32 */
		return 0;
	memcpy(&d, c + 2, 4);
	plt = ret + d;
	if (kpf_peek(p, plt, sizeof(p)))
		return 0;
	at = 0;
	if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
		at = 4;				/* endbr64 */
	if (p[at] == 0xf2)
		at++;				/* bnd */
	if (at + 6 > sizeof(p) || p[at] != 0xff || p[at + 1] != 0x25)
		return 0;			/* jmp *disp32(%rip) */
	memcpy(&d, p + at + 2, 4);
	return kpf_slot_is_stub(plt + at + 6 + d);
}

static size_t kpf_stub_hash(uintptr_t t, size_t cap)
{
	return (size_t)((t >> 4) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static int kpf_stub_map_grow(void)
{
	size_t cap = kpf_da.map_cap ? 2 * kpf_da.map_cap : 512, i, h;
	struct kpf_stub_entry *m = calloc(cap, sizeof(*m));

	if (!m)
		return -ENOMEM;
	for (i = 0; i < kpf_da.map_cap; i++) {
		if (!kpf_da.map[i].target)
			continue;
		h = kpf_stub_hash(kpf_da.map[i].target, cap);
		while (m[h].target)
			h = (h + 1) & (cap - 1);
		m[h] = kpf_da.map[i];
	}
	free(kpf_da.map);
	kpf_da.map = m;
	kpf_da.map_cap = cap;
	return 0;
}

/*
 * The stub region is one memfd mapped twice: executable for the calls and
 * writable for adding stubs, so no page is ever taken away from a thread
 * running one of its stubs while another is added (mprotect RW/RX races).
 * Pages cost memory only once written. kpf_upcall() treats the region as
 * library code (kpf_defer_in_stub()).
 */
uintptr_t kpf_defer_stub_lo, kpf_defer_stub_hi;

static int kpf_stub_region(void)
{
	void *rx, *rw;
	int fd;

	fd = memfd_create("kpf-defer-stubs", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, KPF_STUB_REGION)) {
		close(fd);
		return -errno;
	}
	rw = mmap(NULL, KPF_STUB_REGION, PROT_READ | PROT_WRITE, MAP_SHARED,
		  fd, 0);
	rx = mmap(NULL, KPF_STUB_REGION, PROT_READ | PROT_EXEC, MAP_SHARED,
		  fd, 0);
	close(fd);
	if (rw == MAP_FAILED || rx == MAP_FAILED) {
		if (rw != MAP_FAILED)
			munmap(rw, KPF_STUB_REGION);
		if (rx != MAP_FAILED)
			munmap(rx, KPF_STUB_REGION);
		return -ENOMEM;
	}
	kpf_da.stubs_rw = rw;
	kpf_da.stubs = rx;
	kpf_defer_stub_lo = (uintptr_t)rx;
	__atomic_store_n(&kpf_defer_stub_hi, (uintptr_t)rx + KPF_STUB_REGION,
			 __ATOMIC_RELEASE);
	return 0;
}

/*
 * fork(): the stub region is a shared mapping, so parent and child would
 * hand out the same free stub slots to different targets. The child (one
 * thread, inside fork()) gets a private copy at the same addresses.
 */
static void kpf_stub_region_after_fork(void)
{
	size_t used = (size_t)kpf_da.nstubs * KPF_STUB_SIZE;
	void *rw, *rx;
	int fd;

	if (!kpf_da.stubs)
		return;
	fd = memfd_create("kpf-defer-stubs", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, KPF_STUB_REGION) ||
	    pwrite(fd, kpf_da.stubs_rw, used, 0) != (ssize_t)used)
		goto fail;
	rw = mmap(kpf_da.stubs_rw, KPF_STUB_REGION, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_FIXED, fd, 0);
	rx = mmap(kpf_da.stubs, KPF_STUB_REGION, PROT_READ | PROT_EXEC,
		  MAP_SHARED | MAP_FIXED, fd, 0);
	if (rw == MAP_FAILED || rx == MAP_FAILED)
		goto fail;
	close(fd);
	return;
fail:
	/* keep the shared stubs, add no more: later loads stay unrewritten */
	if (fd >= 0)
		close(fd);
	kpf_da.nstubs = KPF_STUB_REGION / KPF_STUB_SIZE;
}

/*
 * The TLS offset of kpf_tls_self from the thread pointer, patched into
 * every stub as an immediate (initial-exec TLS: the same in every thread).
 */
static int kpf_stub_tls_offset(int32_t *off)
{
	intptr_t d = (intptr_t)((char *)&kpf_tls_self -
				(char *)__builtin_thread_pointer());
	int32_t placeholder;

	memcpy(&placeholder, kpf_defer_stub_tmpl + kpf_defer_stub_tmpl_tls,
	       4);
	if (d != (int32_t)d || placeholder != 0x7ffffff0 ||
	    kpf_defer_stub_tmpl_size > KPF_STUB_SIZE)
		return -ENOEXEC;
	*off = (int32_t)d;
	return 0;
}

/* Copy the template for @target; returns the executable address. */
static void *kpf_stub_emit(uintptr_t target)
{
	uintptr_t slow = (uintptr_t)kpf_defer_stub_slow;
	unsigned char *p;
	size_t off;

	if (!kpf_da.stubs && kpf_stub_region())
		return NULL;
	if (kpf_da.nstubs == KPF_STUB_REGION / KPF_STUB_SIZE)
		return NULL;
	off = KPF_STUB_SIZE * kpf_da.nstubs++;
	p = kpf_da.stubs_rw + off;
	memset(p, 0xcc, KPF_STUB_SIZE);
	memcpy(p, kpf_defer_stub_tmpl, kpf_defer_stub_tmpl_size);
	memcpy(p + kpf_defer_stub_tmpl_tls, &kpf_da.tls_off, 4);
	memcpy(p + kpf_defer_stub_tmpl_target, &target, 8);
	memcpy(p + kpf_defer_stub_tmpl_slow, &slow, 8);
	/* published by the (release) store of the GOT slot */
	return kpf_da.stubs + off;
}

/*
 * What every stub needs, set up once, with the lock held: the TLS offset
 * patched into it and the fork handler of the region. Stubs can be asked
 * for before kpf_init() (libsets are declared before it).
 */
static int kpf_stub_prepare(void)
{
	static int done;
	int err;

	if (done)
		return 0;
	err = kpf_stub_tls_offset(&kpf_da.tls_off);
	if (!err)
		err = -pthread_atfork(NULL, NULL, kpf_stub_region_after_fork);
	if (!err)
		done = 1;
	return err;
}

/*
 * Code reached through a stub is deferred code for kpf_defer_in_text():
 * besides the deferred libraries, the base copy of a libset library that
 * a task without a copy calls through the fallback table's stubs. Not
 * libkpf (the dlopen wrappers): its frames are below every nested launch.
 */
static void kpf_stub_target_ranges(uintptr_t target)
{
	struct kpf_got_object obj;

	if (kpf_defer_in_text(target) || kpf_got_owner(target, &obj) ||
	    kpf_got_contains(&obj, (uintptr_t)kpf_stub_target_ranges))
		return;
	if (kpf_defer_add_ranges(obj.base, obj.phdr, obj.phnum, 0))
		fprintf(stderr, "kpf: too many deferred code ranges\n");
}

/* The stub of @target, made on first use. Called with the lock held. */
static void *kpf_stub_for(uintptr_t target)
{
	size_t h;
	void *stub;

	if (kpf_stub_prepare())
		return NULL;
	if (2 * (kpf_da.map_used + 1) > kpf_da.map_cap && kpf_stub_map_grow())
		return NULL;
	h = kpf_stub_hash(target, kpf_da.map_cap);
	while (kpf_da.map[h].target) {
		if (kpf_da.map[h].target == target)
			return kpf_da.map[h].stub;
		h = (h + 1) & (kpf_da.map_cap - 1);
	}
	stub = kpf_stub_emit(target);
	if (!stub)
		return NULL;
	kpf_stub_target_ranges(target);
	kpf_da.map[h].target = target;
	kpf_da.map[h].stub = stub;
	kpf_da.map_used++;
	return stub;
}

/**
 * kpf_defer_stub() - the deferral stub that calls @target
 * @target: a function (of a deferred library)
 *
 * For callers outside this file that rewrite GOTs the walker cannot see
 * (libsets: a copy's calls into the base libc). Works whether or not
 * automatic deferral is enabled: the mark is checked by kpf_upcall()
 * regardless.
 *
 * Return: the stub, or NULL if out of memory.
 */
void *kpf_defer_stub(void *target)
{
	void *stub;

	pthread_mutex_lock(&kpf_da.lock);
	stub = kpf_stub_for((uintptr_t)target);
	pthread_mutex_unlock(&kpf_da.lock);
	return stub;
}

static void *kpf_defer_dlopen(const char *file, int mode);
static void *kpf_defer_dlmopen(Lmid_t lmid, const char *file, int mode);

static int kpf_defer_slot(const struct kpf_got_object *obj,
			  const struct kpf_got_slot *slot, void *arg)
{
	void *target = kpf_got_slot_target(obj, slot);
	void *stub;

	if (!target || !kpf_defer_in_ranges((uintptr_t)target))
		return 0;
	/* the loaders: our wrappers, themselves called deferred */
	if (target == (void *)kpf_real_dlopen)
		target = (void *)kpf_defer_dlopen;
	else if (target == (void *)kpf_real_dlmopen)
		target = (void *)kpf_defer_dlmopen;
	stub = kpf_stub_for((uintptr_t)target);
	if (!stub)
		return -ENOMEM;
	if (kpf_got_write(obj, slot->addr, stub))
		return 0;	/* not writable: left alone */
	kpf_da.slots++;
	return 0;
}

static int kpf_defer_object(const struct kpf_got_object *obj, void *arg)
{
	uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);

	if (kpf_got_contains(obj, (uintptr_t)kpf_defer_object) ||
	    kpf_defer_is_deferred(obj) ||
	    (vdso && kpf_got_contains(obj, vdso)))
		return 0;
	return kpf_got_for_each_slot(obj, kpf_defer_slot, arg);
}

/* Rewrite whatever is loaded now. Called with the lock held. */
static int kpf_defer_process(void)
{
	unsigned long long gen = kpf_got_generation();
	int err = 0;

	dl_iterate_phdr(kpf_defer_collect_ranges, &err);
	if (err)
		return err;
	err = kpf_got_for_each_object(kpf_defer_object, NULL);
	if (!err)
		kpf_da.generation = gen;
	return err;
}

static void kpf_defer_after_load(void)
{
	int err;

	pthread_mutex_lock(&kpf_da.lock);
	if (kpf_da.enabled && kpf_got_generation() != kpf_da.generation) {
		err = kpf_defer_process();
		if (err)
			fprintf(stderr, "kpf: automatic deferral of newly loaded objects failed: %s\n",
				strerror(-err));
	}
	pthread_mutex_unlock(&kpf_da.lock);
	/* and the new objects' calls into libset libraries are switched */
	if (kpf_libset_after_load)
		kpf_libset_after_load();
}

/*
 * ld.so finds the caller's DT_RUNPATH/$ORIGIN by the return address of
 * dlopen(), which is now our wrapper: try a bare name in the calling
 * object's run path first (as DT_RPATH would; DT_RUNPATH would come after
 * LD_LIBRARY_PATH). Writes the path to @out; returns 0 if found.
 */
static int kpf_defer_runpath(const void *caller, const char *file,
			     char *out, size_t size)
{
	struct kpf_got_object obj;
	char origin[512];
	const char *p, *end, *dir, *rest;
	size_t n, dn;
	ssize_t len;

	if (!file || strchr(file, '/') ||
	    kpf_got_owner((uintptr_t)caller, &obj) || !obj.runpath)
		return -ENOENT;
	if (*obj.name) {
		snprintf(origin, sizeof(origin), "%s", obj.name);
	} else {
		len = readlink("/proc/self/exe", origin, sizeof(origin) - 1);
		if (len < 0)
			return -ENOENT;
		origin[len] = 0;
	}
	p = strrchr(origin, '/');
	if (p)
		origin[p - origin] = 0;
	for (p = obj.runpath; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		n = (size_t)(end - p);
		dir = p;
		dn = n;
		rest = "";
		if (!strncmp(p, "$ORIGIN", 7) || !strncmp(p, "${ORIGIN}", 9)) {
			rest = p + (p[1] == '{' ? 9 : 7);
			dir = origin;
			dn = strlen(origin);
			n = (size_t)(end - rest);
		} else {
			n = 0;
		}
		if ((size_t)snprintf(out, size, "%.*s%.*s/%s", (int)dn, dir,
				     (int)n, rest, file) >= size)
			continue;
		if (!access(out, F_OK))
			return 0;
	}
	return -ENOENT;
}

/* The dlopen()/dlmopen() that every processed object calls, deferred. */
static void *kpf_defer_dlopen(const char *file, int mode)
{
	char path[1024];
	void *h = NULL;

	if (!kpf_defer_runpath(__builtin_return_address(0), file, path,
			       sizeof(path)))
		h = kpf_real_dlopen(path, mode);
	if (!h)
		h = kpf_real_dlopen(file, mode);
	if (h)
		kpf_defer_after_load();
	return h;
}

static void *kpf_defer_dlmopen(Lmid_t lmid, const char *file, int mode)
{
	char path[1024];
	void *h = NULL;

	if (!kpf_defer_runpath(__builtin_return_address(0), file, path,
			       sizeof(path)))
		h = kpf_real_dlmopen(lmid, path, mode);
	if (!h)
		h = kpf_real_dlmopen(lmid, file, mode);
	if (h)
		kpf_defer_after_load();
	return h;
}

static int kpf_defer_env_libs(void)
{
	const char *env = getenv("KPF_DEFER_LIBS");
	char buf[256];
	const char *p, *end;
	size_t n;
	int err;

	if (!env)
		return 0;
	for (p = env; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (!n)
			continue;
		if (n >= sizeof(buf)) {
			fprintf(stderr, "kpf: KPF_DEFER_LIBS: name too long\n");
			return -EINVAL;
		}
		memcpy(buf, p, n);
		buf[n] = 0;
		err = kpf_defer_lib_add(buf);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Turn automatic deferral on (rewrite what is loaded now, again: objects
 * already processed are skipped, their slots point at stubs) or leave it
 * off. Called with the lock held, by the constructor and by kpf_init().
 */
static int kpf_defer_start(int enabled)
{
	unsigned int i;
	int err;

	kpf_da.enabled = enabled;
	if (!enabled || !dlsym)		/* off, or a static program */
		return 0;
	err = kpf_stub_prepare();
	if (err)
		return err;
	kpf_real_dlopen = (__typeof__(kpf_real_dlopen))dlsym(RTLD_DEFAULT,
							      "dlopen");
	kpf_real_dlmopen = (__typeof__(kpf_real_dlmopen))dlsym(RTLD_DEFAULT,
								"dlmopen");
	if (!kpf_real_dlopen || !kpf_real_dlmopen)
		return 0;
	for (i = 0; !err && i < sizeof(kpf_defer_default_libs) /
			sizeof(kpf_defer_default_libs[0]); i++)
		err = kpf_defer_lib_add(kpf_defer_default_libs[i]);
	if (!err)
		err = kpf_defer_env_libs();
	if (!err)
		err = kpf_defer_process();
	if (!err) {
		kpf_da.started = 1;
		__atomic_store_n(&kpf_da.rip_check, 1, __ATOMIC_RELEASE);
	}
	return err;
}

/* A slot that points at one of our stubs gets the stub's target back. */
static int kpf_undefer_slot(const struct kpf_got_object *obj,
			    const struct kpf_got_slot *slot, void *arg)
{
	uintptr_t v = (uintptr_t)slot->value, base = (uintptr_t)kpf_da.stubs;
	uintptr_t target;

	if (!base || v < base || v >= base + (uintptr_t)kpf_da.nstubs *
	    KPF_STUB_SIZE || (v - base) % KPF_STUB_SIZE)
		return 0;
	memcpy(&target, kpf_da.stubs + (v - base) + kpf_defer_stub_tmpl_target,
	       sizeof(target));
	if (target == (uintptr_t)kpf_defer_dlopen)
		target = (uintptr_t)kpf_real_dlopen;
	else if (target == (uintptr_t)kpf_defer_dlmopen)
		target = (uintptr_t)kpf_real_dlmopen;
	if (!kpf_got_write(obj, slot->addr, (void *)target) && kpf_da.slots)
		kpf_da.slots--;
	return 0;
}

static int kpf_undefer_object(const struct kpf_got_object *obj, void *arg)
{
	if (kpf_got_contains(obj, (uintptr_t)kpf_defer_object) ||
	    kpf_defer_is_deferred(obj))
		return 0;
	return kpf_got_for_each_slot(obj, kpf_undefer_slot, arg);
}

/*
 * libkpf's constructor: rewrite at load time, before the program's own
 * constructors and main() run, so that a function pointer they take
 * (an allocator table filled before kpf_init(), a GOT load the compiler
 * hoisted above the kpf_init() call) is already the stub. Honours
 * KPF_DEFER_AUTO and KPF_DEFER_LIBS; an error (a bad KPF_DEFER_LIBS) is
 * reported by kpf_init(), which tries again.
 */
__attribute__((constructor)) static void kpf_defer_auto_ctor(void)
{
	const char *env = getenv("KPF_DEFER_AUTO");

	if (env && !strcmp(env, "0"))
		return;
	pthread_mutex_lock(&kpf_da.lock);
	kpf_defer_start(1);
	pthread_mutex_unlock(&kpf_da.lock);
}

/**
 * kpf_defer_auto_init() - kpf_init(): rewrite the loaded objects
 * @config_flags: kpf_config.flags (KPF_CONFIG_NO_DEFER_AUTO)
 *
 * KPF_DEFER_AUTO=0 or =1 in the environment overrides the flag. Most of
 * the work was done by the constructor; this processes what was loaded
 * since, or, when deferral is off by the flag, points the slots the
 * constructor rewrote back at their targets.
 *
 * Return: 0, or -errno (-EINVAL for a bad KPF_DEFER_LIBS, -ENOSPC for too
 * many libraries, -ENOMEM).
 */
int kpf_defer_auto_init(unsigned int config_flags)
{
	const char *env = getenv("KPF_DEFER_AUTO");
	int enabled = !(config_flags & KPF_CONFIG_NO_DEFER_AUTO);
	int err = 0;

	if (env && *env)
		enabled = strcmp(env, "0") != 0;
	pthread_mutex_lock(&kpf_da.lock);
	kpf_da.initialized = 1;
	if (!enabled && kpf_da.started) {
		kpf_da.enabled = 0;
		kpf_da.started = 0;
		err = kpf_got_for_each_object(kpf_undefer_object, NULL);
		/* off means off: code in libc is preemptible again */
		__atomic_store_n(&kpf_da.rip_check, 0, __ATOMIC_RELEASE);
	} else {
		err = kpf_defer_start(enabled);
	}
	pthread_mutex_unlock(&kpf_da.lock);
	return err;
}

/**
 * kpf_defer_library() - add a deferred library; see <kpf.h>
 */
KPF_EXPORT int kpf_defer_library(const char *soname)
{
	int err;

	if (!soname || !*soname || strchr(soname, '/') ||
	    strlen(soname) >= 256)
		return -EINVAL;
	pthread_mutex_lock(&kpf_da.lock);
	err = kpf_defer_lib_add(soname);
	/* once started: rewrite what now resolves into it */
	if (!err && kpf_da.started && kpf_da.enabled)
		err = kpf_defer_process();
	pthread_mutex_unlock(&kpf_da.lock);
	return err;
}

/**
 * kpf_defer_auto_slots() - how many GOT slots were pointed at stubs
 *
 * Return: the count, for kpf-bench and tests.
 */
KPF_EXPORT unsigned long kpf_defer_auto_slots(void)
{
	unsigned long n;

	pthread_mutex_lock(&kpf_da.lock);
	n = kpf_da.slots;
	pthread_mutex_unlock(&kpf_da.lock);
	return n;
}

/**
 * kpf_defer_stub_preempt() - the stub's preemption before a new outermost
 *	deferred call, after an expiry found the task inside the previous one
 *
 * Called by kpf_defer_stub_slow with every argument register saved.
 * Always clears defer_want. Preempts only a task whose deadline has
 * passed, outside kpf_defer_begin/end sections (whose end preempts
 * instead) and outside library code; returns when the task is resumed,
 * possibly on another thread.
 */
KPF_CRITICAL void kpf_defer_stub_preempt(void)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_task *t;

	if (!self)
		return;
	self->defer_want = 0;
	t = self->current;
	if (!t || self->busy)
		return;
	if (self->area.defer) {
		self->defer_expired = 1;
		return;
	}
	if (kpf_now_ns() < t->deadline_ns)
		return;
	kpf_barrier();
	__atomic_store_n(&self->busy, 1, __ATOMIC_RELAXED);
	kpf_barrier();
	kpf_yield_preempted(self);
}
