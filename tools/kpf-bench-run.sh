#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make run / make bench / make bench-icount: build kpf-bench, run it where
# kpf works, and leave a table, CSV files and PNG plots in one directory.
#
#   tools/kpf-bench-run.sh [run|bench] [--quick] [--icount] [--native|--guest]
#                          [--out DIR] [--no-build]
#
#   (default)   /dev/kpf exists here: everything runs natively. Otherwise
#               the benchmarks run in the QEMU guest (Debian's kernel, TCG,
#               2 vCPUs) with kpf.ko loaded, and the signal half also runs
#               natively on this machine.
#   --icount    deterministic guest (-icount shift=0,sleep=off, 1 vCPU, virtual time:
#               1 ns = 1 instruction) for benchmarks 1-3 and 6 (make bench-icount)
#   --quick     smoke-test sizes (1000 samples, short runs); env QUICK=1
#   --native    run natively even without /dev/kpf (signal rows only)
#   --guest     run in the guest even if /dev/kpf exists here
#   --out DIR   results directory (default build/bench/<date>-<mode>;
#               build/bench/latest points to the newest)
#   --no-build  use the binaries already built
#
# Env: QUICK=1, ICOUNT=1 (as --quick, --icount; make passes them through),
# KPF_BENCH_ARGS (extra kpf-bench options), KPF_GUEST_TIMEOUT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${KPF_BUILD:-$top/build}
benchbin=$build/tools/kpf-bench/kpf-bench

quick=${QUICK:-}
icount=${ICOUNT:-}
mode=auto
out=
do_build=1

die() { echo "kpf-bench-run: error: $*" >&2; exit 1; }
say() { echo "kpf-bench-run: $*"; }

while [ $# -gt 0 ]; do
	case $1 in
	run|bench) shift ;;
	--quick) quick=1; shift ;;
	--icount) icount=1; shift ;;
	--native) mode=native; shift ;;
	--guest) mode=guest; shift ;;
	--out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
	--no-build) do_build=0; shift ;;
	-h|--help) sed -n '4,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[ "$quick" = 0 ] && quick=
[ "$icount" = 0 ] && icount=

if [ "$mode" = auto ]; then
	if [ -n "$icount" ]; then
		mode=guest
	elif [ -e /dev/kpf ]; then
		mode=native
	else
		mode=guest
	fi
fi
[ -n "$icount" ] && [ "$mode" = native ] && die "--icount runs in the guest only"

# Debian packages (compiler, QEMU, guest kernel and headers, busybox, gnuplot)
if [ "$do_build" = 1 ]; then
	make -C "$top" --no-print-directory deps >/dev/null ||
		die "installing the dependencies failed (tools/deps.sh)"
fi

# the stock guest kernel: the newest Debian 6.1 kernel that has headers
stock_rel=
for h in $(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V); do
	r=${h#/usr/src/linux-headers-}
	[ -e "/boot/vmlinuz-$r" ] && stock_rel=$r
done

gmode=tcg
[ -n "$icount" ] && gmode=icount
stamp=$(date +%Y%m%d-%H%M%S)
case $mode in
native)
	say "mode: NATIVE - /dev/kpf is present on this machine ($(uname -r)): kmod and signal run here, on real hardware"
	tag=native
	;;
guest)
	[ -n "$stock_rel" ] || die "no /boot/vmlinuz-6.1.0-*-amd64 with headers (run tools/deps.sh)"
	if [ -n "$icount" ]; then
		say "mode: GUEST-ICOUNT - QEMU -icount shift=0,sleep=off, 1 vCPU, Debian kernel $stock_rel: deterministic virtual time, benchmarks 1-3 and 6"
	else
		say "mode: GUEST + NATIVE - /dev/kpf is not present here: kmod and signal run in a QEMU TCG guest (Debian kernel $stock_rel, 2 vCPUs, no KVM);"
		say "      the signal benchmarks also run natively on this machine ($(uname -r)) for hardware reference numbers"
	fi
	tag=guest-$gmode
	;;
esac
[ -n "$quick" ] && say "quick mode: 1000 latency samples per variant, short runs (smoke test, not for publishing)"

[ -n "$out" ] || out=$build/bench/$stamp-$tag${quick:+-quick}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ln -sfn "$out" "$build/bench/latest" 2>/dev/null || true
say "results directory: $out"
t_start=$(date +%s)

# --- build -------------------------------------------------------------------
buildlog=$out/build.log
: >"$buildlog"
if [ "$do_build" = 1 ]; then
	say "building kpf-bench$([ "$mode" = guest ] && echo ", kpf.ko for $stock_rel"), libkpf (log: $buildlog)"
	if [ "$mode" = guest ]; then
		make -C "$top" --no-print-directory kmod \
			KDIR="/usr/src/linux-headers-$stock_rel" >>"$buildlog" 2>&1 ||
			{ tail -n 30 "$buildlog" >&2; die "building kpf.ko failed"; }
	fi
	# libkpf is optional: without it the libkpf rows say "libkpf not built"
	if [ -f "$top/ulib/Makefile" ]; then
		make -C "$top" --no-print-directory ulib >>"$buildlog" 2>&1 ||
			say "notice: libkpf did not build (see $buildlog): its rows are left out"
	fi
	make -C "$top/tools/kpf-bench" --no-print-directory O="$build/tools/kpf-bench" \
		>>"$buildlog" 2>&1 ||
		{ tail -n 30 "$buildlog" >&2; die "building kpf-bench failed"; }
fi
[ -x "$benchbin" ] || die "$benchbin missing (run without --no-build)"

benchargs=()
[ -n "$quick" ] && benchargs+=(--quick)
# shellcheck disable=SC2206
[ -n "${KPF_BENCH_ARGS:-}" ] && benchargs+=($KPF_BENCH_ARGS)
cmds=all
[ -n "$icount" ] && cmds=latency,overhead,arming,pool

# --- the guest ---------------------------------------------------------------

# show the guest's console without the file transfer
console_filter() {
	tr -d '\r' | grep --line-buffered -v -e '^KPF-FILE' || true
}

run_guest() {
	local log gcmd rc=0 where=guest-$gmode
	# run.sh packs the binary's directory as /tests/<dir>/ and --fetch
	# carries the result files back
	gcmd="b=/tests/$(basename "$(dirname "$benchbin")")/kpf-bench; \
\$b $cmds --out /tmp/kpf-bench --where $where ${benchargs[*]}"
	say "guest: tools/guest/run.sh --kernel stock${icount:+ --icount --no-sleep} --extra $(dirname "$benchbin")"
	log=$build/guest/stock${icount:+-icount}.log
	rm -rf "${out:?}/$where"
	# --no-sleep: idle time is virtual too (the pool's client and server
	# sleep; benchmarks 1-3 never idle), so the whole run is deterministic
	"$top/tools/guest/run.sh" --kernel stock ${icount:+--icount --no-sleep} \
		--extra "$(dirname "$benchbin")" --cmd "$gcmd" \
		--fetch "/tmp/kpf-bench:$out/$where" 2>&1 | console_filter || rc=$?
	[ -f "$log" ] || die "guest log $log missing"
	cp "$log" "$out/$where.console.log"
	[ -n "$(ls -A "$out/$where" 2>/dev/null)" ] ||
		die "the guest produced no results (console log: $out/$where.console.log)"
	grc=$(tr -d '\r' <"$out/$where.console.log" | sed -n 's/^kpf-guest-done rc=\([0-9]*\)$/\1/p' | tail -n 1)
	if [ "${grc:-1}" != 0 ]; then
		say "warning: kpf-bench failed in the guest (status ${grc:-unknown}; 2 = kmod let an EINTR through)"
		status=1
	fi
	return 0
}

status=0
if [ "$mode" = guest ]; then
	say "guest: kpf-bench $cmds ${benchargs[*]} (progress lines follow)"
	run_guest
fi
if [ "$mode" = native ] || [ -z "$icount" ]; then
	nargs=()
	[ "$mode" = guest ] && nargs=(--backend signal)
	say "native: kpf-bench all ${nargs[*]} ${benchargs[*]} on $(uname -r)"
	rc=0
	"$benchbin" all "${nargs[@]}" "${benchargs[@]}" --where native \
		--out "$out/native" || rc=$?
	if [ "$rc" != 0 ]; then
		say "warning: kpf-bench exited with status $rc natively"
		status=1
	fi
fi

# --- plots and the summary ----------------------------------------------------
"$here/kpf-bench/plot.sh" "$out"
"$here/kpf-bench/summary.sh" "$out" | tee "$out/summary.txt"

t_end=$(date +%s)
echo
say "done in $((t_end - t_start)) s"
say "results: $out"
ls "$out" | sed 's/^/kpf-bench-run:   /'
exit $status
