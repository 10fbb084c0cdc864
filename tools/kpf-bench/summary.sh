#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# summary.sh RESULTS_DIR: the closing table of make run, from the
# <where>/results.csv files kpf-bench wrote (bench,where,backend,variant,
# metric,value,unit). Every number carries its unit, backend and where it
# was measured; kmod/signal ratios stand next to them.
set -euo pipefail

dir=${1:?usage: summary.sh RESULTS_DIR}
files=$(ls "$dir"/*/results.csv 2>/dev/null || true)
[ -n "$files" ] || { echo "summary.sh: no results in $dir" >&2; exit 1; }

# shellcheck disable=SC2086
awk -F, '
function fmt(v, u) {
	if (u == "ns") {
		if (v < 10000) return sprintf("%.0f ns", v)
		if (v < 10000000) return sprintf("%.1f us", v / 1000)
		return sprintf("%.1f ms", v / 1000000)
	}
	if (u == "%") return v >= 100000 ? ">100000 %" : sprintf("%.1f %%", v)
	if (u == "ratio") return sprintf("%.2fx", v)
	return sprintf("%g %s", v, u)
}
function ov(w, be, va) {
	if (!(("overhead", w, be, va, "overhead") in val)) return "-"
	if (val["overhead", w, be, va, "starved"]) return "starved"
	return fmt(val["overhead", w, be, va, "overhead"], "%")
}
function add(list, item) {
	if (!((list, item) in seen)) {
		seen[list, item] = 1
		order[list, ++n[list]] = item
	}
}
function has(b, w, be, va, m) { return (b, w, be, va, m) in val }
function get(b, w, be, va, m) { return val[b, w, be, va, m] }
# one row of section @b, for variant @va of backend @be measured at @w
function row(b, w, be, va,   r) {
	if (b == "latency" && has(b, w, be, va, "p50")) {
		if (has(b, w, be, va, "p50_ratio_vs_signal"))
			r = sprintf("%.2fx  %.2fx", get(b, w, be, va, "p50_ratio_vs_signal"), get(b, w, be, va, "p99_ratio_vs_signal"))
		printf "   %-13s %-20s %-7s %10s %10s %10s   %s\n", w, va, be,
			fmt(get(b, w, be, va, "p50"), "ns"), fmt(get(b, w, be, va, "p99"), "ns"), fmt(get(b, w, be, va, "max"), "ns"), r
	} else if (b == "overhead" && (be == "signal" || be == "kmod") && !done2[w, va]++) {
		if (has(b, w, "kmod", va, "overhead_ratio_vs_signal"))
			r = fmt(get(b, w, "kmod", va, "overhead_ratio_vs_signal"), "ratio")
		q = va; sub(/^quantum-/, "", q); sub(/us$/, " us", q)
		printf "   %-13s %-16s %14s %14s   %s\n", w, q, ov(w, "kmod", va), ov(w, "signal", va), r
	} else if (b == "arming" && has(b, w, be, va, "time_per_op")) {
		if (has(b, w, be, va, "ratio_vs_timer_settime_arm"))
			r = fmt(get(b, w, be, va, "ratio_vs_timer_settime_arm"), "ratio")
		printf "   %-13s %-7s %-28s %10s   %s\n", w, be, va, fmt(get(b, w, be, va, "time_per_op"), "ns"), r
	} else if (b == "libcost" && has(b, w, be, va, "time_per_op")) {
		printf "   %-13s %-9s %-44s %10s\n", w, be, va, fmt(get(b, w, be, va, "time_per_op"), "ns")
	} else if (b == "blocking" && has(b, w, be, va, "eintr")) {
		printf "   %-13s %-7s %-11s %8d %10d\n", w, be, va, get(b, w, be, va, "calls"), get(b, w, be, va, "eintr")
	} else if (b == "pool" && has(b, w, be, va, "short_p999")) {
		printf "   %-13s %-18s %-26s %9.0f us\n", w, be, va, get(b, w, be, va, "short_p999")
	}
}
# a table: every variant of benchmark @b, grouped by where it ran
function section(b, title, head,   i, j, k) {
	if (!n[b]) return
	printf "\n%s\n   %s\n", title, head
	for (i = 1; i <= n["where"]; i++)
		for (j = 1; j <= n[b]; j++) {
			split(order[b, j], k, SUBSEP)
			row(b, order["where", i], k[2], k[1])
		}
}
FNR == 1 { next }
{
	b = $1; w = $2; be = $3; va = $4; m = $5; v = $6 + 0; u = $7
	val[b, w, be, va, m] = v
	unit[b, w, be, va, m] = u
	add("where", w)
	add(b, va SUBSEP be)
}
END {
	printf "\n================================ kpf-bench summary ================================\n"
	printf "where: native = this machine; guest-tcg = QEMU TCG guest (emulated CPU: absolute\n"
	printf "times are not hardware times, compare the kmod/signal ratios); guest-icount =\n"
	printf "QEMU -icount shift=0 (virtual time, 1 ns = 1 guest instruction, repeatable)\n"

	section("latency", "1. delivery latency, intended expiry -> handler",
		sprintf("%-13s %-20s %-7s %10s %10s %10s   %s", "where", "variant", "backend", "p50", "p99", "max", "kmod/signal p50, p99"))
	section("overhead", "2. preemption overhead: extra time for the same work, preempted every quantum",
		sprintf("%-13s %-16s %14s %14s   %s", "where", "quantum", "kmod", "signal", "kmod/signal"))
	section("arming", "3. arming cost, time per operation",
		sprintf("%-13s %-7s %-28s %10s   %s", "where", "backend", "operation", "time/op", "vs timer_settime arm"))
	section("libcost", "4. library costs, time per operation",
		sprintf("%-13s %-9s %-44s %10s", "where", "backend", "operation", "time/op"))
	section("blocking", "5. blocking system calls under preemption: EINTR seen by user code",
		sprintf("%-13s %-7s %-11s %8s %10s", "where", "backend", "syscall", "calls", "EINTR"))
	section("pool", "6. pool: short-request p99.9 at each load (pool.csv has p50/p99 too)",
		sprintf("%-13s %-18s %-26s %12s", "where", "config", "workload", "p99.9"))
	printf "====================================================================================\n"
}' $files
