#!/usr/bin/env bash
# Fetches the user-space half of the Linux kernel's NVMe/TCP TLS for the kernel guest that
# io.thermocline.it.kernel.KernelGuest boots: tlshd (ktls-utils, the daemon the kernel hands TLS
# handshakes to), keyctl (keyutils) and an nvme-cli that knows --tls, --tls-key and check-tls-key
# --insert. Debian 12 has no ktls-utils and its nvme-cli (2.3) has no --tls, so they come from
# Debian 13 (trixie), with every shared library they load, trixie's glibc and its loader included.
# The guest runs them from a read-only virtfs share through that loader
# (ld-linux-x86-64.so.2 --library-path ...), so they never meet the guest's or this machine's libc.
#
# Usage: tls-tools.sh CACHE_ROOT
#
# apt runs with a private configuration under CACHE_ROOT (its own sources list naming trixie, its
# own package lists and archive cache) and leaves this machine's apt configuration alone; the
# mirror is THERMOCLINE_DEBIAN_MIRROR, default http://deb.debian.org/debian. The tree lands in
# CACHE_ROOT/tls-tools-<key>/root, where key hashes this script, and is reused while its "complete"
# marker is there.
#
# On success the last line on stdout is TLS_TOOLS_DIR=<the tree>. Exit status 3 means the tools
# cannot be had on this machine; the line "UNAVAILABLE: <reason>" on stderr says why.
set -euo pipefail

cache_root=${1:?usage: tls-tools.sh CACHE_ROOT}
mirror=${THERMOCLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=trixie

# The programs and, for each, the packages of the libraries it loads (checked below with the loader's --list).
packages="ktls-utils keyutils nvme-cli libnvme1t64 libc6 libgcc-s1 libatomic1 libglib2.0-0t64 libgnutls30t64
  libkeyutils1 libnl-3-200 libnl-genl-3-200 libjson-c5 libssl3t64 libffi8 libmount1 libblkid1 libselinux1
  libpcre2-8-0 zlib1g libidn2-0 libunistring5 libtasn1-6 libnettle8t64 libhogweed6t64 libgmp10 libp11-kit0 libzstd1"
programs="usr/sbin/tlshd usr/sbin/nvme usr/bin/keyctl"

log() { echo "kernel-guest: $*" >&2; }
unavailable() { echo "UNAVAILABLE: $*" >&2; exit 3; }

command -v apt-get >/dev/null 2>&1 || unavailable "no apt-get to fetch ktls-utils, keyutils and nvme-cli from Debian $suite"
command -v dpkg-deb >/dev/null 2>&1 || unavailable "no dpkg-deb to unpack Debian packages"

mkdir -p "$cache_root"
cache_root=$(cd "$cache_root" && pwd)
exec 9>"$cache_root/.tls-tools.lock"
flock 9

key=$(sha256sum "$0" | cut -c1-12)
dir="$cache_root/tls-tools-$key"
if [ -f "$dir/complete" ]; then
  echo "TLS_TOOLS_DIR=$dir/root"
  exit 0
fi

work=$(mktemp -d "$cache_root/.tls-tools.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
echo "deb $mirror $suite main" > "$work/sources.list"
apt_options=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work" -o "Dir::Cache::Archives=$work/archives"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Dir::State::status=/dev/null"
  -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")

log "apt-get update ($mirror $suite, private lists)"
apt-get "${apt_options[@]}" update -qq >&2 || unavailable "apt-get update of $mirror $suite failed (no network to the Debian mirror?)"
log "downloading $(echo $packages | wc -w) packages from $suite"
# shellcheck disable=SC2086
(cd "$work/debs" && apt-get "${apt_options[@]}" download -q $packages 2>&1 | grep -v -e unsandboxed -e '^Get:' >&2) || true
for p in $packages; do
  ls "$work/debs/${p}_"*.deb >/dev/null 2>&1 || unavailable "apt-get download $p from $suite failed"
done

root="$work/root"
mkdir -p "$root"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root"
done
libdir="$root/usr/lib/x86_64-linux-gnu"
loader="$libdir/ld-linux-x86-64.so.2"
[ -x "$loader" ] || { echo "no ld-linux-x86-64.so.2 in $suite's libc6" >&2; exit 1; }
for program in $programs; do
  [ -f "$root/$program" ] || { echo "no $program in the packages" >&2; exit 1; }
  listing=$("$loader" --library-path "$libdir" --list "$root/$program" 2>&1) || { echo "$program: $listing" >&2; exit 1; }
  # every library must resolve inside the tree, never to this machine's /lib
  if echo "$listing" | grep -v -e linux-vdso -e "ld-linux-x86-64.so.2 =>" | grep -v -F "$libdir" | grep -q '=>'; then
    echo "$program loads libraries from outside the tree (a package is missing from tls-tools.sh):" >&2
    echo "$listing" >&2
    exit 1
  fi
done
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale"

rm -rf "$dir"
mkdir -p "$dir"
mv "$root" "$dir/root"
touch "$dir/complete"
log "built $dir ($(du -sk "$dir/root" | cut -f1) KiB)"
echo "TLS_TOOLS_DIR=$dir/root"
