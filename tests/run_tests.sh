#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run libkpf test programs and summarize.
#
#   run_tests.sh DIR [NAME...]    (default: every test_* in DIR)
#
# Each program prints KTAP lines and exits non-zero on failure. Output is
# passed through; after each program a line "ok N name" / "not ok N name"
# and at the end exactly "N passed, N failed". POSIX sh (busybox in the
# guest). KPF_TEST_TIMEOUT (seconds, default 300) bounds each program;
# KPF_VALGRIND=1 also runs test_cancel and test_pool under valgrind if
# present.
set -u

dir=$1
shift
[ $# -eq 0 ] && set -- $(cd "$dir" && ls test_* 2>/dev/null)
timeout_s=${KPF_TEST_TIMEOUT:-300}
passed=0
failed=0
n=0

have_timeout=0
command -v timeout >/dev/null 2>&1 && have_timeout=1

run_one() {
	name=$1
	shift
	n=$((n + 1))
	echo "# ---- $name (KPF_BACKEND=${KPF_BACKEND:-auto})"
	if [ $have_timeout -eq 1 ]; then
		timeout "$timeout_s" "$@"
	else
		"$@"
	fi
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok $n $name"
	else
		failed=$((failed + 1))
		echo "not ok $n $name # exit status $rc"
	fi
}

for t in "$@"; do
	run_one "$t" "$dir/$t"
done

if [ "${KPF_VALGRIND:-0}" = 1 ] && [ -x "$dir/test_cancel" ]; then
	if command -v valgrind >/dev/null 2>&1; then
		CANCEL_CYCLES=${CANCEL_CYCLES_VALGRIND:-3000} run_one \
			valgrind_test_cancel valgrind -q --leak-check=full \
			--suppressions="$(dirname "$0")/valgrind.supp" \
			--show-leak-kinds=definite,indirect,possible \
			--errors-for-leak-kinds=definite,indirect,possible \
			--error-exitcode=99 "$dir/test_cancel"
	else
		echo "# valgrind not installed: leak check skipped"
	fi
fi

# the pool's leak check: cooperative pools, small counts (see test_pool.c)
if [ "${KPF_VALGRIND:-0}" = 1 ] && [ -x "$dir/test_pool" ] &&
	command -v valgrind >/dev/null 2>&1; then
	run_one valgrind_test_pool env KPF_POOL_TEST_VALGRIND=1 \
		KPF_POOL_TEST_SCALE=50 valgrind -q --leak-check=full \
		--suppressions="$(dirname "$0")/valgrind.supp" \
		--show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 "$dir/test_pool"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
