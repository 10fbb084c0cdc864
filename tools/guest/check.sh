#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the guest on each named kernel and print one combined summary.
#
#   check.sh [--native PREFIX] [--icount] [--tests GLOB] KERNEL...
#
# KERNEL is stock, debug, or stock-icount: the stock kernel under -icount
# running only KPF_ICOUNT_TESTS (default "kpf_resume test_torture").
# --native PREFIX adds the native run's results: PREFIX.log (its last line
# "<P> passed, <F> failed", if any) and PREFIX.rc (its exit status).
# Every kernel runs even if an earlier one failed. The very last line is
# "<P> passed, <F> failed" over everything; the exit status is 0 only if
# every part passed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
native=
runargs=()
kernels=()

while [ $# -gt 0 ]; do
	case $1 in
	--native) native=$2; shift 2 ;;
	--icount) runargs+=(--icount); shift ;;
	--tests) runargs+=(--tests "$2"); shift 2 ;;
	*) kernels+=("$1"); shift ;;
	esac
done

passed=0
failed=0
rc=0
lines=()

if [ -n "$native" ]; then
	nrc=$(cat "$native.rc" 2>/dev/null || echo 1)
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$native.log" 2>/dev/null | tail -n1)
	p=0 f=0
	[ -n "$last" ] && read -r p f < <(echo "$last" | sed 's/ passed, / /; s/ failed//')
	[ "$nrc" = 0 ] || { rc=1; [ "$f" -gt 0 ] || f=1; }
	passed=$((passed + p)); failed=$((failed + f))
	lines+=("# native: $p passed, $f failed")
fi

for k in "${kernels[@]}"; do
	echo "### guest: $k kernel"
	out=$(mktemp)
	case $k in
	*-icount)
		# deterministic virtual time: the exact-resume tests, whose
		# preemptions land mid-block there
		set -- --kernel "${k%-icount}" --icount --tests \
			"${KPF_ICOUNT_TESTS:-kpf_resume test_torture}" ;;
	*)
		set -- --kernel "$k" "${runargs[@]}" ;;
	esac
	"$here/run.sh" "$@" | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	p=0 f=1
	last=$(tail -n1 "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$')
	[ -n "$last" ] && read -r p f < <(echo "$last" | sed 's/ passed, / /; s/ failed//')
	rm -f "$out"
	passed=$((passed + p)); failed=$((failed + f))
	lines+=("# guest $k: $p passed, $f failed")
done

echo "### summary"
for l in "${lines[@]}"; do echo "$l"; done
[ "$failed" -eq 0 ] || rc=1
echo "$passed passed, $failed failed"
exit $rc
