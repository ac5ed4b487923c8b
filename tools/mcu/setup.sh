#!/usr/bin/env bash
# Install what `python -m tools.mcu.check` needs to build and run the model's C on an emulated
# Cortex-M4, from Debian's packages: the bare-metal GCC (with binutils), newlib (its nano and
# rdimon specs) and QEMU's system emulator (mps2-an386). Returns at once when they are already
# there; apt otherwise (about 30 s). Needs root for apt-get (uses sudo otherwise).
set -euo pipefail
PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)

installed() {
  local tool specs
  for tool in arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-objdump qemu-system-arm; do
    command -v "$tool" >/dev/null || return 1
  done
  for specs in nano.specs rdimon.specs; do  # newlib: gcc prints the bare name when it has none
    [ -f "$(arm-none-eabi-gcc -print-file-name="$specs")" ] || return 1
  done
}

installed && exit 0
# shellcheck source=tools/apt_install.sh
. "$(dirname "$0")/../apt_install.sh"
apt_install "mcu setup" "${PACKAGES[@]}"
installed || { echo "mcu setup: ${PACKAGES[*]} installed, but the cross compiler, newlib or qemu-system-arm is still not found; check PATH" >&2; exit 1; }
echo "mcu setup: done" >&2
