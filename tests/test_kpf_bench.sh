#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# test_kpf_bench: make run's tool works. Runs "kpf-bench all --quick" and
# "kpf-bench-defer --quick" on the backend KPF_BACKEND names (kmod, signal;
# auto: both) and checks what results.csv says, not only the exit status:
#  - every benchmark of "all" wrote rows for each backend it ran;
#  - latency: the variants that drop no samples have some; in every
#    variant with samples p50 <= p99 <= max;
#  - overhead: every quantum saw deliveries;
#  - blocking: preemptions happened during the calls, and with kmod none
#    of them reached user code as EINTR (kpf's promise; kpf-bench also
#    exits 2 then);
#  - pool: a capacity, and a p99.9 for every configuration and point.
# No timing is asserted: the numbers are whatever this machine gives.
#
# kpf-bench and its dynamic helpers (kpf-bench-libset, kpf-bench-defer)
# sit next to this script (tests/Makefile copies them; the guest packs the
# directory with their libraries). POSIX sh and awk (busybox in the guest).
set -u

here=$(cd "$(dirname "$0")" && pwd)
bench=$here/kpf-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0

case ${KPF_BACKEND:-auto} in
kmod | signal) backend=$KPF_BACKEND ;;
*) backend=all ;;
esac

say() { echo "# $*"; }
check() {	# check NAME: the awk program on stdin over results.csv
	if awk -F, "$(cat)" "$out/results.csv"; then
		echo "ok - $1"
	else
		echo "not ok - $1"
		fail=1
	fi
}

if [ ! -x "$bench" ]; then
	echo "not ok - $bench missing (tests/Makefile builds it)"
	exit 1
fi

echo "TAP version 13"
say "kpf-bench all --quick --backend $backend"
"$bench" all --quick --backend "$backend" --out "$out" --where test
rc=$?
if [ $rc -eq 0 ]; then
	echo "ok - kpf-bench all exits 0"
else
	echo "not ok - kpf-bench all exits $rc (1: a benchmark failed, 2: kmod let an EINTR through)"
	fail=1
fi
if [ ! -s "$out/results.csv" ]; then
	echo "not ok - no results.csv"
	exit 1
fi

# which backends ran: with "all", kmod only where /dev/kpf is
if [ "$backend" = all ]; then
	if [ -c /dev/kpf ]; then backends="kmod signal"; else backends=signal; fi
else
	backends=$backend
fi

for be in $backends; do
	for b in latency overhead arming libcost blocking; do
		check "$b wrote rows for $be" <<EOF
\$1 == "$b" && \$3 == "$be" { n++ } END { exit !n }
EOF
	done
done

# kmod-deadline and signal-setitimer drop the samples whose expiry beat
# the arming call; on a slow guest that can be all of them
check "latency: samples, p50 <= p99 <= max" <<'EOF'
$1 == "latency" { v[$4] = 1; m[$4, $5] = $6 + 0 }
END {
	for (k in v) {
		may_drop = k == "kmod-deadline" || k == "signal-setitimer"
		if (may_drop && m[k, "samples"] == 0)
			continue
		if (m[k, "samples"] <= 0 || m[k, "p50"] > m[k, "p99"] ||
		    m[k, "p99"] > m[k, "max"]) {
			print "# " k ": samples " m[k, "samples"] ", p50 " \
			      m[k, "p50"] ", p99 " m[k, "p99"] ", max " m[k, "max"]
			bad = 1
		}
		n++
	}
	exit bad || !n
}
EOF

check "overhead: every quantum saw deliveries" <<'EOF'
$1 == "overhead" && $5 == "deliveries" {
	n++
	if ($6 + 0 <= 0) { print "# " $3 " " $4 ": no deliveries"; bad = 1 }
}
END { exit bad || !n }
EOF

check "blocking: preempted during the calls; kmod: no EINTR" <<'EOF'
$1 == "blocking" && $5 == "deliveries" {
	n++
	if ($6 + 0 <= 0) { print "# " $3 " " $4 ": no deliveries"; bad = 1 }
}
$1 == "blocking" && $5 == "eintr" && $3 == "kmod" && $6 + 0 != 0 {
	print "# kmod " $4 ": " $6 " EINTR"; bad = 1
}
END { exit bad || !n }
EOF

check "pool: a capacity and a p99.9 for every configuration and point" <<'EOF'
$1 == "pool" && $5 == "capacity" { cap = $6 + 0 }
$1 == "pool" && $5 == "short_p999" {
	cfg[$3]++
	# a number (0 where a slow guest's point held no short request)
	if ($6 !~ /^[0-9]+(\.[0-9]*)?(e[+-]?[0-9]+)?$/) { print "# " $3 " " $4 ": p99.9 " $6; bad = 1 }
}
END {
	# 2 workloads x 5 loads per configuration
	for (c in cfg) {
		n++
		if (cfg[c] != 10) { print "# " c ": " cfg[c] " points"; bad = 1 }
	}
	if (cap <= 0) { print "# capacity " cap; bad = 1 }
	exit bad || n < 2
}
EOF

if [ -x "$here/kpf-bench-defer" ]; then
	say "kpf-bench-defer --quick (KPF_BACKEND=${KPF_BACKEND:-auto})"
	if "$here/kpf-bench-defer" --quick; then
		echo "ok - kpf-bench-defer exits 0"
	else
		echo "not ok - kpf-bench-defer exits $?"
		fail=1
	fi
else
	say "kpf-bench-defer not built here (no libkpf.so): skipped"
fi
exit $fail
