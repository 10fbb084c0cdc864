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

	if (n["latency"]) printf "\n1. delivery latency, intended expiry -> handler\n"
	if (n["latency"]) printf "   %-13s %-20s %-7s %10s %10s %10s   %s\n", "where", "variant", "backend", "p50", "p99", "max", "kmod/signal p50, p99"
	for (i = 1; i <= n["where"]; i++) {
		w = order["where", i]
		for (j = 1; j <= n["latency"]; j++) {
			split(order["latency", j], k, SUBSEP); va = k[1]; be = k[2]
			if (!(("latency", w, be, va, "p50") in val)) continue
			r = ""
			if (("latency", w, be, va, "p50_ratio_vs_signal") in val)
				r = sprintf("%.2fx  %.2fx", val["latency", w, be, va, "p50_ratio_vs_signal"], val["latency", w, be, va, "p99_ratio_vs_signal"])
			printf "   %-13s %-20s %-7s %10s %10s %10s   %s\n", w, va, be,
				fmt(val["latency", w, be, va, "p50"], "ns"), fmt(val["latency", w, be, va, "p99"], "ns"),
				fmt(val["latency", w, be, va, "max"], "ns"), r
		}
	}

	if (n["overhead"]) printf "\n2. preemption overhead: extra time for the same work, preempted every quantum\n"
	if (n["overhead"]) printf "   %-13s %-16s %14s %14s   %s\n", "where", "quantum", "kmod", "signal", "kmod/signal"
	for (i = 1; i <= n["where"]; i++) {
		w = order["where", i]
		for (j = 1; j <= n["overhead"]; j++) {
			split(order["overhead", j], k, SUBSEP); va = k[1]; be = k[2]
			if (be != "signal" && be != "kmod") continue
			if (done2[w, va]++) continue
			km = ov(w, "kmod", va)
			sg = ov(w, "signal", va)
			r = (("overhead", w, "kmod", va, "overhead_ratio_vs_signal") in val) ? fmt(val["overhead", w, "kmod", va, "overhead_ratio_vs_signal"], "ratio") : ""
			q = va; sub(/^quantum-/, "", q); sub(/us$/, " us", q)
			printf "   %-13s %-16s %14s %14s   %s\n", w, q, km, sg, r
		}
	}

	if (n["arming"]) printf "\n3. arming cost, time per operation\n"
	if (n["arming"]) printf "   %-13s %-7s %-28s %10s   %s\n", "where", "backend", "operation", "time/op", "vs timer_settime arm"
	for (i = 1; i <= n["where"]; i++) {
		w = order["where", i]
		for (j = 1; j <= n["arming"]; j++) {
			split(order["arming", j], k, SUBSEP); va = k[1]; be = k[2]
			if (!(("arming", w, be, va, "time_per_op") in val)) continue
			r = (("arming", w, be, va, "ratio_vs_timer_settime_arm") in val) ? fmt(val["arming", w, be, va, "ratio_vs_timer_settime_arm"], "ratio") : ""
			printf "   %-13s %-7s %-28s %10s   %s\n", w, be, va, fmt(val["arming", w, be, va, "time_per_op"], "ns"), r
		}
	}

	if (n["libcost"]) printf "\n4. library costs, time per operation\n"
	if (n["libcost"]) printf "   %-13s %-9s %-44s %10s\n", "where", "backend", "operation", "time/op"
	for (i = 1; i <= n["where"]; i++) {
		w = order["where", i]
		for (j = 1; j <= n["libcost"]; j++) {
			split(order["libcost", j], k, SUBSEP); va = k[1]; be = k[2]
			if (!(("libcost", w, be, va, "time_per_op") in val)) continue
			printf "   %-13s %-9s %-44s %10s\n", w, be, va, fmt(val["libcost", w, be, va, "time_per_op"], "ns")
		}
	}

	if (n["blocking"]) printf "\n5. blocking system calls under preemption: EINTR seen by user code\n"
	if (n["blocking"]) printf "   %-13s %-7s %-11s %8s %10s\n", "where", "backend", "syscall", "calls", "EINTR"
	for (i = 1; i <= n["where"]; i++) {
		w = order["where", i]
		for (j = 1; j <= n["blocking"]; j++) {
			split(order["blocking", j], k, SUBSEP); va = k[1]; be = k[2]
			if (!(("blocking", w, be, va, "eintr") in val)) continue
			printf "   %-13s %-7s %-11s %8d %10d\n", w, be, va, val["blocking", w, be, va, "calls"], val["blocking", w, be, va, "eintr"]
		}
	}
	if (n["pool"]) printf "\n6. pool: short-request p99.9 at each load (pool.csv has p50/p99 too)\n"
	if (n["pool"]) printf "   %-13s %-18s %-26s %12s\n", "where", "config", "workload", "p99.9"
	for (i = 1; i <= n["where"]; i++) {
		w = order["where", i]
		for (j = 1; j <= n["pool"]; j++) {
			split(order["pool", j], k, SUBSEP); va = k[1]; be = k[2]
			if (!(("pool", w, be, va, "short_p999") in val)) continue
			printf "   %-13s %-18s %-26s %9.0f us\n", w, be, va, val["pool", w, be, va, "short_p999"]
		}
	}
	printf "====================================================================================\n"
}' $files
