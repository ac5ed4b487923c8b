#!/usr/bin/env bash
# Build (or reuse) the aarch64 environment that `make test-arm64` runs the runtime in:
#   - qemu-aarch64 10 (user mode) from Debian trixie's qemu-user package, unpacked, not installed;
#   - an aarch64 Debian trixie root file system with its CPython 3.13 (debootstrap --foreign:
#     the .debs are unpacked with dpkg-deb -x, nothing runs under emulation);
#   - the runtime's wheels for aarch64, pinned with hashes in tools/arm64/requirements.lock.
# Everything lands in $ARM64_HOME/<key> (default ~/.cache/edge-digits/arm64), the key being a
# hash of this script and the lock, so a second run on the same machine reuses it; the checks
# themselves always run. trixie is a moving suite: a new build may get newer point releases of
# QEMU and Python than a cached one (check.sh prints the QEMU version; the self-check vouches
# for whichever it is).
# Prints the folder on stdout. Needs root for apt-get and debootstrap (uses sudo otherwise).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SUITE=trixie
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export PATH="$PATH:/usr/sbin:/sbin"  # debootstrap lives in /usr/sbin
log() { echo "arm64 setup: $*" >&2; }

key="$( { cat "$HERE/setup.sh" "$HERE/requirements.lock"; echo "$SUITE $MIRROR"; } | sha256sum | cut -c1-12)"
BASE="${ARM64_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-digits/arm64}"
HOME_DIR="$BASE/$key"
mkdir -p "$BASE"
# One set-up at a time per cache folder: a second run waits, then finds the environment ready.
exec 8>"$BASE/.lock"
flock -x 8
if [ -f "$HOME_DIR/.complete" ]; then
  log "reusing $HOME_DIR"
  echo "$HOME_DIR"; exit 0
fi
# Left by a set-up that was killed outright (the lock says none is running now).
rm -rf "$BASE"/.building.*

command -v debootstrap >/dev/null || {
  log "installing debootstrap (apt)"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq debootstrap >/dev/null
}

# Built beside the final folder and renamed into place at the end: an interrupted set-up
# leaves no half-made environment that a later run would trust.
WORK="$(mktemp -d "$BASE/.building.XXXXXX")"
busy=""  # a background step in its own process group, killed whole if the set-up is stopped
trap '[ -z "$busy" ] || kill -- -"$busy" 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'log "interrupted; nothing kept"; exit 130' INT TERM HUP

# 1. qemu-user from trixie: its 10.x runs onnxruntime and LiteRT without a fake /proc/cpuinfo
#    (bookworm's 7.2 crashes them on import). Fetched with a throwaway apt list; the host's
#    apt configuration is not touched.
log "fetching qemu-user from $SUITE"
APT="$WORK/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/etc/preferences.d"
echo "deb $MIRROR $SUITE main" > "$APT/etc/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$APT/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$APT/etc/preferences.d"
          -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Dir::State::status=/dev/null"
          -o "APT::Architecture=amd64" -o "APT::Architectures=amd64" -o "Debug::NoLocking=1"
          -o "APT::Sandbox::User=root")
apt-get "${APT_OPTS[@]}" -qq update
(cd "$WORK" && apt-get "${APT_OPTS[@]}" -qq download qemu-user)
dpkg-deb -x "$WORK"/qemu-user_*.deb "$WORK/qemu"
QEMU="$(find "$WORK/qemu" -name 'qemu-aarch64' -type f | head -1)"
[ -x "$QEMU" ] || { log "no qemu-aarch64 in the qemu-user package"; exit 1; }
mkdir -p "$WORK/bin" && cp "$QEMU" "$WORK/bin/qemu-aarch64"
rm -rf "$WORK/qemu" "$WORK"/qemu-user_*.deb "$APT"

# 2. The aarch64 root: download with debootstrap --foreign, then unpack every .deb here.
log "debootstrap --foreign --arch=arm64 $SUITE (python3)"
$SUDO debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 \
  "$SUITE" "$WORK/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -5 "$WORK/debootstrap.log" >&2; log "debootstrap failed (log above)"; exit 1; }
[ -z "$SUDO" ] || $SUDO chown -R "$(id -u):$(id -g)" "$WORK/root"
for deb in "$WORK"/root/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$WORK/root"; done
rm -rf "$WORK"/root/var/cache/apt/archives/*.deb "$WORK/root/debootstrap"
# QEMU's -L prefix looks every absolute path up in the root first: an empty /proc, /tmp or /dev
# there would hide the host's (psutil would see no processes, a listing of /tmp would be empty).
(cd "$WORK/root" && rm -rf proc sys dev run tmp root home mnt media srv boot)

# 3. The runtime's wheels for aarch64, checked against the lock's hashes.
log "installing the aarch64 wheels (tools/arm64/requirements.lock)"
PY="${PYTHON:-python3}"
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile --require-hashes \
  --target "$WORK/site" --only-binary=:all: --python-version 3.13 --implementation cp \
  --abi cp313 --abi abi3 --abi none \
  --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
  --platform manylinux_2_17_aarch64 \
  -r "$HERE/requirements.lock" 2> >(grep -v "is ignored: it is neither a file" >&2)

# 4. `python3`: the aarch64 CPython under QEMU with a named CPU model (QEMU's default `max`
#    model has run LiteRT's int8 kernels wrongly: see selfcheck.py). argv[0] is this script, so
#    sys.executable, and every subprocess the tests start, runs under the same emulation.
cat > "$WORK/bin/python3" <<'PY'
#!/bin/sh
HERE="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONHOME="$HERE/root/usr" PYTHONNOUSERSITE=1
export PYTHONPATH="$HERE/site${PYTHONPATH:+:$PYTHONPATH}"
exec "$HERE/bin/qemu-aarch64" -cpu "${ARM64_CPU:-cortex-a72}" -L "$HERE/root" -0 "$HERE/bin/python3" \
  "$HERE/root/usr/bin/python3" "$@"
PY
chmod +x "$WORK/bin/python3"

# 5. Bytecode, compiled once under emulation: Debian compiles its .pyc files in maintainer
#    scripts, which an unpacked root never ran, and the wheels were installed with --no-compile.
#    Without it every emulated interpreter compiles what it imports (start-up 0.5 s, not 0.3 s).
log "compiling bytecode under emulation"
setsid "$WORK/bin/python3" -m compileall -q -j 0 -x '/(test|tests|idlelib|tkinter|turtledemo)/' \
  "$WORK/root/usr/lib/python3.13" "$WORK/site" >/dev/null &
busy=$!
wait "$busy"
busy=""

touch "$WORK/.complete"
rm -rf "$HOME_DIR"
mv "$WORK" "$HOME_DIR"
trap - EXIT
# Environments built by an older set-up or lock are never used again. Only folders this script
# made are removed (a 12-hex-digit name holding .complete), and none that a check is using
# (check.sh holds a shared lock on its environment's .complete while it runs).
for old in "$BASE"/*/; do
  old="${old%/}"
  [[ "$(basename "$old")" =~ ^[0-9a-f]{12}$ ]] && [ -f "$old/.complete" ] && [ "$old" != "$HOME_DIR" ] || continue
  flock -n -x "$old/.complete" rm -rf "$old" && log "removed the outdated $old" || true
done
log "ready in $HOME_DIR"
echo "$HOME_DIR"
