// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The GOT walker (ulib/libset/got.c) on this very program, built as PIE
 * with full RELRO (tests/Makefile): it must find the slot of puts() with
 * its version, resolve it to libc's puts, redirect it through the
 * read-only RELRO page and put it back. (Checked by hand also as lazy
 * PIE, -fno-plt non-PIE and lazy non-PIE, where the slot is writable.)
 */
#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "../../ulib/libset/got.h"

static int redirected;

static int fake_puts(const char *s)
{
	redirected++;
	return 0;
}

struct found {
	const char *name;
	struct kpf_got_slot slot;
	int n;
};

static int find_slot(const struct kpf_got_object *obj,
		     const struct kpf_got_slot *s, void *arg)
{
	struct found *f = arg;

	if (strcmp(s->name, f->name))
		return 0;
	f->slot = *s;
	f->n++;
	return 0;
}

static int main_object(const struct kpf_got_object *obj, void *arg)
{
	*(struct kpf_got_object *)arg = *obj;
	return 1;	/* the main program comes first */
}

TEST(walk_resolve_rewrite)
{
	struct kpf_got_object obj, libc;
	struct found f = { .name = "puts" };
	void *real = dlsym(dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY), "puts");
	int (*volatile call)(const char *) = puts;

	ASSERT_EQ(1, kpf_got_for_each_object(main_object, &obj));
	ASSERT_STREQ("", obj.name);
	ASSERT_EQ(0, kpf_got_for_each_slot(&obj, find_slot, &f));
	ASSERT_GE(f.n, 1);
	ASSERT_STREQ("GLIBC_2.2.5", f.slot.version);
	ASSERT_TRUE(f.slot.rtype == R_X86_64_JUMP_SLOT ||
		    f.slot.rtype == R_X86_64_GLOB_DAT);
	ASSERT_EQ(real, kpf_got_slot_target(&obj, &f.slot));
	ASSERT_EQ(0, kpf_got_owner((uintptr_t)real, &libc));
	ASSERT_TRUE(kpf_got_is_named(&libc, "libc.so.6"));
	ASSERT_FALSE(kpf_got_is_named(&obj, "libc.so.6"));
	ASSERT_EQ(-ENOENT, kpf_got_owner(0x10, &libc));

	/* built with -z now: the slot is in the read-only RELRO pages */
	ASSERT_GE((uintptr_t)f.slot.addr, obj.relro_lo);
	ASSERT_LT((uintptr_t)f.slot.addr, obj.relro_hi);
	ASSERT_EQ(0, kpf_got_write(&obj, f.slot.addr, (void *)fake_puts));
	puts("must not be printed");
	ASSERT_EQ(1, redirected);
	ASSERT_EQ(0, kpf_got_write(&obj, f.slot.addr, real));
	puts("test_got: puts is back");
	ASSERT_EQ(1, redirected);
	(void)call;
	/* a slot outside the object is refused */
	ASSERT_EQ(-EINVAL, kpf_got_write(&obj, (void **)&f, real));
}

TEST(generation_moves_on_dlopen)
{
	unsigned long long g = kpf_got_generation();
	void *h = dlopen("libm.so.6", RTLD_NOW);

	ASSERT_NE(NULL, h);
	/* libm may already be loaded: then nothing was added */
	if (kpf_got_generation() == g)
		TH_LOG("libm.so.6 was already loaded");
	dlclose(h);
	ASSERT_NE(NULL, (void *)dlsym(RTLD_DEFAULT, "puts"));
}

TEST_HARNESS_MAIN
