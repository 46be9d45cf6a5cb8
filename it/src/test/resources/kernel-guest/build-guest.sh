#!/usr/bin/env bash
# Builds the kernel guest image used by io.thermocline.it.kernel.KernelGuest: Debian's stock kernel
# (vmlinuz) and an uncompressed initramfs holding busybox, kmod, nvme-cli and iproute2's rdma tool
# with their libraries, the NVMe/TCP and NVMe/RDMA host and target modules, Soft-RoCE (rdma_rxe),
# null_blk, 9p (virtfs) and kernel TLS (tls, which NVMe/TCP TLS needs once tlshd has done the
# handshake) with their dependencies, the glibc libraries a JDK shared from the host over virtfs
# needs (libc, libm, libdl, libpthread, librt), and the guest's init script.
#
# Usage: build-guest.sh CACHE_ROOT INIT_SCRIPT
#
# The image lands in CACHE_ROOT/<kernel-release>-<key>/, where key hashes this script and the init
# script, and is reused while that directory holds its "complete" marker. apt-get runs only when a
# tool or the kernel package is missing. The kernel package is the newest generic amd64 kernel apt
# knows (linux-image-<release>-amd64-unsigned, or the one linux-image-amd64 depends on, whichever is
# newer), unless THERMOCLINE_GUEST_KERNEL_PACKAGE names another (e.g. linux-image-6.1.0-56-amd64).
#
# On success the last two lines on stdout are KERNEL_RELEASE=... and IMAGE_DIR=...
# Exit status 3 means the guest cannot be had on this machine; the line "UNAVAILABLE: <reason>" on
# stderr says why. Any other non-zero status is a failure of the build itself.
set -euo pipefail

cache_root=${1:?usage: build-guest.sh CACHE_ROOT INIT_SCRIPT}
init_script=${2:?usage: build-guest.sh CACHE_ROOT INIT_SCRIPT}

# Modules the guest loads; modprobe adds their dependencies and soft dependencies.
guest_modules="configfs null_blk nvmet nvmet-tcp nvme-tcp nvme-fabrics nvme-core
  crc32c_generic crc32c-intel virtio_pci virtio_net virtio_console
  rdma_rxe crc32_generic nvme-rdma nvmet-rdma 9p 9pnet_virtio tls"
# Taken when the kernel has them as modules (built in or absent is fine): the AES-GCM that kernel
# TLS (kTLS) sets up once tlshd has finished a handshake.
optional_modules="gcm ghash-generic aes_generic ctr cryptd crypto_simd aesni-intel ghash-clmulni-intel"

log() { echo "kernel-guest: $*" >&2; }
unavailable() { echo "UNAVAILABLE: $*" >&2; exit 3; }

as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root="none"; fi
fi
apt_get() {
  [ "$as_root" != none ] || return 1
  DEBIAN_FRONTEND=noninteractive $as_root apt-get "$@"
}
apt_updated=""
apt_update_once() {
  [ -n "$apt_updated" ] && return 0
  apt_updated=1
  log "apt-get update"
  apt_get update -qq >&2
}

is_static() { ! ldd "$1" >/dev/null 2>&1; }

# Host tools: the ones that build the image and the ones KernelGuest runs next to it.
tool_package() {
  case "$1" in
    qemu-system-x86_64) echo qemu-system-x86 ;;
    busybox) echo busybox-static ;;
    nvme) echo nvme-cli ;;
    kmod) echo kmod ;;
    perl) echo perl-base ;;
    dpkg-deb) echo dpkg ;;
    ldd) echo libc-bin ;;
    rdma) echo iproute2 ;;
  esac
}
missing_packages=()
for tool in qemu-system-x86_64 busybox nvme kmod perl dpkg-deb ldd rdma; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    missing_packages+=("$(tool_package "$tool")")
  elif [ "$tool" = busybox ] && ! is_static "$(command -v busybox)"; then
    missing_packages+=(busybox-static)
  fi
done
if [ ${#missing_packages[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || unavailable "missing ${missing_packages[*]} and no apt-get to install them"
  [ "$as_root" != none ] || unavailable "missing Debian packages ${missing_packages[*]}; install them as root: apt-get install -y --no-install-recommends ${missing_packages[*]}"
  log "installing ${missing_packages[*]}"
  if ! apt_get install -y -qq --no-install-recommends "${missing_packages[@]}" >&2; then
    apt_update_once || true
    apt_get install -y -qq --no-install-recommends "${missing_packages[@]}" >&2 \
      || unavailable "apt-get could not install ${missing_packages[*]}"
  fi
fi
busybox_bin=$(command -v busybox)
is_static "$busybox_bin" || unavailable "$busybox_bin is not statically linked; install busybox-static"

mkdir -p "$cache_root"
cache_root=$(cd "$cache_root" && pwd)
exec 9>"$cache_root/.lock"
flock 9

key=$(cat "$0" "$init_script" | sha256sum | cut -c1-12)

# The newest generic amd64 kernel apt knows (bookworm's linux-image-amd64 stays on 6.1, but bookworm
# also carries 6.12 as linux-image-6.12.*-amd64-unsigned, which has NVMe in-band authentication and
# NVMe/TCP TLS), else the one linux-image-amd64 depends on.
resolve_kernel_package() {
  if [ -n "${THERMOCLINE_GUEST_KERNEL_PACKAGE:-}" ]; then
    echo "$THERMOCLINE_GUEST_KERNEL_PACKAGE"
    return
  fi
  {
    apt-cache depends linux-image-amd64 2>/dev/null \
      | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
    apt-cache search --names-only '^linux-image-[0-9][0-9.]*[-+][a-z0-9.+~]*-?amd64-unsigned$' 2>/dev/null \
      | awk '{ print $1 }' | grep -v -e -cloud- -e -rt-
  } | awk 'NF { r = $1; sub(/^linux-image-/, "", r); sub(/-unsigned$/, "", r); print r " " $1 }' \
    | sort -V -k1,1 | tail -n 1 | awk '{ print $2 }'
}

package=$(resolve_kernel_package)
if [ -z "$package" ] && [ "$as_root" != none ]; then
  apt_update_once || true
  package=$(resolve_kernel_package)
fi
if [ -z "$package" ]; then
  newest=$(ls -1d "$cache_root"/*-"$key" 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$newest" ] && [ -f "$newest/complete" ]; then
    log "apt knows no linux-image-amd64; reusing $newest"
    echo "KERNEL_RELEASE=$(cat "$newest/kernel-release")"
    echo "IMAGE_DIR=$newest"
    exit 0
  fi
  unavailable "apt-cache knows no kernel package behind linux-image-amd64 (run apt-get update?)"
fi
release=${package#linux-image-}
# the -unsigned packages (e.g. bookworm's linux-image-6.12.*-amd64-unsigned) install the plain release
release=${release%-unsigned}
image_dir="$cache_root/$release-$key"

if [ -f "$image_dir/complete" ]; then
  echo "KERNEL_RELEASE=$release"
  echo "IMAGE_DIR=$image_dir"
  exit 0
fi

work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "downloading $package"
download() { (cd "$work" && apt-get download -q "$package" 2>&1 | grep -v -e unsandboxed -e '^Get:' >&2 || true); }
download
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ] && [ "$as_root" != none ]; then
  apt_update_once || true
  download
  deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1 || true)
fi
[ -n "$deb" ] || unavailable "apt-get download $package failed"

log "extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$work/pkg"
rm -f "$deb"
if [ -d "$work/pkg/lib/modules/$release" ]; then
  pkg_base="$work/pkg"
elif [ -d "$work/pkg/usr/lib/modules/$release" ]; then
  pkg_base="$work/pkg/usr"
else
  echo "no lib/modules/$release in $package" >&2
  exit 1
fi
vmlinuz="$work/pkg/boot/vmlinuz-$release"
[ -f "$vmlinuz" ] || { echo "no boot/vmlinuz-$release in $package" >&2; exit 1; }
depmod -b "$pkg_base" "$release"

root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/nvme,proc,sys,dev,tmp,run,lib,lib64}
modules_src="$pkg_base/lib/modules/$release"
modules_dst="$root/lib/modules/$release"
mkdir -p "$modules_dst"
for module in $guest_modules $(for m in $optional_modules; do
    modprobe -d "$pkg_base" -S "$release" --show-depends "$m" >/dev/null 2>&1 && echo "$m"; done); do
  modprobe -d "$pkg_base" -S "$release" --show-depends "$module" \
    | awk '$1 == "insmod" { print $2 }' \
    | while read -r ko; do
        rel=${ko#"$modules_src"/}
        mkdir -p "$modules_dst/$(dirname "$rel")"
        cp "$ko" "$modules_dst/$rel"
      done
done
cp "$modules_src"/modules.order "$modules_src"/modules.builtin "$modules_src"/modules.builtin.modinfo "$modules_dst"/
depmod -b "$root" "$release"
log "modules: $(find "$modules_dst" -name '*.ko*' | wc -l) files"

# Copies an executable and the shared libraries it loads, each under its own path.
copy_with_libraries() {
  local binary=$1 destination=$2
  mkdir -p "$root/$(dirname "$destination")"
  cp -L "$binary" "$root/$destination"
  ldd "$binary" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | while read -r library; do
    mkdir -p "$root/$(dirname "$library")"
    cp -L "$library" "$root/$library"
  done
}
cp "$busybox_bin" "$root/bin/busybox"
copy_with_libraries "$(readlink -f "$(command -v kmod)")" /sbin/kmod
for name in modprobe insmod rmmod lsmod modinfo depmod; do ln -s kmod "$root/sbin/$name"; done
copy_with_libraries "$(command -v nvme)" /usr/sbin/nvme
copy_with_libraries "$(command -v rdma)" /sbin/rdma
# A JDK shared from the host over virtfs links these besides libc (copied above with nvme-cli).
for library in libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1; do
  path=$("$(command -v ldconfig || echo /sbin/ldconfig)" -p | awk -v name="$library" '$1 == name && /x86-64/ && !found { print $NF; found = 1 }')
  [ -n "$path" ] || { echo "no $library on this machine" >&2; exit 1; }
  mkdir -p "$root/$(dirname "$path")"
  cp -L "$path" "$root/$path"
done
cp "$init_script" "$root/init"
chmod 755 "$root/init"
echo "$release" > "$root/etc/kernel-release"

staging="$work/image"
mkdir -p "$staging"
cp "$vmlinuz" "$staging/vmlinuz"
(cd "$root" && find . | LC_ALL=C sort | "$busybox_bin" cpio -o -H newc -R 0:0 2>/dev/null) > "$staging/initramfs.cpio"
echo "$release" > "$staging/kernel-release"
touch "$staging/complete"
rm -rf "$image_dir"
mv "$staging" "$image_dir"
log "built $image_dir (initramfs $(du -k "$image_dir/initramfs.cpio" | cut -f1) KiB)"

echo "KERNEL_RELEASE=$release"
echo "IMAGE_DIR=$image_dir"
