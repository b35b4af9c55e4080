#!/usr/bin/env bash
# Install everything repd needs to build, test and benchmark on Debian 12.
# Run as root. Safe to run again.
set -euo pipefail
packages=(
  # build
  gcc clang meson ninja-build pkg-config
  # libraries (see README "Dependencies" for why each is here)
  liburing-dev liblz4-dev libinih-dev libisal-dev libssl-dev libxxhash-dev
  libjson-c-dev libcunit1-dev libnbd-dev libblkid-dev
  # NBD clients and tools used by the interop tests and the quick start
  libnbd-bin nbdfuse python3-libnbd qemu-utils fio fuse3 e2fsprogs
  util-linux iproute2 jq
  # peer servers for the benchmarks
  nbdkit nbd-server qemu-system-common
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
