// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libsets need a dynamic program: in a statically linked one,
 * kpf_libset_declare() says so (-EOPNOTSUPP) and tasks still work.
 */
#include <errno.h>

#include <kpf.h>
#include "kselftest_harness.h"

static void nothing(void *arg)
{
}

TEST(static_program_refused)
{
	kpf_task *t;

	EXPECT_EQ(-EOPNOTSUPP, kpf_libset_declare("libm.so.6"));
	EXPECT_EQ(0, kpf_libset_copies());
	EXPECT_EQ(KPF_DONE, kpf_launch(&t, nothing, NULL, KPF_FOREVER));
}

TEST_HARNESS_MAIN
