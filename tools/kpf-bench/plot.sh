#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# plot.sh RESULTS_DIR: PNG plots of kpf-bench's files with gnuplot.
#
# For every <where>/ directory of RESULTS_DIR (native, guest-tcg,
# guest-icount):
#   latency-cdf-<where>.png  CDF of every latency variant, log x
#   overhead-<where>.png     overhead % against the quantum, log-log
#   pool-<where>.png         short-request p99.9 against offered load, one
#                            line per pool configuration, one panel per
#                            long-request fraction
# Without gnuplot it says so and writes nothing (the CSV files remain).
set -euo pipefail

dir=${1:?usage: plot.sh RESULTS_DIR}
if ! command -v gnuplot >/dev/null; then
	echo "plot.sh: gnuplot not installed (apt-get install gnuplot-nox): no plots" >&2
	exit 0
fi
term='pngcairo size 960,600 font "sans,11"'
gnuplot -e 'set terminal pngcairo' 2>/dev/null </dev/null || term='png size 960,600'

# the lines every plot starts with: terminal, output file[, title]
preamble() {
	echo "set terminal $term"
	echo "set termoption noenhanced"
	echo "set output '$1'"
	[ -z "${2:-}" ] || echo "set title \"$2\\n$label\""
}

describe() {
	case $1 in
	native) echo "native ($(uname -r), $(nproc) CPUs)" ;;
	guest-tcg) echo "QEMU TCG guest, 2 vCPUs: emulated time, compare ratios" ;;
	guest-icount) echo "QEMU -icount shift=0 guest, 1 vCPU: virtual time, 1 ns = 1 instruction" ;;
	*) echo "$1" ;;
	esac
}

for sub in "$dir"/*/; do
	where=$(basename "$sub")
	[ -d "$sub" ] || continue
	label=$(describe "$where")

	cdf=$sub/latency_cdf.dat
	if [ -s "$cdf" ]; then
		plots=()
		i=0
		while read -r name; do
			plots+=("'$cdf' index $i using (\$1/1000.0):2 with lines lw 2 title '$name'")
			i=$((i + 1))
		done < <(sed -n 's/^# \([^ ]*\) (.*$/\1/p' "$cdf")
		out=$dir/latency-cdf-$where.png
		{ preamble "$out" \
			"kpf-bench: timer expiry -> first instruction of the handler"
		cat <<-GP
		set xlabel 'latency from the intended expiry [us] (log scale)'
		set ylabel 'fraction of samples'
		set logscale x
		set format x '%g'
		set xrange [0.5:*]
		set yrange [0:1]
		set grid xtics ytics mxtics
		set key bottom right box opaque
		plot $(IFS=,; echo "${plots[*]}")
		GP
		} | gnuplot
		echo "plot.sh: $out"
	fi

	ov=$sub/overhead.dat
	if [ -s "$ov" ]; then
		out=$dir/overhead-$where.png
		lines=()
		awk '!/^#/ && $2 >= 0 { f = 1 } END { exit !f }' "$ov" &&
			lines+=("'$ov' using 1:(pos(\$2)) with linespoints lw 2 pt 7 title 'kmod (kpf upcall)'")
		awk '!/^#/ && $3 >= 0 { f = 1 } END { exit !f }' "$ov" &&
			lines+=("'$ov' using 1:(pos(\$3)) with linespoints lw 2 pt 5 title 'signal (timer_create)'")
		{ preamble "$out" \
			"kpf-bench: extra time for the same work when preempted every quantum"
		cat <<-GP
		set xlabel 'quantum [us] (log scale)'
		set ylabel 'overhead [%] (log scale)'
		set logscale xy
		set format x '%g'
		set format y '%g'
		set xtics (5, 10, 20, 50, 100, 1000)
		set grid xtics ytics
		set key top right box opaque
		pos(v) = v > 0 ? v : 1/0
		plot $(IFS=,; echo "${lines[*]}")
		GP
		} | gnuplot
		echo "plot.sh: $out"
	fi

	pool=$sub/pool.csv
	if [ -s "$pool" ]; then
		out=$dir/pool-$where.png
		fracs=$(awk -F, 'NR > 1 { print $1 }' "$pool" | sort -u)
		nf=$(echo "$fracs" | wc -l)
		# a line's points together (kpf-bench runs load by load, and a
		# row filtered out to 1/0 breaks the line)
		data=$(mktemp)
		tail -n +2 "$pool" | sort -t, -s -k1,1 -k2,2 > "$data"
		{
			term=${term/960,600/960,$((420 * nf))} preamble "$out"
			echo "set datafile separator ','"
			echo "set multiplot layout $nf,1 title \"kpf-bench pool: short-request p99.9 latency vs offered load (open loop, 1 worker)\\n$label\""
			echo "set xlabel 'offered load'"
			echo "set ylabel 'short p99.9 [us] (log)'"
			echo "set logscale y"
			echo "set grid xtics ytics"
			echo "set key top left box opaque"
			for f in $fracs; do
				echo "set title 'long fraction $(awk -v f="$f" 'BEGIN { printf "%g%%", 100 * f }'), short:long 1:1000'"
				plots=()
				for c in $(awk -F, 'NR > 1 { print $2 }' "$pool" | awk '!s[$0]++'); do
					plots+=("'$data' using (\$1 == $f && strcol(2) eq '$c' ? \$3 : 1/0):8 with linespoints lw 2 title '$c'")
				done
				echo "plot $(IFS=,; echo "${plots[*]}")"
			done
			echo "unset multiplot"
		} | gnuplot
		rm -f "$data"
		echo "plot.sh: $out"
	fi
done
