#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the kpf test guest in QEMU (TCG) and run the tests in it.
#
#   tools/guest/run.sh --kernel stock|debug [--icount [--no-sleep]]
#                      [--tests 'glob']
#                      [--cmd 'shell command' | --shell] [--timeout SECS]
#
#   --kernel stock   Debian's kernel (/boot/vmlinuz-6.1.0-*-amd64)
#   --kernel debug   the KASAN/KMEMLEAK/lockdep kernel from
#                    tools/guest/build-debug-kernel.sh (must be built)
#   --icount         deterministic virtual time: -icount shift=0, one vCPU
#   --no-sleep       with --icount: sleep=off, an idle vCPU jumps to its
#                    next timer instead of waiting for the host's clock,
#                    so idle time is deterministic too (and free)
#   --tests GLOB     only the tests whose "dir/name" or "name" matches
#   --cmd CMD        run CMD in the guest (module loaded) instead of tests
#   --shell          interactive shell instead of tests (make vm)
#   --module KO      load KO instead of build/kmod/<release>/kpf.ko
#   --extra DIR      also pack the executables in DIR as /tests/<dir>/
#                    (with the shared objects next to them and the
#                    libraries ldd names, like the dynamic tests),
#                    for --cmd (e.g. the benchmarks); in test mode those
#                    named test_* or kpf_* run as tests like the others
#   --fetch G:H      after --cmd, copy the files of guest directory G into
#                    host directory H (carried over the serial console as
#                    "KPF-FILE|<name>|<line>" lines)
#   --timeout SECS   host-side limit for the whole run (default 2700,
#                    env KPF_GUEST_TIMEOUT); KPF_TEST_TIMEOUT (default 300)
#                    limits each test inside the guest
#
# kpf.ko must already be built for the kernel (make kmod KDIR=...); test
# binaries are taken from build/selftests/, build/tests/static/ and
# build/tests/dynamic/ (with their shared libraries).
# The serial log is build/guest/<kernel>[-icount].log. The run fails when
# the guest reports a failure, when its log is truncated (no sentinel), when
# QEMU's exit code does not match, or when the log shows a kernel splat.
# The last line printed is "<P> passed, <F> failed"; it is also written to
# build/guest/<kernel>[-icount].result for make check.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${KPF_BUILD:-$top/build}

kernel=
icount=0
icount_sleep=on
tests='*'
cmd=
shell=0
fetch=
timeout=${KPF_GUEST_TIMEOUT:-2700}
module=
extra=()

die() { echo "run.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--icount) icount=1; shift ;;
	--no-sleep) icount_sleep=off; shift ;;
	--tests) tests=$2; shift 2 ;;
	--cmd) cmd=$2; shift 2 ;;
	--shell) shell=1; shift ;;
	--module) module=$2; shift 2 ;;
	--extra) extra+=(--dyntests "$2"); shift 2 ;;
	--fetch) fetch=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	-h|--help) sed -n '4,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

case $kernel in
stock)
	# the newest Debian 6.1 kernel that has headers to build the module
	rel=
	for h in $(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V); do
		r=${h#/usr/src/linux-headers-}
		[ -e "/boot/vmlinuz-$r" ] && rel=$r
	done
	[ -n "$rel" ] || die "no /boot/vmlinuz-6.1.0-*-amd64 with headers (run tools/deps.sh)"
	image=/boot/vmlinuz-$rel
	append=
	;;
debug)
	tree=$("$here/build-debug-kernel.sh" --print-dir)
	image=$tree/arch/x86/boot/bzImage
	[ -e "$tree/../.kpf-built" ] || die "debug kernel not built (make debug-kernel)"
	rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$tree/include/generated/utsrelease.h")
	append=" kmemleak=on"
	;;
*)
	die "--kernel stock|debug is required"
	;;
esac
[ -r "$image" ] || die "cannot read $image"

name=$kernel
mode=tcg
if [ "$icount" = 1 ]; then
	name=$kernel-icount
	mode=icount
	accel=(-accel tcg -icount shift=0,sleep=$icount_sleep -smp 1)
else
	accel=(-accel tcg,thread=multi -smp 2)
fi

[ -n "$module" ] || module=$build/kmod/$rel/kpf.ko
modarg=(--module "$module")
[ -f "$module" ] || die "$module missing: run make kmod KDIR=... for $rel first"

out=$build/guest
mkdir -p "$out"
# private files, so that concurrent runs do not mix their logs; the log is
# copied to build/guest/<name>.log when the run ends
initrd=$out/$name.$$.cpio
runlog=$out/$name.$$.log
log=$out/$name.log
result=$out/$name.result
trap 'rm -f "$initrd" "$runlog"' EXIT

t0=$(date +%s.%N)
"$here/mkinitramfs.sh" --out "$initrd" "${modarg[@]}" \
	--tests "$build/selftests" --tests "$build/tests/static" \
	--dyntests "$build/tests/dynamic" "${extra[@]}" \
	--env "KPF_KERNEL=$kernel" --env "KPF_GUEST_MODE=$mode" \
	--env "KPF_TESTS=$tests" --env "KPF_CMD=$cmd" --env "KPF_SHELL=$shell" \
	--env "KPF_FETCH=${fetch%%:*}" \
	--env "KPF_TEST_TIMEOUT=${KPF_TEST_TIMEOUT:-300}" \
	--env "KPF_FUZZ_SECONDS=${KPF_FUZZ_SECONDS:-}" \
	--env "KPF_FUZZ_SEED=${KPF_FUZZ_SEED:-}"
t1=$(date +%s.%N)
printf 'run.sh: initramfs packed in %.2f s\n' "$(echo "$t1 - $t0" | bc)" >&2

qemu=(qemu-system-x86_64 "${accel[@]}" -cpu max -m 2G
	-display none -nodefaults -no-reboot
	-chardev "stdio,id=s0,logfile=$runlog,signal=off" -serial chardev:s0
	-device isa-debug-exit,iobase=0xf4,iosize=4
	-kernel "$image" -initrd "$initrd"
	-append "console=ttyS0 loglevel=5 tsc=reliable panic=-1 slub_debug=FZPU log_buf_len=4M$append")

echo "run.sh: booting $image ($name)" >&2
if [ "$shell" = 1 ]; then
	echo "run.sh: the shell's exit stops the VM (Ctrl-C goes to the guest)" >&2
	set +e
	"${qemu[@]}"
	cp "$runlog" "$log"
	exit 0
fi

set +e
timeout -k 10 "$timeout" "${qemu[@]}" </dev/null
status=$?
set -e
t2=$(date +%s.%N)
printf 'run.sh: %s guest ran %.1f s (QEMU exit status %d)\n' "$name" "$(echo "$t2 - $t1" | bc)" "$status" >&2

cp "$runlog" "$log.$$" && mv "$log.$$" "$log"

# --fetch: the files the guest printed after its command
if [ -n "$fetch" ]; then
	mkdir -p "${fetch#*:}"
	tr -d '\r' <"$log" | awk -F'|' -v dir="${fetch#*:}" '
		/^KPF-FILE\|/ { f = dir "/" $2
			print substr($0, length($1) + length($2) + 3) > f }'
	grep -q '^KPF-FILE-END' "$log" ||
		echo "run.sh: warning: the guest's files are incomplete" >&2
fi

# --- judge the run -------------------------------------------------------------
clean=$(tr -d '\r' <"$runlog")
problems=()

guest_rc=$(printf '%s\n' "$clean" | sed -n 's/^kpf-guest-done rc=\([0-9]*\)$/\1/p' | tail -n1 || true)
if [ -z "$guest_rc" ]; then
	problems+=("log truncated: no kpf-guest-done line")
fi

case $status in
124|137) problems+=("host timeout after $timeout s") ;;
1|3)
	qrc=$(((status - 1) / 2))
	if [ -n "$guest_rc" ] && [ "$qrc" != "$([ "$guest_rc" = 0 ] && echo 0 || echo 1)" ]; then
		problems+=("QEMU exit status $status does not match rc=$guest_rc")
	fi
	;;
*) problems+=("QEMU exit status $status (no isa-debug-exit: panic or crash?)") ;;
esac

# kernel lines carry a printk timestamp; test output never does
splat_re='\[ *[0-9]+\.[0-9]+\] .*(WARNING:|BUG:|Oops|general protection|KASAN|UBSAN|possible circular locking|inconsistent lock state|sleeping function called from invalid context|unreferenced object|Call Trace|Kernel panic)'
splat=$(printf '%s\n' "$clean" | grep -aE -m1 "$splat_re" || true)

summary=$(printf '%s\n' "$clean" | grep -aE '^# [0-9]+ passed, [0-9]+ failed$' | tail -n1 || true)
passed=0
failed=0
if [ -n "$summary" ]; then
	read -r passed failed < <(echo "$summary" | sed 's/^# \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/')
fi
if [ -n "$splat" ]; then
	# the guest attributes a splat to a test; count it here only if not
	[ "$failed" -gt 0 ] || failed=$((failed + 1))
	problems+=("kernel splat in the log: ${splat#*] }")
fi
if [ "${#problems[@]}" -gt 0 ] && [ "$failed" -eq 0 ]; then
	failed=1
fi
if [ -n "$guest_rc" ] && [ "$guest_rc" != 0 ] && [ "$failed" -eq 0 ]; then
	failed=1
	[ -n "$cmd" ] && problems+=("command exited with status $guest_rc")
fi

echo "$passed $failed" >"$result.$$" && mv "$result.$$" "$result"
echo "# guest $name ($rel): log $log"
for p in "${problems[@]}"; do
	echo "# guest $name: FAIL: $p"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "${#problems[@]}" -eq 0 ]
