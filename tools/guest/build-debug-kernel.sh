#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the kpf debug kernel (KASAN, KMEMLEAK, lockdep, UBSAN, ...) from
# Debian's linux-source-6.1 package, once, into a cache outside the checkout.
#
#   tools/guest/build-debug-kernel.sh            build if needed, print the tree
#   tools/guest/build-debug-kernel.sh --print-dir  print the tree, never build
#
# The tree is ${KPF_CACHE:-/var/cache/kpf}/debug-kernel-<key>/linux, where
# <key> hashes the option lines of tools/guest/debug.config, the version of
# the linux-source-6.1 package, the compiler version and RECIPE below: the
# kernel is rebuilt only when one of those changes. The tree is a complete in-place build
# (arch/x86/boot/bzImage, vmlinux, Module.symvers), so it doubles as KDIR for
# out-of-tree modules. Progress goes to stderr; the tree path is the only
# thing printed on stdout. After a successful build, trees of other keys in
# the cache are deleted (KPF_KEEP_OLD_KERNELS=1 keeps them).
set -euo pipefail

RECIPE=1	# bump when the steps below change in a way that alters the result
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug.config
tarball=/usr/src/linux-source-6.1.tar.xz
cache=${KPF_CACHE:-/var/cache/kpf}
jobs=${KPF_JOBS:-$(nproc)}

log() { printf 'debug-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -r "$tarball" ] || die "$tarball missing (run tools/deps.sh)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
	die "package linux-source-6.1 not installed (run tools/deps.sh)"
ccver=$(${CC:-gcc} --version | head -n1)
# only the option lines count: editing a comment does not rebuild
key=$( { echo "recipe $RECIPE"; echo "source $srcver"; echo "cc $ccver";
	 grep -E '^(CONFIG_|# CONFIG_)' "$fragment"; } | sha256sum | cut -c1-16)
dir=$cache/debug-kernel-$key
tree=$dir/linux

if [ "${1:-}" = --print-dir ]; then
	echo "$tree"
	exit 0
fi

mkdir -p "$cache"
# one builder at a time; a second caller waits and then finds it done
exec 9>"$cache/.debug-kernel.lock"
flock 9

if [ -e "$dir/.kpf-built" ]; then
	log "up to date: $tree"
	echo "$tree"
	exit 0
fi

start=$(date +%s)
log "building $tree (key $key: linux-source-6.1 $srcver, $jobs jobs)"
rm -rf "$dir"
mkdir -p "$dir"

log "[1/5] extracting $tarball"
tar -xJf "$tarball" -C "$dir"
mv "$dir/linux-source-6.1" "$tree"

cd "$tree"
mk() { make -s ARCH=x86_64 "$@"; }

log "[2/5] configuring: tinyconfig + $(basename "$fragment")"
mk tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$fragment" >"$dir/merge.log" 2>&1 ||
	{ cat "$dir/merge.log" >&2; die "merge_config.sh failed"; }
mk olddefconfig >/dev/null

log "[3/5] verifying the configuration"
missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) ;;
	*) continue ;;
	esac
	if ! grep -qxF -- "$line" .config; then
		got=$(grep -E "^(# )?${line%%=*}[= ]" .config || echo "absent")
		log "  wanted $line, got: $got"
		missing=$((missing + 1))
	fi
done <"$fragment"
[ "$missing" -eq 0 ] || die "$missing option(s) of $fragment did not stick (unmet dependencies?)"
log "  all $(grep -c '^CONFIG_' "$fragment") options are set"

log "[4/5] compiling (bzImage, vmlinux, Module.symvers; ~7 min on 2 cores)"
if ! make ARCH=x86_64 -j"$jobs" all >"$dir/build.log" 2>&1; then
	tail -n 40 "$dir/build.log" >&2
	die "kernel build failed, see $dir/build.log"
fi
[ -s Module.symvers ] || die "no Module.symvers after the build"
[ -s arch/x86/boot/bzImage ] || die "no bzImage after the build"

log "[5/5] modules_prepare"
mk modules_prepare >>"$dir/build.log" 2>&1

end=$(date +%s)
echo "$((end - start))" >"$dir/build-seconds"
touch "$dir/.kpf-built"
# drop trees of older keys (1.8 GB each) unless asked to keep them
if [ -z "${KPF_KEEP_OLD_KERNELS:-}" ]; then
	for old in "$cache"/debug-kernel-*; do
		[ "$old" = "$dir" ] || [ ! -d "$old" ] || { log "removing stale $old"; rm -rf "$old"; }
	done
fi
log "done in $((end - start)) s: $(cat include/config/kernel.release)"
echo "$tree"
