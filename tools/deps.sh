#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages kpf needs to build, lint, test and benchmark.
# Idempotent: only missing packages are installed, and the package lists are
# refreshed only when something is missing. Needs root (or sudo) then.
set -euo pipefail

packages=(
	build-essential		# gcc, make, libc headers
	pkg-config
	python3
	kmod			# insmod/rmmod/modinfo
	xz-utils		# unpacking linux-source
	cpio			# the guest initramfs
	busybox-static		# the guest userland
	qemu-system-x86		# the guest
	linux-image-amd64	# the stock guest kernel
	linux-headers-amd64	# building kpf.ko for it
	linux-source-6.1	# debug kernel, kselftest harness, checkpatch
	flex bison bc libelf-dev libssl-dev dwarves	# kernel build
	sparse			# make lint
	liburing-dev		# io_uring (static liburing.a too)
	libcap-dev		# capabilities in tests (static libcap.a too)
	valgrind
	gnuplot-nox		# benchmark plots
	libsqlite3-dev		# libset and deferral tests (libsqlite3.so.0)
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages installed"
	exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: not root and no sudo" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps: done"
