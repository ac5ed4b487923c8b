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
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "mcu setup: installing ${PACKAGES[*]} (apt)" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
         --no-install-recommends "${PACKAGES[@]}"; } >"$log" 2>&1; then
  reason="$(grep -m1 '^E:' "$log" || tail -n1 "$log")"
  echo "mcu setup: apt-get failed (${reason:-no message}); install ${PACKAGES[*]} by hand (sudo apt-get install --no-install-recommends ${PACKAGES[*]}), then rerun" >&2
  exit 1
fi
installed || { echo "mcu setup: ${PACKAGES[*]} installed, but the cross compiler, newlib or qemu-system-arm is still not found; check PATH" >&2; exit 1; }
echo "mcu setup: done" >&2
