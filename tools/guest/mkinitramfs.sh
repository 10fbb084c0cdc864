#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Pack the kpf test guest's initramfs (uncompressed newc cpio).
#
#   mkinitramfs.sh --out FILE [--module KO] [--tests DIR]... [--dyntests DIR]...
#                  [--env K=V]...
#
# Contents: busybox-static as /bin/busybox (applet links are made by /init),
# tools/guest/init as /init, KO as /lib/modules/kpf.ko, every executable
# regular file directly in each DIR as /tests/<basename of DIR>/<name>, and
# the K=V settings as /etc/kpf-guest.env (read by /init).
#
# --dyntests DIR: dynamically linked test programs. Like --tests, plus the
# shared objects in DIR next to them (found through their $ORIGIN run
# path), and every library ldd names for them: the loader at its absolute
# path, the others (libc, libkpf.so.1, ...) in /lib/x86_64-linux-gnu,
# where the guest's ld.so looks by default.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=
module=
testdirs=()
dyndirs=()
envs=()

die() { echo "mkinitramfs: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	--module) module=$2; shift 2 ;;
	--tests) testdirs+=("$2"); shift 2 ;;
	--dyntests) dyndirs+=("$2"); shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	*) die "unknown argument $1" ;;
	esac
done
[ -n "$out" ] || die "usage: $0 --out FILE [--module KO] [--tests DIR]... [--env K=V]..."

busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox missing (install busybox-static: tools/deps.sh)"
if readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter'; then
	die "$busybox is dynamically linked (install busybox-static: tools/deps.sh)"
fi

# private staging dir and temp file: concurrent packs must not collide
mkdir -p "$(dirname "$out")"
root=$(mktemp -d "$out.root.XXXXXX")
tmp=$(mktemp "$out.tmp.XXXXXX")
trap 'rm -rf "$root" "$tmp"' EXIT
mkdir -p "$root"/{bin,sbin,etc,lib/modules,tests,proc,sys,dev,tmp,root}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

if [ -n "$module" ]; then
	[ -f "$module" ] || die "module $module not found"
	cp "$module" "$root/lib/modules/kpf.ko"
fi

count=0
for dir in "${testdirs[@]}"; do
	[ -d "$dir" ] || continue
	sub=$root/tests/$(basename "$dir")
	mkdir -p "$sub"
	while IFS= read -r -d '' f; do
		cp "$f" "$sub/"
		count=$((count + 1))
	done < <(find "$dir" -maxdepth 1 -type f -perm -u+x ! -name '*.so*' -print0)
done

libdir=$root/lib/x86_64-linux-gnu
for dir in "${dyndirs[@]}"; do
	[ -d "$dir" ] || continue
	sub=$root/tests/$(basename "$dir")
	mkdir -p "$sub" "$libdir"
	while IFS= read -r -d '' f; do
		cp "$f" "$sub/"
		case $f in *.so*) continue ;; esac
		count=$((count + 1))
		# a static program or a script (run.sh --extra): no libraries
		ldd "$f" >/dev/null 2>&1 || continue
		# "name => /path (addr)" and "/lib64/ld-linux-x86-64.so.2 (addr)"
		ldd "$f" | while read -r a b c _; do
			if [ "$b" = "=>" ] && [ -f "$c" ]; then
				case $(dirname "$(readlink -f "$c")") in
				"$(readlink -f "$dir")") ;;	# next to the tests
				*) [ -e "$libdir/$a" ] || cp -L "$c" "$libdir/$a" ;;
				esac
			elif [ "${a#/}" != "$a" ] && [ -f "$a" ]; then
				mkdir -p "$root$(dirname "$a")"
				[ -e "$root$a" ] || cp -L "$a" "$root$a"
				# by name too: a dlmopen namespace (libsets) loads
				# libc's NEEDED ld-linux-x86-64.so.2 from the path
				[ -e "$libdir/$(basename "$a")" ] ||
					ln -s "$a" "$libdir/$(basename "$a")"
			fi
		done || die "ldd $f failed"
	done < <(find "$dir" -maxdepth 1 -type f \( -perm -u+x -o -name '*.so*' \) -print0)
done

{
	echo "# written by tools/guest/mkinitramfs.sh"
	for e in "${envs[@]}"; do
		v=${e#*=}
		printf "%s='%s'\n" "${e%%=*}" "${v//\'/\'\\\'\'}"
	done
} >"$root/etc/kpf-guest.env"

# /dev/console comes from the kernel's built-in default initramfs
( cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 ) >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
echo "mkinitramfs: $out ($(du -h "$out" | cut -f1), $count test(s)${module:+, kpf.ko})" >&2
